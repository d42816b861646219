package dev.layercache.server.storage;

import dev.layercache.server.core.Digest;
import dev.layercache.server.metadata.BlobBytesIndex;
import dev.layercache.server.metadata.KeyValueStore;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * The blob bytes of a node alone: blobs up to {@link #LIMIT} in the metadata store, the rest as
 * files ({@link DiskBlobBackend}).
 *
 * <p>Why: a small blob as a file costs three fsyncs (the file before its rename, its shard folder,
 * RocksDB's log for the record) and a new inode, 350-800 µs of kernel time under load, more than
 * everything else about it together. Kept as a value in the batch of its record, it costs a
 * share of one log sync: RocksDB groups the syncs of concurrent writers, so concurrent small
 * commits share one (issue 24, "Small blobs"). The batch is atomic, so a blob's bytes and its
 * record appear together and, when eviction deletes them in one batch ({@link #deleteInline}),
 * go together: inline bytes are never orphans nor lost behind a record, by construction.
 *
 * <p>Reads look in the metadata store first, then for a file: a store written before this
 * existed keeps its small blobs as files, and they stay readable and collectable.
 *
 * <p>For a node alone only: in a cluster every blob goes to the bucket as an object, before it
 * is acknowledged, and this node keeps file copies ({@code TieredBlobBackend}).
 */
public final class InlineBlobBackend implements BlobBackend {
    /**
     * The largest blob kept in the metadata store: the bytes an upload holds on the heap before
     * its file gets them ({@code UploadFile.SMALL}), so that a small blob never touches a file.
     * Larger values would make RocksDB's log and compactions carry layer bytes that sendfile(2)
     * serves better from a file.
     */
    public static final int LIMIT = 64 << 10;

    private final DiskBlobBackend files;
    private final KeyValueStore kv;
    private final BlobBytesIndex inline;

    public InlineBlobBackend(DiskBlobBackend files, KeyValueStore kv) {
        this.files = files;
        this.kv = kv;
        this.inline = new BlobBytesIndex(kv);
    }

    @Override
    public long size(Digest digest) throws IOException {
        long size = inline.size(digest);
        return size >= 0 ? size : files.size(digest);
    }

    @Override
    public BlobContent open(Digest digest) throws IOException {
        byte[] bytes = inline.get(digest);
        return bytes != null ? new BlobContent.Inline(bytes) : files.open(digest);
    }

    @Override
    public void commit(Digest digest, Path verifiedFile) throws IOException {
        files.commit(digest, verifiedFile);
    }

    /** Removes the blob's inline bytes (in a batch of their own: see {@link #deleteInline} to join one) and its file. */
    @Override
    public boolean delete(Digest digest) throws IOException {
        boolean held = inline.size(digest) >= 0;
        if (held) {
            KeyValueStore.Batch batch = kv.batch();
            inline.delete(batch, digest);
            // Not synced, as the record deletions of a collection are not: forgotten bytes come
            // back with their record, never without it (both were in one batch).
            batch.commit(false);
        }
        return files.delete(digest) || held;
    }

    @Override
    public void forEach(Consumer<Digest> action) throws IOException {
        inline.forEach(action);
        files.forEach(action);
    }

    @Override
    public int inlineLimit() {
        return LIMIT;
    }

    @Override
    public void commitInline(KeyValueStore.Batch batch, Digest digest, byte[] bytes, int length) {
        if (length > LIMIT) {
            throw new IllegalArgumentException(length + " bytes is more than the " + LIMIT + " kept inline");
        }
        inline.put(batch, digest, bytes, length);
    }

    @Override
    public void deleteInline(KeyValueStore.Batch batch, Digest digest) {
        inline.delete(batch, digest);
    }
}
