package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One blob to upload: its digest, size and where to read it.
 *
 * @param digest the digest the bytes must hash to
 * @param size the size in bytes
 * @param source the bytes
 */
public record BlobUpload(Digest digest, long size, BlobSource source) {

    /** Validates the fields. */
    public BlobUpload {
        requireNonNull(digest, "digest");
        requireNonNull(source, "source");
        if (size < 0) {
            throw new IllegalArgumentException("size must not be negative: " + size);
        }
    }

    /** A file, hashed now (SHA-256) to know its digest. */
    public static BlobUpload ofFile(Path file) throws IOException {
        requireNonNull(file, "file");
        return new BlobUpload(Digest.sha256(file), Files.size(file), BlobSource.ofFile(file));
    }

    /** A file whose digest is already known (for example from a manifest). */
    public static BlobUpload ofFile(Path file, Digest digest) throws IOException {
        requireNonNull(file, "file");
        return new BlobUpload(digest, Files.size(file), BlobSource.ofFile(file));
    }
}
