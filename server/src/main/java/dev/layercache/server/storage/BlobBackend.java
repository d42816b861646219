package dev.layercache.server.storage;

import dev.layercache.server.core.Digest;
import dev.layercache.server.metadata.KeyValueStore;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * The narrow, content-addressed byte store under the blob store: where verified blob bytes live.
 * It knows nothing of repositories, uploads or verification; callers hand it only files whose
 * content they have already checked against the digest.
 *
 * <p>Contract (checked by {@code BlobBackendContract} for every implementation):
 * <ul>
 *   <li>{@link #commit} is atomic: a reader sees the whole blob or none of it, also after a crash.
 *       Committing a digest that is already present keeps one copy and succeeds.
 *   <li>Content returned by {@link #open} stays readable even if the blob is deleted meanwhile.
 *   <li>Nothing is left behind: after {@link #delete} and after a commit, no temporary file remains.
 *   <li>A backend that keeps small blobs in the metadata store ({@link #inlineLimit} above 0)
 *       stores them with {@link #commitInline} in the caller's batch, so that the bytes and the
 *       blob's record become durable in one write; every other operation treats them as any blob.
 * </ul>
 */
public interface BlobBackend {

    /** The size in bytes of the stored blob, or -1 when it is absent. */
    long size(Digest digest) throws IOException;

    /** Opens the blob for reading, or returns null when it is absent. The caller closes the content. */
    BlobContent open(Digest digest) throws IOException;

    /**
     * Makes {@code verifiedFile} (already fsynced, on the same file system as the store) the
     * content of {@code digest}, consuming the file. Durable when it returns.
     */
    void commit(Digest digest, Path verifiedFile) throws IOException;

    /** Removes the blob; returns false when it was absent. */
    boolean delete(Digest digest) throws IOException;

    /** Calls {@code action} with every stored digest, in no particular order. */
    void forEach(Consumer<Digest> action) throws IOException;

    /**
     * The largest blob, in bytes, that {@link #commitInline} takes; 0 (the default) when this
     * backend keeps every blob as a file.
     */
    default int inlineLimit() {
        return 0;
    }

    /**
     * Adds {@code length} bytes of {@code bytes}, already verified to hash to {@code digest}, to
     * {@code batch} as the blob's content: stored when the batch commits, with the batch's
     * durability, all or nothing with the batch's other writes (the blob's record). At most
     * {@link #inlineLimit} bytes; the array is copied.
     */
    default void commitInline(KeyValueStore.Batch batch, Digest digest, byte[] bytes, int length) {
        throw new UnsupportedOperationException("this backend keeps no blobs in the metadata store");
    }

    /**
     * Adds the removal of {@code digest}'s inline content, if any, to {@code batch}, so that it
     * goes with the blob's record; a file is still removed by {@link #delete}. Nothing by default.
     */
    default void deleteInline(KeyValueStore.Batch batch, Digest digest) {
    }
}
