package dev.layercache.server.http;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metrics.Surface;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.registry.Upload;
import dev.layercache.server.registry.UploadHandOver;
import dev.layercache.server.registry.UploadService;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.nio.ByteBuffer;

/**
 * {@code /v2/<name>/blobs/uploads/[<id>]}: every way clients upload. POST starts a session, mounts
 * ({@code ?mount=&from=}) or uploads monolithically ({@code ?digest=} with the body); PATCH
 * appends a chunk (with or without {@code Content-Range}); PUT ends with {@code ?digest=},
 * optionally carrying the last (or only) bytes; GET reports progress; DELETE cancels.
 */
final class UploadHandler {
    private final UploadService uploads;
    private final BlobService blobs;
    private final dev.layercache.server.auth.AccessControl access;

    UploadHandler(UploadService uploads, BlobService blobs, dev.layercache.server.auth.AccessControl access) {
        this.access = access;
        this.uploads = uploads;
        this.blobs = blobs;
    }

    /** POST: mount, monolithic upload, or a new session. */
    StreamingEndpoint.BodyStream post(Request request) throws Exception {
        RepositoryName repo = request.repository();
        String mount = request.param("mount");
        if (mount != null) {
            Digest digest = Digest.parse(mount);
            String from = request.param("from");
            RepositoryName source = from == null || from.isEmpty() ? null : RepositoryName.parse(from);
            // A mount needs read on its source (write on the target was checked for the route).
            // Without a source it would search every repository: only without access control.
            boolean mayMount = source == null ? !access.enabled()
                    : access.allows(request.identity(), dev.layercache.server.auth.Action.READ, source.toString());
            if (mayMount && blobs.mount(repo, digest, source)) {
                request.mounted(blobs.stat(repo, digest)); // bytes the client need not send: RequestMetrics counts them
                return noBody(created(repo, digest));
            }
            // Not visible to mount: the spec says fall back to an ordinary upload session.
        }
        String digestParam = request.param("digest");
        Digest digest = digestParam == null ? null : Digest.parse(digestParam);
        String declared = request.header(HttpHeaderNames.CONTENT_LENGTH);
        if (declared != null && declared.matches("\\d{1,18}")) {
            uploads.checkSize(Long.parseLong(declared)); // refuse before a byte is stored
        }
        Upload upload = uploads.start(Surface.OCI, repo, request.identity().name(), request.client(), digest == null);
        if (digest == null) {
            return new Chunk(upload, null, null) {
                @Override
                public void write(ByteBuf chunk) {
                    throw new RegistryException(ErrorCode.BLOB_UPLOAD_INVALID,
                            "POST without ?digest= starts an upload and takes no body");
                }

                @Override
                Response done() throws Exception {
                    upload.acknowledge(); // tells the client the id: the session now lives on
                    return progress(HttpResponseStatus.ACCEPTED, upload);
                }
            };
        }
        return new Chunk(upload, null, declared) {
            @Override
            Response done() throws Exception {
                upload.commit(digest);
                return created(repo, digest);
            }
        };
    }

    /** PATCH: one chunk, in order. */
    StreamingEndpoint.BodyStream patch(Request request) throws Exception {
        ContentRange range = ContentRange.parse(request.header(HttpHeaderNames.CONTENT_RANGE));
        Upload upload = resumeForChunk(request, range);
        return new Chunk(upload, range, request.header(HttpHeaderNames.CONTENT_LENGTH)) {
            @Override
            Response done() throws Exception {
                upload.acknowledge();
                return progress(HttpResponseStatus.ACCEPTED, upload);
            }
        };
    }

    /** PUT ?digest=: completes the upload, with or without a last chunk in the body. */
    StreamingEndpoint.BodyStream put(Request request) throws Exception {
        RepositoryName repo = request.repository();
        String digestParam = request.param("digest");
        if (digestParam == null) {
            throw new RegistryException(ErrorCode.DIGEST_INVALID, "completing an upload needs ?digest=");
        }
        Digest digest = Digest.parse(digestParam);
        ContentRange range = ContentRange.parse(request.header(HttpHeaderNames.CONTENT_RANGE));
        Upload upload = resumeForChunk(request, range);
        return new Chunk(upload, range, request.header(HttpHeaderNames.CONTENT_LENGTH)) {
            @Override
            Response done() throws Exception {
                upload.commit(digest);
                return created(repo, digest);
            }
        };
    }

    /** Takes the request's upload and checks that the chunk continues where the upload stands. */
    private Upload resumeForChunk(Request request, ContentRange range) throws Exception {
        Upload upload = uploads.resume(Surface.OCI, request.repository(), request.route().param(),
                request.identity().name());
        if (range != null && range.first() != upload.size()) {
            upload.close();
            throw new RegistryException(ErrorCode.RANGE_INVALID,
                    "chunk starts at " + range.first() + " but the upload stands at " + upload.size(), upload.size());
        }
        return upload;
    }

    /** GET: where the upload stands, so a client can resume. */
    Response status(Request request) throws Exception {
        try (Upload upload = uploads.resume(Surface.OCI, request.repository(), request.route().param(),
                request.identity().name())) {
            return progress(HttpResponseStatus.NO_CONTENT, upload);
        }
    }

    Response cancel(Request request) throws Exception {
        try (Upload upload = uploads.resume(Surface.OCI, request.repository(), request.route().param(),
                request.identity().name())) {
            upload.cancel();
        }
        return Response.status(HttpResponseStatus.NO_CONTENT);
    }

    /**
     * GET {@code /internal/v1/uploads/<id>}: another node of the cluster takes this session over
     * (see {@code ClusterUploads}). The body is the acknowledged bytes; the headers, the record.
     */
    Response handOver(Request request) throws Exception {
        UploadHandOver.HandedOver handed = uploads.handOver(request.route().param());
        if (handed == null) {
            throw new RegistryException(ErrorCode.BLOB_UPLOAD_UNKNOWN, "no such upload on this node");
        }
        return Response.file(HttpResponseStatus.OK, handed.bytes(), 0, handed.record().offset())
                .header(HttpHeaderNames.CONTENT_TYPE, "application/octet-stream")
                .header(dev.layercache.server.cluster.ClusterUploads.REPOSITORY, handed.record().repository())
                .header(dev.layercache.server.cluster.ClusterUploads.OFFSET, handed.record().offset())
                .header(dev.layercache.server.cluster.ClusterUploads.STARTED_AT, handed.record().startedAtMillis())
                .header(dev.layercache.server.cluster.ClusterUploads.OWNER, handed.record().owner());
    }

    private static Response created(RepositoryName repo, Digest digest) {
        return Response.status(HttpResponseStatus.CREATED)
                .header(HttpHeaderNames.LOCATION, "/v2/" + repo + "/blobs/" + digest)
                .header(Headers.CONTENT_DIGEST, digest);
    }

    private static Response progress(HttpResponseStatus status, Upload upload) {
        return Response.status(status)
                .header(HttpHeaderNames.LOCATION, "/v2/" + upload.repository() + "/blobs/uploads/" + upload.id())
                .header(HttpHeaderNames.RANGE, "0-" + Math.max(0, upload.size() - 1))
                .header(Headers.UPLOAD_UUID, upload.id());
    }

    private static StreamingEndpoint.BodyStream noBody(Response response) {
        return new StreamingEndpoint.BodyStream() {
            @Override
            public void write(ByteBuf chunk) {
                throw new RegistryException(ErrorCode.BLOB_UPLOAD_INVALID, "a mount takes no body");
            }

            @Override
            public Response finish() {
                return response;
            }

            @Override
            public void abort() {
            }
        };
    }

    /**
     * The body of a request that adds bytes to an upload. Checks the declared range against what
     * arrived, and closes the upload at the end: what this request added is kept only if
     * {@link #done} acknowledged or committed it.
     */
    private abstract class Chunk implements StreamingEndpoint.BodyStream {
        final Upload upload;
        private final ContentRange range;
        /** Where the upload stood before this request: where a client must resume if it fails. */
        private final long acknowledged;
        private long received;

        /** {@code contentLength}: the request's Content-Length header, or null. */
        Chunk(Upload upload, ContentRange range, String contentLength) {
            this.upload = upload;
            this.range = range;
            this.acknowledged = upload.size();
            // Where the body will end, if the request says: the upload's file then ends its last
            // write early, so that the answer waits less for the disk (see Upload#expect).
            if (range != null) {
                upload.expect(range.length());
            } else if (contentLength != null && contentLength.matches("\\d{1,18}")) {
                upload.expect(Long.parseLong(contentLength));
            }
        }

        @Override
        public void write(ByteBuf chunk) throws Exception {
            received += chunk.readableBytes();
            if (range != null && received > range.length()) {
                throw new RegistryException(ErrorCode.RANGE_INVALID,
                        "body is longer than its Content-Range " + range, acknowledged);
            }
            // The bytes are hashed and copied on their way to the file before write returns.
            for (ByteBuffer b : chunk.nioBufferCount() == 1 ? new ByteBuffer[] {chunk.nioBuffer()}
                    : chunk.nioBuffers()) {
                upload.write(b);
            }
        }

        abstract Response done() throws Exception;

        @Override
        public Response finish() throws Exception {
            try (upload) {
                if (range != null && received != range.length()) {
                    throw new RegistryException(ErrorCode.RANGE_INVALID,
                            "body has " + received + " bytes but Content-Range " + range + " says " + range.length(),
                            acknowledged);
                }
                return done();
            }
        }

        @Override
        public void abort() {
            upload.close();
        }
    }
}
