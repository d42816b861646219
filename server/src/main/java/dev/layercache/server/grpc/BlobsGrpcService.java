package dev.layercache.server.grpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.layercache.api.v1.BatchReadBlobsRequest;
import dev.layercache.api.v1.BatchReadBlobsResponse;
import dev.layercache.api.v1.BatchUpdateBlobsRequest;
import dev.layercache.api.v1.BatchUpdateBlobsResponse;
import dev.layercache.api.v1.BlobData;
import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.FindMissingBlobsRequest;
import dev.layercache.api.v1.FindMissingBlobsResponse;
import dev.layercache.api.v1.QueryWriteStatusRequest;
import dev.layercache.api.v1.QueryWriteStatusResponse;
import dev.layercache.api.v1.ReadBlobRequest;
import dev.layercache.api.v1.ReadBlobResponse;
import dev.layercache.api.v1.StatBlobRequest;
import dev.layercache.api.v1.StatBlobResponse;
import dev.layercache.api.v1.WriteBlobResponse;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.metrics.SavedReason;
import dev.layercache.server.metrics.Surface;
import dev.layercache.server.metrics.UploadOutcome;
import dev.layercache.server.registry.BlobLookup;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.registry.UploadService;
import dev.layercache.server.registry.UploadSession;
import dev.layercache.api.v1.WriteHeader;
import io.grpc.BindableService;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code layercache.v1.Blobs}: the same blobs as the OCI API, by namespace (= repository).
 * Downloads follow the client's flow control (a chunk is read from disk only when the transport
 * can take it); uploads go through the same verified, resumable upload sessions as OCI uploads.
 */
final class BlobsGrpcService extends BlobsGrpc.BlobsImplBase {
    /** Bytes per ReadBlob message: big enough to amortise framing and copies, small next to the limits. */
    static final int CHUNK = 1 << 20;
    /** Data per batch call. */
    static final int MAX_BATCH_BYTES = 4 << 20;
    static final int MAX_DIGESTS = 10_000;
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

    private final BlobService blobs;
    private final UploadService uploads;
    private final CacheMetrics metrics;
    /** Where lookups are counted; bytes and uploads still go to {@link #metrics} directly. */
    private final GrpcMetrics lookups;

    BlobsGrpcService(BlobService blobs, UploadService uploads, CacheMetrics metrics, GrpcMetrics lookups) {
        this.blobs = blobs;
        this.uploads = uploads;
        this.metrics = metrics;
        this.lookups = lookups;
    }

    @Override
    public void findMissingBlobs(FindMissingBlobsRequest request, StreamObserver<FindMissingBlobsResponse> observer) {
        Calls.unary(observer, () -> {
            RepositoryName ns = Args.namespace(request.getNamespace());
            Args.check(request.getDigestsCount() <= MAX_DIGESTS, "digests", "at most " + MAX_DIGESTS + " per call");
            FindMissingBlobsResponse.Builder out = FindMissingBlobsResponse.newBuilder();
            List<Digest> digests = new ArrayList<>(request.getDigestsCount());
            for (int i = 0; i < request.getDigestsCount(); i++) {
                digests.add(Args.digest("digests[" + i + "]", request.getDigests(i)));
            }
            for (Digest d : digests) {
                BlobLookup lookup = blobs.lookup(ns, d);
                lookups.blob(ns, lookup);
                if (!lookup.outcome().hit()) {
                    out.addMissing(d.toString());
                }
            }
            return out.build();
        });
    }

    @Override
    public void statBlob(StatBlobRequest request, StreamObserver<StatBlobResponse> observer) {
        Calls.unary(observer, () -> {
            RepositoryName ns = Args.namespace(request.getNamespace());
            Digest d = Args.digest("digest", request.getDigest());
            return StatBlobResponse.newBuilder().setDigest(d.toString()).setSize(blobs.stat(ns, d)).build();
        });
    }

    @Override
    public void readBlob(ReadBlobRequest request, StreamObserver<ReadBlobResponse> observer) {
        ServerCallStreamObserver<ReadBlobResponse> call = (ServerCallStreamObserver<ReadBlobResponse>) observer;
        BlobService.OpenBlob blob;
        long end;
        try {
            RepositoryName ns = Args.namespace(request.getNamespace());
            Digest d = Args.digest("digest", request.getDigest());
            Args.check(request.getOffset() >= 0, "offset", "must not be negative");
            Args.check(request.getLimit() >= 0, "limit", "must not be negative");
            blob = blobs.open(ns, d);
            if (request.getOffset() > blob.size()) {
                blob.channel().close();
                throw Status.OUT_OF_RANGE.withDescription("offset " + request.getOffset() + " is past the end of a "
                        + blob.size() + "-byte blob").asRuntimeException();
            }
            long want = request.getLimit() == 0 ? Long.MAX_VALUE : request.getLimit();
            end = Math.min(blob.size(), request.getOffset() + Math.min(want, blob.size()));
        } catch (Throwable t) {
            observer.onError(GrpcErrors.toStatus(t));
            return;
        }
        new BlobSender(call, blob, request.getOffset(), end, request.getNamespace()).start();
    }

    /** Sends a blob region as fast as the client takes it, never faster. */
    private final class BlobSender implements Runnable {
        private final ServerCallStreamObserver<ReadBlobResponse> call;
        private final BlobService.OpenBlob blob;
        private final long end;
        private final String namespace;
        private long position;
        /**
         * One array for all of the call's messages: gRPC serialises a message into the transport's
         * buffers before {@code onNext} returns, so the array is free again right after.
         */
        private byte[] buffer;
        private boolean first = true;
        private boolean done;

        BlobSender(ServerCallStreamObserver<ReadBlobResponse> call, BlobService.OpenBlob blob, long start, long end,
                   String namespace) {
            this.call = call;
            this.namespace = namespace;
            this.blob = blob;
            this.position = start;
            this.end = end;
        }

        void start() {
            // A couple of chunks may wait in the transport: enough to keep the socket busy, still
            // bounded per stream whatever the client's reading speed.
            call.setOnReadyThreshold(2 * CHUNK);
            call.setOnCancelHandler(this::close);
            call.setOnReadyHandler(this);
        }

        /** Called by gRPC (serialised with the call's other callbacks) whenever the client can take more. */
        @Override
        public synchronized void run() {
            if (done) {
                return;
            }
            try {
                while (call.isReady() && (position < end || first)) {
                    int n = (int) Math.min(CHUNK, end - position);
                    if (buffer == null) {
                        buffer = new byte[(int) Math.min(CHUNK, end - position)];
                    }
                    byte[] bytes = n == buffer.length ? buffer : new byte[n];
                    ByteBuffer buf = ByteBuffer.wrap(bytes);
                    while (buf.hasRemaining()) {
                        if (blob.channel().read(buf, position + buf.position()) < 0) {
                            throw new IOException("blob file shorter than recorded");
                        }
                    }
                    ReadBlobResponse.Builder msg = ReadBlobResponse.newBuilder()
                            .setData(UnsafeByteOperations.unsafeWrap(bytes));
                    if (first) {
                        msg.setSize(blob.size());
                        first = false;
                    }
                    call.onNext(msg.build());
                    position += n;
                    metrics.served(Surface.GRPC, namespace, n);
                }
                if (position >= end && !first) {
                    close();
                    call.onCompleted();
                }
            } catch (Throwable t) {
                close();
                call.onError(GrpcErrors.toStatus(t));
            }
        }

        private synchronized void close() {
            if (!done) {
                done = true;
                try {
                    blob.channel().close();
                } catch (IOException ignored) {
                    // the read side only
                }
            }
        }
    }

    /**
     * The service to register: the generated binding, with WriteBlob taking {@link WriteChunk}s,
     * whose data stays in the transport's buffers instead of being copied into a new array per
     * message.
     */
    BindableService binding() {
        return this::definition;
    }

    private ServerServiceDefinition definition() {
        ServerServiceDefinition generated = bindService();
        MethodDescriptor<WriteChunk, WriteBlobResponse> write = WriteChunk.method(BlobsGrpc.getWriteBlobMethod());
        ServiceDescriptor.Builder descriptor = ServiceDescriptor.newBuilder(BlobsGrpc.SERVICE_NAME)
                .setSchemaDescriptor(generated.getServiceDescriptor().getSchemaDescriptor());
        List<ServerMethodDefinition<?, ?>> methods = new ArrayList<>();
        for (ServerMethodDefinition<?, ?> m : generated.getMethods()) {
            if (m.getMethodDescriptor().getFullMethodName().equals(write.getFullMethodName())) {
                methods.add(ServerMethodDefinition.create(write,
                        ServerCalls.asyncClientStreamingCall(BlobWriter::new)));
                descriptor.addMethod(write);
            } else {
                methods.add(m);
                descriptor.addMethod(m.getMethodDescriptor());
            }
        }
        ServerServiceDefinition.Builder service = ServerServiceDefinition.builder(descriptor.build());
        methods.forEach(service::addMethod);
        return service.build();
    }

    /**
     * One WriteBlob stream. gRPC delivers its messages one at a time, on one thread; the stream
     * asks for {@link #PREFETCH} messages ahead, so that the next one is ready when a message is
     * done instead of being asked for only then. Each message's data is hashed and copied to the
     * file's staging buffer straight from the transport's buffers ({@link WriteChunk}); a slow
     * disk holds {@link #onNext} back, and with it the client, instead of filling memory.
     */
    private final class BlobWriter implements StreamObserver<WriteChunk> {
        private final ServerCallStreamObserver<WriteBlobResponse> observer;
        private RepositoryName ns;
        private Digest digest;
        private long size;
        private UploadSession session;
        private long recorded;
        /** The call is answered; ignore the rest of the stream. */
        private boolean finished;

        BlobWriter(StreamObserver<WriteBlobResponse> observer) {
            this.observer = (ServerCallStreamObserver<WriteBlobResponse>) observer;
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
                if (msg.writeOffset() != session.size()) {
                    throw Status.OUT_OF_RANGE.withDescription("write_offset " + msg.writeOffset()
                            + " but the server holds " + session.size() + " bytes").asRuntimeException();
                }
                int n = msg.dataSize();
                if (n > 0) {
                    if (session.size() + n > size) {
                        uploads.discard(session);
                        metrics.upload(Surface.GRPC, UploadOutcome.ABORTED);
                        session = null;
                        throw new FieldException("data", "data: more bytes than the declared size " + size);
                    }
                    uploads.write(session, msg.data(), n);
                    metrics.received(Surface.GRPC, ns.toString(), n);
                    if (session.size() - recorded >= RECORD_EVERY) {
                        // Now and then, so that a resumed upload loses little after a crash.
                        uploads.recordProgress(session);
                        recorded = session.size();
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
                metrics.upload(Surface.GRPC, UploadOutcome.ALREADY_PRESENT);
                metrics.saved(Surface.GRPC, SavedReason.ALREADY_PRESENT, ns.toString(), stored);
                finished = true;
                observer.onNext(WriteBlobResponse.newBuilder().setCommittedSize(stored).setAlreadyExisted(true).build());
                observer.onCompleted();
                return;
            }
            try {
                session = uploads.acquireOrStart(ns, header.getUploadId(), Args.caller(), Args.client());
            } catch (RegistryException e) {
                if (e.code() == ErrorCode.BLOB_UPLOAD_INVALID && uploads.heldBytes(ns, header.getUploadId(), Args.caller()) >= 0) {
                    throw Status.ABORTED.withDescription(e.getMessage()).asRuntimeException();
                }
                throw new FieldException("header.upload_id", "header.upload_id: " + e.getMessage());
            }
            uploads.beginChunk(session, null);
        }

        private void finish() throws IOException {
            if (session.size() != size) {
                throw new FieldException("finish_write", "finish_write: the server holds " + session.size()
                        + " bytes of a declared " + size);
            }
            UploadSession s = session;
            session = null;
            try {
                boolean added = uploads.complete(s, digest);
                metrics.upload(Surface.GRPC, added ? UploadOutcome.COMMITTED : UploadOutcome.ALREADY_PRESENT);
            } catch (RegistryException e) {
                if (e.code() == ErrorCode.DIGEST_INVALID) {
                    metrics.upload(Surface.GRPC, UploadOutcome.DIGEST_MISMATCH);
                }
                throw new FieldException("header.digest", "header.digest: " + e.getMessage());
            } finally {
                uploads.release(s);
            }
            finished = true;
            observer.onNext(WriteBlobResponse.newBuilder().setCommittedSize(size).build());
            observer.onCompleted();
        }

        private void fail(Throwable t) {
            if (session != null && ErrorCode.isNoSpace(t)) {
                // A full disk: keeping the received part for a resume would hold on to the very
                // space that is missing. The upload starts over once there is room.
                uploads.discard(session);
                uploads.release(session);
                metrics.upload(Surface.GRPC, UploadOutcome.ABORTED);
                session = null;
            }
            keepReceived();
            finished = true;
            observer.onError(GrpcErrors.toStatus(t));
        }

        /** The stream ended early: keep what arrived, so the client can resume with the same upload id. */
        private void keepReceived() {
            if (session != null) {
                try {
                    uploads.acknowledge(session);
                } catch (IOException e) {
                    // The disk refused bytes: what is recorded stays; the client asks QueryWriteStatus.
                    uploads.rollback(session);
                } finally {
                    uploads.release(session);
                    session = null;
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
            long held = session == null ? 0 : session.size();
            keepReceived();
            finished = true;
            observer.onNext(WriteBlobResponse.newBuilder().setCommittedSize(held).build());
            observer.onCompleted();
        }
    }

    @Override
    public void queryWriteStatus(QueryWriteStatusRequest request, StreamObserver<QueryWriteStatusResponse> observer) {
        Calls.unary(observer, () -> {
            RepositoryName ns = Args.namespace(request.getNamespace());
            if (!request.getDigest().isEmpty()) {
                Digest d = Args.digest("digest", request.getDigest());
                if (blobs.isLinked(ns, d)) {
                    return QueryWriteStatusResponse.newBuilder().setComplete(true)
                            .setCommittedSize(blobs.stat(ns, d)).build();
                }
            }
            long held = uploads.heldBytes(ns, request.getUploadId(), Args.caller());
            return QueryWriteStatusResponse.newBuilder().setCommittedSize(Math.max(0, held)).build();
        });
    }

    @Override
    public void batchReadBlobs(BatchReadBlobsRequest request, StreamObserver<BatchReadBlobsResponse> observer) {
        Calls.unary(observer, () -> {
            RepositoryName ns = Args.namespace(request.getNamespace());
            Args.check(request.getDigestsCount() <= MAX_DIGESTS, "digests", "at most " + MAX_DIGESTS + " per call");
            long total = 0;
            BatchReadBlobsResponse.Builder out = BatchReadBlobsResponse.newBuilder();
            for (int i = 0; i < request.getDigestsCount(); i++) {
                Digest d = Args.digest("digests[" + i + "]", request.getDigests(i));
                BlobData.Builder item = BlobData.newBuilder().setDigest(d.toString());
                if (!blobs.isLinked(ns, d)) {
                    out.addBlobs(item.setStatus(status(Status.Code.NOT_FOUND, "blob not in namespace")));
                    continue;
                }
                long size = blobs.stat(ns, d);
                total += size;
                Args.check(total <= MAX_BATCH_BYTES, "digests",
                        "the blobs add up to more than " + MAX_BATCH_BYTES + " bytes; use ReadBlob");
                out.addBlobs(item.setData(read(ns, d)).setStatus(status(Status.Code.OK, "")));
                metrics.served(Surface.GRPC, ns.toString(), size);
            }
            return out.build();
        });
    }

    @Override
    public void batchUpdateBlobs(BatchUpdateBlobsRequest request, StreamObserver<BatchUpdateBlobsResponse> observer) {
        Calls.unary(observer, () -> {
            RepositoryName ns = Args.namespace(request.getNamespace());
            long total = 0;
            for (BlobData b : request.getBlobsList()) {
                total += b.getData().size();
            }
            Args.check(total <= MAX_BATCH_BYTES, "blobs", "more than " + MAX_BATCH_BYTES + " bytes; use WriteBlob");
            BatchUpdateBlobsResponse.Builder out = BatchUpdateBlobsResponse.newBuilder();
            for (int i = 0; i < request.getBlobsCount(); i++) {
                BlobData b = request.getBlobs(i);
                Digest d = Args.digest("blobs[" + i + "].digest", b.getDigest());
                out.addBlobs(BlobData.newBuilder().setDigest(d.toString()).setStatus(store(ns, d, b.getData())));
            }
            return out.build();
        });
    }

    private com.google.rpc.Status store(RepositoryName ns, Digest d, ByteString data) throws IOException {
        metrics.received(Surface.GRPC, ns.toString(), data.size());
        if (blobs.isLinked(ns, d)) {
            metrics.upload(Surface.GRPC, UploadOutcome.ALREADY_PRESENT);
            return status(Status.Code.OK, "already present");
        }
        UploadSession s = uploads.start(ns, false, Args.caller(), Args.client());
        try {
            uploads.beginChunk(s, null);
            writeTo(s, data);
            boolean added = uploads.complete(s, d);
            metrics.upload(Surface.GRPC, added ? UploadOutcome.COMMITTED : UploadOutcome.ALREADY_PRESENT);
            return status(Status.Code.OK, "");
        } catch (RegistryException e) {
            uploads.discard(s);
            metrics.upload(Surface.GRPC, e.code() == ErrorCode.DIGEST_INVALID ? UploadOutcome.DIGEST_MISMATCH
                    : UploadOutcome.ABORTED);
            return status(Status.Code.INVALID_ARGUMENT, e.getMessage());
        } finally {
            uploads.release(s);
        }
    }

    /**
     * Appends a message's bytes to an upload without copying them: {@link ByteString#writeTo} with
     * an OutputStream copies defensively, while a {@link com.google.protobuf.ByteOutput} is handed
     * the backing array itself (messages are immutable, so the array stays as it is).
     */
    private void writeTo(UploadSession s, ByteString data) throws IOException {
        UnsafeByteOperations.unsafeWriteTo(data, new com.google.protobuf.ByteOutput() {
            @Override
            public void write(byte value) throws IOException {
                write(new byte[] {value}, 0, 1);
            }

            @Override
            public void write(byte[] value, int offset, int length) throws IOException {
                uploads.write(s, ByteBuffer.wrap(value, offset, length));
            }

            @Override
            public void writeLazy(byte[] value, int offset, int length) throws IOException {
                write(value, offset, length);
            }

            @Override
            public void write(ByteBuffer value) throws IOException {
                uploads.write(s, value.slice());
            }

            @Override
            public void writeLazy(ByteBuffer value) throws IOException {
                write(value);
            }
        });
    }

    private ByteString read(RepositoryName ns, Digest d) throws IOException {
        BlobService.OpenBlob blob = blobs.open(ns, d);
        try (FileChannel ch = blob.channel()) {
            ByteBuffer buf = ByteBuffer.allocate((int) blob.size());
            while (buf.hasRemaining()) {
                if (ch.read(buf, buf.position()) < 0) {
                    throw new IOException("blob file shorter than recorded");
                }
            }
            return UnsafeByteOperations.unsafeWrap(buf.array());
        }
    }

    private static com.google.rpc.Status status(Status.Code code, String message) {
        return com.google.rpc.Status.newBuilder().setCode(code.value()).setMessage(message).build();
    }
}
