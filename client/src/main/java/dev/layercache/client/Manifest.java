package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.util.Arrays;

/**
 * An OCI (or Docker) manifest as stored: its digest, media type and exact bytes. Manifests
 * stored through gRPC are served by the OCI Distribution API and the other way round.
 */
public final class Manifest {
    private final Digest digest;
    private final String mediaType;
    private final byte[] content;

    /** A manifest; {@code content} is copied. */
    public Manifest(Digest digest, String mediaType, byte[] content) {
        this.digest = requireNonNull(digest, "digest");
        this.mediaType = requireNonNull(mediaType, "mediaType");
        this.content = requireNonNull(content, "content").clone();
    }

    /** The digest of {@link #content()}. */
    public Digest digest() {
        return digest;
    }

    /** For example {@code application/vnd.oci.image.manifest.v1+json}. */
    public String mediaType() {
        return mediaType;
    }

    /** A copy of the manifest's bytes. */
    public byte[] content() {
        return content.clone();
    }

    /** The size in bytes. */
    public int size() {
        return content.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Manifest m && m.digest.equals(digest) && m.mediaType.equals(mediaType)
                && Arrays.equals(m.content, content);
    }

    @Override
    public int hashCode() {
        return digest.hashCode();
    }

    @Override
    public String toString() {
        return "Manifest[" + digest + ", " + mediaType + ", " + content.length + " bytes]";
    }
}
