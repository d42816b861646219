package dev.layercache.server.tools;

import java.util.SplittableRandom;

/**
 * A build step's layer in the simulated fleet: bytes drawn from the step's key, so the same key
 * always gives the same blob (and a step that hits pushes nothing new).
 *
 * @param key    the step's cache key, 64 hex digits (what buildah tags the step's image with)
 * @param digest the content's {@code sha256:} digest
 */
record Layer(String key, byte[] content, String digest) {
    /** The layer of a step key, between {@code min} and {@code max} bytes long. */
    static Layer of(String key, int min, int max) {
        SplittableRandom r = new SplittableRandom(Long.parseUnsignedLong(key.substring(0, 16), 16));
        byte[] content = new byte[min + r.nextInt(max - min + 1)];
        r.nextBytes(content);
        return new Layer(key, content, FleetDocuments.sha256(content));
    }

    /**
     * A step's key from the key of the step before it ({@code parent}, the repository's name for
     * the first step), its position and the version of its inputs: a change of one step's inputs
     * changes its key and every later one's, as in buildah and BuildKit.
     */
    static String stepKey(String parent, int step, long version) {
        return FleetDocuments.sha256(FleetDocuments.utf8(parent + "\n" + step + "\n" + version))
                .substring("sha256:".length());
    }
}
