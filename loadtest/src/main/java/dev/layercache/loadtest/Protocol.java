package dev.layercache.loadtest;

import java.util.Locale;

/** How the simulated builders talk to the cache. */
enum Protocol {
    /** layercache's native API through the Java client library: one entry per step key. */
    GRPC("grpc"),
    /** The OCI Distribution API the way {@code buildah --layers --cache-to} uses it: one tag per step key. */
    OCI_BUILDAH("oci-buildah"),
    /** The OCI Distribution API the way BuildKit's registry cache exporter uses it: one cache manifest per ref. */
    OCI_BUILDKIT("oci-buildkit");

    private final String cliName;

    Protocol(String cliName) {
        this.cliName = cliName;
    }

    /** The name on the command line, also a component of the run's namespaces. */
    String cliName() {
        return cliName;
    }

    /** Whether the protocol is the OCI Distribution API (so {@code --registry} is its endpoint). */
    boolean isOci() {
        return this != GRPC;
    }

    static Protocol parse(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        for (Protocol p : values()) {
            if (p.cliName.equals(t)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown protocol \"" + text + "\" (grpc, oci-buildah, oci-buildkit)");
    }
}
