package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.util.Optional;

/**
 * A layer a build step produced, as a local file, to publish with {@link BuildCache}.
 *
 * @param file the layer blob (for example a gzip-compressed tar)
 * @param mediaType its media type
 * @param uncompressedDigest the digest of the uncompressed layer (the OCI diff ID), when known
 */
public record LayerFile(Path file, String mediaType, Optional<Digest> uncompressedDigest) {

    /** Validates the fields. */
    public LayerFile {
        requireNonNull(file, "file");
        requireNonNull(mediaType, "mediaType");
        requireNonNull(uncompressedDigest, "uncompressedDigest");
    }

    /** A gzip-compressed OCI layer ({@link Layer#OCI_LAYER_GZIP}). */
    public static LayerFile of(Path file) {
        return new LayerFile(file, Layer.OCI_LAYER_GZIP, Optional.empty());
    }

    /** A layer of the given media type. */
    public static LayerFile of(Path file, String mediaType) {
        return new LayerFile(file, mediaType, Optional.empty());
    }
}
