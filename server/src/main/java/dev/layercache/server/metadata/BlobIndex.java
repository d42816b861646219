package dev.layercache.server.metadata;

import dev.layercache.server.core.Digest;
import java.nio.ByteBuffer;
import java.util.function.BiConsumer;

/** BLOBS: which verified blobs exist, with their size and when they were first stored. */
public final class BlobIndex {
    /** What is recorded of a blob: its size, and when it was stored (epoch millis). */
    public record Record(long size, long createdAtMillis) {
    }

    private final KeyValueStore kv;

    public BlobIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    /** The size of a recorded blob, or -1. */
    public long size(Digest digest) {
        byte[] v = kv.get(Table.BLOBS, key(digest));
        return v == null ? -1 : ByteBuffer.wrap(v).getLong(0);
    }

    /** The record of {@code digest}, or null. */
    public Record get(Digest digest) {
        byte[] v = kv.get(Table.BLOBS, key(digest));
        return v == null ? null : decode(v);
    }

    public void put(KeyValueStore.Batch batch, Digest digest, long size, long createdAtMillis) {
        batch.put(Table.BLOBS, key(digest), ByteBuffer.allocate(16).putLong(size).putLong(createdAtMillis).array());
    }

    public void delete(KeyValueStore.Batch batch, Digest digest) {
        batch.delete(Table.BLOBS, key(digest));
    }

    /**
     * Every recorded blob, in digest order, read page by page. A key that is not a digest (this
     * version never writes one) is skipped.
     */
    public void forEach(BiConsumer<Digest, Record> action) {
        kv.forEach(Table.BLOBS, e -> {
            String text = Keys.string(e.key());
            if (Digest.isValid(text)) {
                action.accept(Digest.parse(text), decode(e.value()));
            }
        });
    }

    private static byte[] key(Digest digest) {
        return Keys.utf8(digest.toString());
    }

    private static Record decode(byte[] v) {
        ByteBuffer b = ByteBuffer.wrap(v);
        return new Record(b.getLong(0), b.getLong(8));
    }
}
