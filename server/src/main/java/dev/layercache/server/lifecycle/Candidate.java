package dev.layercache.server.lifecycle;

import dev.layercache.server.core.Root;

/**
 * A root as eviction sees it: when it was last used (epoch millis), the blobs it holds (digest
 * prefixes, see {@link Collector#prefix}) with their sizes and what evicting it could free of each
 * (nothing of a blob a client was told exists within the asked grace: collection keeps it), and
 * whether it is a referrer whose subject is still stored (signatures and SBOMs live as long as
 * their image). The arrays run in parallel; a candidate read without its blobs has none.
 */
record Candidate(Root root, long lastUse, long[] blobs, long[] sizes, long[] freeable,
                 boolean referrerOfStoredSubject) {

    /** The bytes of the blobs it holds, shared or not. */
    long bytes() {
        long total = 0;
        for (long size : sizes) {
            total += size;
        }
        return total;
    }
}
