package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.util.Optional;

/**
 * A content-addressed blob that makes up one layer of a step's result.
 *
 * @param digest the blob's digest
 * @param size the blob's size in bytes
 * @param mediaType its media type, for example {@code application/vnd.oci.image.layer.v1.tar+gzip}
 * @param uncompressedDigest the digest of the uncompressed layer (the OCI diff ID), when known
 */
public record Layer(Digest digest, long size, String mediaType, Optional<Digest> uncompressedDigest) {

    /** The media type of a gzip-compressed OCI layer. */
    public static final String OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";

    /** Validates the fields. */
    public Layer {
        requireNonNull(digest, "digest");
        requireNonNull(mediaType, "mediaType");
        requireNonNull(uncompressedDigest, "uncompressedDigest");
        if (size < 0) {
            throw new IllegalArgumentException("size must not be negative: " + size);
        }
    }

    /** A layer without an uncompressed digest. */
    public static Layer of(Digest digest, long size, String mediaType) {
        return new Layer(digest, size, mediaType, Optional.empty());
    }
}
