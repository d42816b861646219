package dev.layercache.server.http;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.registry.AnswerCache;
import dev.layercache.server.registry.BlobService;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;

/** {@code /v2/<name>/blobs/<digest>}: HEAD, GET (with a single Range), DELETE. */
final class BlobHandler {
    private final BlobService blobs;
    private final MirrorGate mirrors;
    /** Filled with each blob size told (see {@link FastPath}); null: none. */
    private final AnswerCache answers;

    BlobHandler(BlobService blobs, MirrorGate mirrors, AnswerCache answers) {
        this.blobs = blobs;
        this.mirrors = mirrors;
        this.answers = answers;
    }

    Response head(Request request) {
        Digest digest = Digest.parse(request.route().param());
        long stamp = answers == null ? 0 : answers.blobStamp(digest.toString()); // before the store is read
        MirrorGate.Resolved from = mirrors.blob(request, digest);
        long size = blobs.stat(from.repository(), digest);
        if (answers != null && from.warning() == null && from.repository().equals(request.repository())) {
            // Keyed by the digest as the store writes it, whose writes void the answer.
            answers.put(new AnswerCache.BlobKey(from.repository().toString(), digest.toString()), size, stamp, 0);
        }
        return warned(headAnswer(digest, size), from);
    }

    /** The answer to a HEAD of a blob of {@code size} bytes: the same whether its size came from the store or memory. */
    static Response headAnswer(Digest digest, long size) {
        return describe(Response.status(HttpResponseStatus.OK), digest).header(HttpHeaderNames.CONTENT_LENGTH, size);
    }

    Response get(Request request) throws Exception {
        Digest digest = Digest.parse(request.route().param());
        String rangeAsked = request.header(HttpHeaderNames.RANGE);
        MirrorGate.Resolved from = rangeAsked == null ? mirrors.blobToRead(request, digest)
                : mirrors.blob(request, digest);
        if (from.live() != null) {
            // Still arriving from the upstream: sent on as it comes (its last byte once verified).
            return warned(describe(Response.live(HttpResponseStatus.OK, from.live()), digest), from);
        }
        BlobService.OpenBlob blob = blobs.open(from.repository(), digest);
        try {
            ByteRange range = ByteRange.parse(rangeAsked, blob.size());
            if (range == null) {
                return warned(describe(Response.content(HttpResponseStatus.OK, blob.content(), 0, blob.size()), digest),
                        from);
            }
            return warned(describe(Response.content(HttpResponseStatus.PARTIAL_CONTENT, blob.content(), range.first(),
                    range.length()), digest), from)
                    .header(HttpHeaderNames.CONTENT_RANGE,
                            "bytes " + range.first() + "-" + range.last() + "/" + blob.size());
        } catch (RuntimeException e) {
            blob.content().close();
            throw e;
        }
    }

    Response delete(Request request) {
        RepositoryName repo = request.repository();
        Digest digest = Digest.parse(request.route().param());
        blobs.delete(repo, digest);
        return Response.status(HttpResponseStatus.ACCEPTED).header(Headers.CONTENT_DIGEST, digest);
    }

    private static Response warned(Response r, MirrorGate.Resolved from) {
        return from.warning() == null ? r : r.addHeader(HttpHeaderNames.WARNING, ManifestHandler.warning(from.warning()));
    }

    private static Response describe(Response r, Digest digest) {
        return r.header(HttpHeaderNames.CONTENT_TYPE, "application/octet-stream")
                .header(Headers.CONTENT_DIGEST, digest)
                .header(HttpHeaderNames.ETAG, "\"" + digest + "\"")
                .header(HttpHeaderNames.ACCEPT_RANGES, "bytes")
                .header(HttpHeaderNames.CACHE_CONTROL, "max-age=31536000");
    }
}
