package dev.layercache.server.grpc;

import dev.layercache.api.v1.WriteBlobResponse;
import dev.layercache.api.v1.WriteHeader;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metrics.Surface;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.registry.Upload;
import dev.layercache.server.registry.UploadService;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;

/**
 * One WriteBlob stream of {@link BlobsGrpcService}: the messages of one blob, added to an
 * {@link Upload} (the client names it, so that it can resume it after a broken stream). gRPC
 * delivers the messages one at a time, on one thread; the stream asks for {@link #PREFETCH}
 * messages ahead, so that the next one is ready when a message is done instead of being asked
 * for only then. Each message's data is hashed and copied to the
 * file's staging buffer straight from the transport's buffers ({@link WriteChunk}); a slow
 * disk holds {@link #onNext} back, and with it the client, instead of filling memory.
 */
final class WriteBlobStream implements StreamObserver<WriteChunk> {
    /**
     * How often (in bytes) a WriteBlob's progress is recorded in the metadata store, for a resume
     * after the server died: a crash costs the client at most this much sent again. Recording
     * does not wait for the file; it records what the disk already has.
     */
    static final long RECORD_EVERY = 64L << 20;
    /**
     * WriteBlob messages asked for ahead of the one being handled: at most this many (each at
     * most {@link GrpcServer#MAX_INBOUND_MESSAGE}) wait in memory per stream, on top of the
     * flow-control window.
     */
    static final int PREFETCH = 2;

    private final ServerCallStreamObserver<WriteBlobResponse> observer;
    private final BlobService blobs;
    private final UploadService uploads;
    private final GrpcMetrics metrics;
    private RepositoryName ns;
    private Digest digest;
    private long size;
    /** The upload this stream adds to; null before the header, and once the stream is done with it. */
    private Upload upload;
    private long recorded;
    /** The call is answered; ignore the rest of the stream. */
    private boolean finished;

    WriteBlobStream(StreamObserver<WriteBlobResponse> observer, BlobService blobs, UploadService uploads,
                    GrpcMetrics metrics) {
        this.observer = (ServerCallStreamObserver<WriteBlobResponse>) observer;
        this.blobs = blobs;
        this.uploads = uploads;
        this.metrics = metrics;
        this.observer.disableAutoRequest();
        this.observer.request(PREFETCH);
    }

    @Override
    public void onNext(WriteChunk msg) {
        try {
            if (finished) {
                return;
            }
            if (ns == null) {
                begin(msg);
                if (finished) {
                    return;
                }
            }
            if (msg.writeOffset() != upload.size()) {
                throw Status.OUT_OF_RANGE.withDescription("write_offset " + msg.writeOffset()
                        + " but the server holds " + upload.size() + " bytes").asRuntimeException();
            }
            int n = msg.dataSize();
            if (n > 0) {
                if (upload.size() + n > size) {
                    upload.cancel();
                    upload = null;
                    throw new FieldException("data", "data: more bytes than the declared size " + size);
                }
                upload.readFrom(msg.data(), n);
                metrics.received(ns.toString(), n);
                if (upload.size() - recorded >= RECORD_EVERY) {
                    // Now and then, so that a resumed upload loses little after a crash.
                    upload.recordProgress();
                    recorded = upload.size();
                }
            }
            if (msg.finishWrite()) {
                finish();
            }
        } catch (Throwable t) {
            fail(t);
        } finally {
            if (!finished) {
                observer.request(1);
            }
        }
    }

    private void begin(WriteChunk msg) throws IOException {
        Args.check(msg.header() != null, "header", "required in the first message");
        WriteHeader header = msg.header();
        ns = Args.namespace(header.getNamespace());
        digest = Args.digest("header.digest", header.getDigest());
        size = header.getSize();
        Args.check(size >= 0, "header.size", "must not be negative");
        uploads.checkSize(size);
        long stored = blobs.sizeIfLinked(ns, digest);
        if (stored >= 0) {
            metrics.alreadyPresent(ns.toString(), stored);
            finished = true;
            observer.onNext(WriteBlobResponse.newBuilder().setCommittedSize(stored).setAlreadyExisted(true).build());
            observer.onCompleted();
            return;
        }
        try {
            upload = uploads.resumeOrStart(Surface.GRPC, ns, header.getUploadId(), Args.caller(), Args.client());
        } catch (RegistryException e) {
            if (e.code() == ErrorCode.BLOB_UPLOAD_INVALID && uploads.heldBytes(ns, header.getUploadId(), Args.caller()) >= 0) {
                throw Status.ABORTED.withDescription(e.getMessage()).asRuntimeException();
            }
            throw new FieldException("header.upload_id", "header.upload_id: " + e.getMessage());
        }
    }

    private void finish() throws IOException {
        if (upload.size() != size) {
            throw new FieldException("finish_write", "finish_write: the server holds " + upload.size()
                    + " bytes of a declared " + size);
        }
        Upload committing = upload;
        upload = null;
        try (committing) {
            committing.commit(digest);
        } catch (RegistryException e) {
            throw new FieldException("header.digest", "header.digest: " + e.getMessage());
        }
        finished = true;
        observer.onNext(WriteBlobResponse.newBuilder().setCommittedSize(size).build());
        observer.onCompleted();
    }

    private void fail(Throwable t) {
        if (upload != null && ErrorCode.isNoSpace(t)) {
            // A full disk: keeping the received part for a resume would hold on to the very
            // space that is missing. The upload starts over once there is room.
            upload.cancel();
            upload = null;
        }
        keepReceived();
        finished = true;
        observer.onError(GrpcErrors.toStatus(t));
    }

    /** The stream ended early: keep what arrived, so the client can resume with the same upload id. */
    private void keepReceived() {
        if (upload != null) {
            try (Upload kept = upload) {
                kept.acknowledge();
            } catch (IOException e) {
                // The disk refused bytes: closing takes back what is not acknowledged; the
                // client asks QueryWriteStatus where to resume.
            } finally {
                upload = null;
            }
        }
    }

    @Override
    public void onError(Throwable t) {
        keepReceived();
        finished = true;
    }

    @Override
    public void onCompleted() {
        if (finished) {
            return;
        }
        long held = upload == null ? 0 : upload.size();
        keepReceived();
        finished = true;
        observer.onNext(WriteBlobResponse.newBuilder().setCommittedSize(held).build());
        observer.onCompleted();
    }
}
