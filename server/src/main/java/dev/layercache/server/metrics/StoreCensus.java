package dev.layercache.server.metrics;

import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.metadata.EntryIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.ManifestIndex;
import dev.layercache.server.metadata.TagIndex;

/**
 * Counts what the store holds (blob bytes and count, roots by kind) by scanning the metadata
 * tables. Runs now and then off the request path; the gauges and the stats API show the last
 * count, which is cheaper than keeping exact running totals consistent through crashes.
 */
public final class StoreCensus {
    /** One count of the store. */
    public record Totals(long bytes, long blobs, long tags, long manifests, long entries) {
        static final Totals NONE = new Totals(0, 0, 0, 0, 0);
    }

    private final BlobIndex blobIndex;
    private final TagIndex tags;
    private final ManifestIndex manifests;
    private final EntryIndex entries;

    public StoreCensus(KeyValueStore kv) {
        this.blobIndex = new BlobIndex(kv);
        this.tags = new TagIndex(kv);
        this.manifests = new ManifestIndex(kv);
        this.entries = new EntryIndex(kv);
    }

    public Totals count() {
        long[] blobs = new long[2];
        blobIndex.forEach((digest, record) -> {
            blobs[0] += record.size();
            blobs[1]++;
        });
        return new Totals(blobs[0], blobs[1], tags.count(), manifests.count(), entries.count());
    }
}
