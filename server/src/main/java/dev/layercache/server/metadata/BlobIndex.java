package dev.layercache.server.metadata;

import dev.layercache.server.core.Digest;
import java.nio.ByteBuffer;

/** BLOBS: which verified blobs exist, with their size and when they were first stored. */
public final class BlobIndex {
    private final KeyValueStore kv;

    public BlobIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    /** The size of a recorded blob, or -1. */
    public long size(Digest digest) {
        byte[] v = kv.get(Table.BLOBS, Keys.utf8(digest.toString()));
        return v == null ? -1 : ByteBuffer.wrap(v).getLong(0);
    }

    public void put(KeyValueStore.Batch batch, Digest digest, long size, long createdAtMillis) {
        batch.put(Table.BLOBS, Keys.utf8(digest.toString()),
                ByteBuffer.allocate(16).putLong(size).putLong(createdAtMillis).array());
    }

    public void delete(KeyValueStore.Batch batch, Digest digest) {
        batch.delete(Table.BLOBS, Keys.utf8(digest.toString()));
    }
}
