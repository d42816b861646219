package dev.layercache.server.storage;

import dev.layercache.server.core.Digest;
import java.io.IOException;
import java.nio.channels.FileChannel;
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
 *   <li>A channel returned by {@link #open} stays readable even if the blob is deleted meanwhile.
 *   <li>Nothing is left behind: after {@link #delete} and after a commit, no temporary file remains.
 * </ul>
 */
public interface BlobBackend {

    /** The size in bytes of the stored blob, or -1 when it is absent. */
    long size(Digest digest) throws IOException;

    /** Opens the blob for reading, or returns null when it is absent. The caller closes the channel. */
    FileChannel open(Digest digest) throws IOException;

    /**
     * Makes {@code verifiedFile} (already fsynced, on the same file system as the store) the
     * content of {@code digest}, consuming the file. Durable when it returns.
     */
    void commit(Digest digest, Path verifiedFile) throws IOException;

    /** Removes the blob; returns false when it was absent. */
    boolean delete(Digest digest) throws IOException;

    /** Calls {@code action} with every stored digest, in no particular order. */
    void forEach(Consumer<Digest> action) throws IOException;
}
