package dev.layercache.server.metrics;

/**
 * Which API a request came through: the {@code surface} label. {@link #MIRROR} is the pull-through
 * mirror's lookups (docs/mirror.md): requests that come in over OCI, counted apart because their
 * misses are the upstream's business, not the build cache's (docs/metrics.md, "What counts as a
 * lookup"). It has lookups and served bytes only: no uploads, existence checks or saved bytes.
 */
public enum Surface {
    OCI("oci"),
    GRPC("grpc"),
    MIRROR("mirror");

    private final String label;

    Surface(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }
}
