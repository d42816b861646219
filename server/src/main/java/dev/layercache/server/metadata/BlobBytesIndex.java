package dev.layercache.server.metadata;

import dev.layercache.server.core.Digest;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * BLOB_BYTES: the bytes of the small blobs a node alone keeps in its metadata store rather than
 * as files (see {@code InlineBlobBackend}). Written in the same batch as the blob's BLOBS record,
 * so that a blob's record and its bytes appear, and go, together.
 */
public final class BlobBytesIndex {
    private final KeyValueStore kv;

    public BlobBytesIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    /** The bytes of {@code digest}, or null when they are not kept here. */
    public byte[] get(Digest digest) {
        return kv.get(Table.BLOB_BYTES, key(digest));
    }

    /** How many bytes {@code digest} has here, or -1 when they are not kept here. */
    public long size(Digest digest) {
        return kv.valueLength(Table.BLOB_BYTES, key(digest));
    }

    public void put(KeyValueStore.Batch batch, Digest digest, byte[] bytes, int length) {
        batch.put(Table.BLOB_BYTES, key(digest), length == bytes.length ? bytes : Arrays.copyOf(bytes, length));
    }

    public void delete(KeyValueStore.Batch batch, Digest digest) {
        batch.delete(Table.BLOB_BYTES, key(digest));
    }

    /** Every digest kept here, page by page, keys only. A key that is not a digest is skipped. */
    public void forEach(Consumer<Digest> action) {
        final int page = 4096;
        byte[] after = null;
        while (true) {
            java.util.List<byte[]> keys = kv.scanKeys(Table.BLOB_BYTES, new byte[0], after, page);
            for (byte[] k : keys) {
                String text = Keys.string(k);
                if (Digest.isValid(text)) {
                    action.accept(Digest.parse(text));
                }
            }
            if (keys.size() < page) {
                return;
            }
            after = keys.get(keys.size() - 1);
        }
    }

    private static byte[] key(Digest digest) {
        return Keys.utf8(digest.toString());
    }
}
