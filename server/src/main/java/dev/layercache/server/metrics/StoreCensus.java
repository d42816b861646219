package dev.layercache.server.metrics;

import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Table;
import java.nio.ByteBuffer;
import java.util.List;

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

    private static final int PAGE = 4096;

    private final KeyValueStore kv;

    public StoreCensus(KeyValueStore kv) {
        this.kv = kv;
    }

    public Totals count() {
        long bytes = 0;
        long blobs = 0;
        byte[] after = null;
        while (true) {
            List<KeyValueStore.Entry> page = kv.scan(Table.BLOBS, new byte[0], after, PAGE);
            for (KeyValueStore.Entry e : page) {
                bytes += ByteBuffer.wrap(e.value()).getLong(0);
                blobs++;
            }
            if (page.size() < PAGE) {
                break;
            }
            after = page.get(page.size() - 1).key();
        }
        return new Totals(bytes, blobs, keys(Table.TAGS), keys(Table.MANIFESTS), keys(Table.ENTRIES));
    }

    private long keys(Table table) {
        long n = 0;
        byte[] after = null;
        while (true) {
            List<KeyValueStore.Entry> page = kv.scan(table, new byte[0], after, PAGE);
            n += page.size();
            if (page.size() < PAGE) {
                return n;
            }
            after = page.get(page.size() - 1).key();
        }
    }
}
