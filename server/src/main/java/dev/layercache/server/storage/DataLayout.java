package dev.layercache.server.storage;

import dev.layercache.server.core.Digest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The whole on-disk layout of a node, drawn in one place:
 *
 * <pre>
 *   data-dir/
 *     layercache.pid                 the id of the process that holds the directory, under an OS lock (node.DataDirLock)
 *     metadata/                      RocksDB: blob records, links, manifests, tags, referrers, uploads
 *     blobs/sha256/ab/abcdef...      verified blob content, named by digest (sha512/ likewise)
 *     uploads/&lt;upload-id&gt;            bytes of an upload in progress; renamed into blobs/ when verified
 *     quarantine/&lt;algorithm&gt;-&lt;hex&gt;     blob files whose bytes no longer match their digest (kept for a look)
 * </pre>
 *
 * {@code uploads/} and {@code blobs/} share one file system, so committing a verified upload is a
 * rename, never a copy.
 */
public final class DataLayout {
    private final Path root;

    public DataLayout(Path root) {
        this.root = root.toAbsolutePath().normalize();
    }

    /** Creates the folders that do not exist yet. */
    public DataLayout create() throws IOException {
        Files.createDirectories(metadata());
        Files.createDirectories(blobs());
        Files.createDirectories(uploads());
        Files.createDirectories(quarantine());
        return this;
    }

    public Path root() {
        return root;
    }

    /** The file whose lock claims the directory for one process (see {@code node.DataDirLock}). */
    public Path pidFile() {
        return root.resolve("layercache.pid");
    }

    public Path metadata() {
        return root.resolve("metadata");
    }

    public Path blobs() {
        return root.resolve("blobs");
    }

    public Path quarantine() {
        return root.resolve("quarantine");
    }

    public Path uploads() {
        return root.resolve("uploads");
    }

    public Path blob(Digest digest) {
        String hex = digest.hex();
        return blobs().resolve(digest.algorithm().prefix()).resolve(hex.substring(0, 2)).resolve(hex);
    }

    public Path upload(String uploadId) {
        return uploads().resolve(uploadId);
    }
}
