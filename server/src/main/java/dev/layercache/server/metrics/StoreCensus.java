package dev.layercache.server.metrics;

import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Table;
import java.nio.ByteBuffer;

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

    private final KeyValueStore kv;

    public StoreCensus(KeyValueStore kv) {
        this.kv = kv;
    }

    public Totals count() {
        long[] blobs = new long[2];
        kv.forEach(Table.BLOBS, e -> {
            blobs[0] += ByteBuffer.wrap(e.value()).getLong(0);
            blobs[1]++;
        });
        return new Totals(blobs[0], blobs[1], keys(Table.TAGS), keys(Table.MANIFESTS), keys(Table.ENTRIES));
    }

    private long keys(Table table) {
        long[] n = new long[1];
        kv.forEach(table, e -> n[0]++);
        return n[0];
    }
}
