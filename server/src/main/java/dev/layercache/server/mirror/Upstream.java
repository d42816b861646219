package dev.layercache.server.mirror;

import dev.layercache.server.core.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;

/**
 * What the mirror asks of an upstream registry: {@link UpstreamClient} over HTTP, and whatever a
 * test puts in its place. Every failure is an {@link UpstreamException} saying what kind.
 */
public interface Upstream {
    /** The registry's name as clients write it ({@code docker.io}). */
    String name();

    /** How long a tag read from it is trusted before it is asked again. */
    default java.time.Duration revalidate() {
        return UpstreamSettings.DEFAULT_REVALIDATE;
    }

    /** HEAD of a manifest: what the reference names now. */
    Head head(String repository, String reference, List<String> accept) throws UpstreamException;

    /** GET of a manifest, at most {@code maxBytes}; by digest, its content checked against it. */
    Fetched get(String repository, String reference, List<String> accept, int maxBytes) throws UpstreamException;

    /**
     * HEAD of a blob: its size, when the upstream has it in {@code repository} (NOT_FOUND otherwise).
     * What lets the mirror link a blob it already holds without fetching its bytes again.
     */
    long blobSize(String repository, Digest digest) throws UpstreamException;

    /** GET of a blob: a stream the caller hashes and closes. */
    Body blob(String repository, Digest digest) throws UpstreamException;

    /** What a HEAD of a manifest says. */
    record Head(Digest digest, String mediaType, long size) {
    }

    /** A manifest as the upstream sent it. */
    record Fetched(Digest digest, String mediaType, byte[] content) {
    }

    /** A blob's body: its stream, and its length as declared or -1. */
    record Body(InputStream stream, long length) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            stream.close();
        }
    }
}
