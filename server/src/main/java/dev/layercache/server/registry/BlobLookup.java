package dev.layercache.server.registry;

import dev.layercache.server.core.LookupOutcome;

/**
 * One lookup of a blob through a repository: a hit with the blob's {@code size}, or a miss
 * ({@code size} -1). Blobs have no capacity miss: nothing remembers a collected blob.
 */
public record BlobLookup(LookupOutcome outcome, long size) {
    static final BlobLookup MISS = new BlobLookup(LookupOutcome.MISS, -1);

    static BlobLookup hit(long size) {
        return new BlobLookup(LookupOutcome.HIT, size);
    }
}
