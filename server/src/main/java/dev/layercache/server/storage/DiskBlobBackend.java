package dev.layercache.server.storage;

import dev.layercache.server.core.Digest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.function.Consumer;

/** {@link BlobBackend} on a local file system, in the {@code blobs/} folder of a {@link DataLayout}. */
public final class DiskBlobBackend implements BlobBackend {
    private final DataLayout layout;

    public DiskBlobBackend(DataLayout layout) {
        this.layout = layout;
    }

    @Override
    public long size(Digest digest) throws IOException {
        try {
            return Files.size(layout.blob(digest));
        } catch (NoSuchFileException e) {
            return -1;
        }
    }

    @Override
    public BlobContent open(Digest digest) throws IOException {
        try {
            return new BlobContent.File(FileChannel.open(layout.blob(digest), StandardOpenOption.READ));
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    @Override
    public void commit(Digest digest, Path verifiedFile) throws IOException {
        Path target = layout.blob(digest);
        if (Files.exists(target)) {
            // Same digest, same bytes: keep the copy we have (and any reader of it) undisturbed.
            Files.deleteIfExists(verifiedFile);
            return;
        }
        Path dir = target.getParent();
        try {
            move(verifiedFile, target);
        } catch (NoSuchFileException e) {
            if (!Files.exists(verifiedFile)) {
                throw e;
            }
            // The first blob of its shard (the folder is made here, not on every commit: trying
            // to make an existing folder costs an exception each time). The new folder's own
            // entry must be durable too, or a crash could take the blob with it.
            Files.createDirectories(dir);
            fsyncDirectory(dir.getParent());
            fsyncDirectory(dir.getParent().getParent()); // the algorithm's folder may be new too
            move(verifiedFile, target);
        }
        fsyncDirectory(dir);
    }

    /** rename(2) is atomic: readers see no file or the whole verified file, also after a crash. */
    private static void move(Path verifiedFile, Path target) throws IOException {
        try {
            Files.move(verifiedFile, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("uploads/ and blobs/ must be on one file system", e);
        }
    }

    @Override
    public boolean delete(Digest digest) throws IOException {
        // No fsync of the folder: a deletion the machine forgets brings back a file whose record
        // is gone, which the start-up check adopts (it verifies) and collection removes again.
        // Fsyncing made a collection of 200,000 blobs take minutes.
        return Files.deleteIfExists(layout.blob(digest));
    }

    @Override
    public void forEach(Consumer<Digest> action) throws IOException {
        for (Digest.Algorithm algorithm : Digest.Algorithm.values()) {
            Path algDir = layout.blobs().resolve(algorithm.prefix());
            if (!Files.isDirectory(algDir)) {
                continue;
            }
            try (DirectoryStream<Path> shards = Files.newDirectoryStream(algDir)) {
                for (Path shard : shards) {
                    try (DirectoryStream<Path> files = Files.newDirectoryStream(shard)) {
                        for (Path f : files) {
                            String text = algorithm.prefix() + ":" + f.getFileName();
                            if (Digest.isValid(text)) {
                                action.accept(Digest.parse(text));
                            }
                        }
                    }
                }
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        }
    }

    /** Makes a rename or unlink in {@code dir} durable: the directory entry is data too. */
    static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }
}
