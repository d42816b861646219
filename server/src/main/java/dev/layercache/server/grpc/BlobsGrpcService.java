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
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metrics.Surface;
import dev.layercache.server.registry.BlobLookup;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.registry.Upload;
import dev.layercache.server.registry.UploadService;
import io.grpc.BindableService;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import dev.layercache.server.storage.BlobContent;
import java.io.IOException;
import java.nio.ByteBuffer;
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

    private final BlobService blobs;
    private final UploadService uploads;
    /** What is counted, and how: existence checks, bytes, blobs found present (an upload counts its own end). */
    private final GrpcMetrics metrics;

    BlobsGrpcService(BlobService blobs, UploadService uploads, GrpcMetrics metrics) {
        this.blobs = blobs;
        this.uploads = uploads;
        this.metrics = metrics;
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
                metrics.existenceCheck(ns, lookup);
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
                blob.content().close();
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
                    if (blob.content() instanceof BlobContent.Inline inline) {
                        // The bytes are on the heap already, the content's own: sent as they are.
                        sendNext(UnsafeByteOperations.unsafeWrap(inline.bytes(), (int) position, n), n);
                        continue;
                    }
                    if (buffer == null) {
                        buffer = new byte[(int) Math.min(CHUNK, end - position)];
                    }
                    byte[] bytes = n == buffer.length ? buffer : new byte[n];
                    ByteBuffer buf = ByteBuffer.wrap(bytes);
                    while (buf.hasRemaining()) {
                        if (blob.content().read(buf, position + buf.position()) < 0) {
                            throw new IOException("blob file shorter than recorded");
                        }
                    }
                    sendNext(UnsafeByteOperations.unsafeWrap(bytes), n);
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

        private void sendNext(ByteString data, int n) {
            ReadBlobResponse.Builder msg = ReadBlobResponse.newBuilder().setData(data);
            if (first) {
                msg.setSize(blob.size());
                first = false;
            }
            call.onNext(msg.build());
            position += n;
            metrics.served(namespace, n);
        }

        private synchronized void close() {
            if (!done) {
                done = true;
                try {
                    blob.content().close();
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
                        ServerCalls.asyncClientStreamingCall(
                        observer -> new WriteBlobStream(observer, blobs, uploads, metrics))));
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
                metrics.served(ns.toString(), size);
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
        metrics.received(ns.toString(), data.size());
        if (blobs.isLinked(ns, d)) {
            metrics.alreadyPresent(ns.toString(), 0); // the bytes came anyway: nothing saved
            return status(Status.Code.OK, "already present");
        }
        Upload upload = uploads.start(Surface.GRPC, ns, Args.caller(), Args.client(), false);
        try {
            writeTo(upload, data);
            upload.commit(d);
            return status(Status.Code.OK, "");
        } catch (RegistryException e) {
            upload.cancel(); // counted as aborted, unless the commit counted a digest mismatch
            return status(Status.Code.INVALID_ARGUMENT, e.getMessage());
        } finally {
            upload.close(); // not in a try-with-resources: it would close before the catch cancels
        }
    }

    /**
     * Appends a message's bytes to an upload without copying them: {@link ByteString#writeTo} with
     * an OutputStream copies defensively, while a {@link com.google.protobuf.ByteOutput} is handed
     * the backing array itself (messages are immutable, so the array stays as it is).
     */
    private static void writeTo(Upload upload, ByteString data) throws IOException {
        UnsafeByteOperations.unsafeWriteTo(data, new com.google.protobuf.ByteOutput() {
            @Override
            public void write(byte value) throws IOException {
                write(new byte[] {value}, 0, 1);
            }

            @Override
            public void write(byte[] value, int offset, int length) throws IOException {
                upload.write(ByteBuffer.wrap(value, offset, length));
            }

            @Override
            public void writeLazy(byte[] value, int offset, int length) throws IOException {
                write(value, offset, length);
            }

            @Override
            public void write(ByteBuffer value) throws IOException {
                upload.write(value.slice());
            }

            @Override
            public void writeLazy(ByteBuffer value) throws IOException {
                write(value);
            }
        });
    }

    private ByteString read(RepositoryName ns, Digest d) throws IOException {
        BlobService.OpenBlob blob = blobs.open(ns, d);
        try (BlobContent content = blob.content()) {
            if (content instanceof BlobContent.Inline inline && inline.bytes().length == blob.size()) {
                return UnsafeByteOperations.unsafeWrap(inline.bytes());
            }
            ByteBuffer buf = ByteBuffer.allocate((int) blob.size());
            while (buf.hasRemaining()) {
                if (content.read(buf, buf.position()) < 0) {
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
