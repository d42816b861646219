package dev.layercache.client.internal;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.QueryWriteStatusRequest;
import dev.layercache.api.v1.QueryWriteStatusResponse;
import dev.layercache.api.v1.ReadBlobRequest;
import dev.layercache.api.v1.ReadBlobResponse;
import dev.layercache.api.v1.WriteBlobRequest;
import dev.layercache.api.v1.WriteBlobResponse;
import dev.layercache.api.v1.WriteHeader;
import dev.layercache.client.BlobSource;
import dev.layercache.client.ClientListener;
import dev.layercache.client.Digest;
import dev.layercache.client.LayerCacheException;
import dev.layercache.client.TransferEvent;
import dev.layercache.client.TransferEvent.Direction;
import dev.layercache.client.TransferEvent.Kind;
import io.grpc.CallCredentials;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Iterator;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Blob streams that survive broken connections: downloads resume from the offset they reached,
 * uploads from what the server committed under their upload id. Memory is constant: a download
 * holds one message at a time (the blocking stub asks for the next only after this one is
 * consumed); an upload sends a chunk only when the transport is ready for it.
 */
public final class Transfers {
    private final ManagedChannel channel;
    private final Optional<CallCredentials> credentials;
    private final Retrier retrier;
    private final ClientListener listener;
    private final int chunkSize;
    private final Optional<Duration> attemptDeadline;
    private final Optional<Duration> unaryDeadline;
    /**
     * Whether an upload sends all its messages from one array rather than a new one per message
     * (at 1 MiB, a humongous allocation for G1 on most heaps, and zeroed each time). Only safe
     * where gRPC does not keep a message after {@code onNext}: it serialises the message into the
     * transport's buffers before returning (the stream is ready, so not buffered behind a pending
     * connection) unless its own retries keep it to replay, as a caller's channel may do.
     */
    private final boolean oneArrayPerUpload;

    /**
     * @param oneArrayPerUpload true only for a channel whose gRPC retries are off (the client's
     *     own); see {@link #oneArrayPerUpload}
     */
    public Transfers(ManagedChannel channel, Optional<CallCredentials> credentials, Retrier retrier,
                     ClientListener listener, int chunkSize, Optional<Duration> attemptDeadline,
                     Optional<Duration> unaryDeadline, boolean oneArrayPerUpload) {
        this.oneArrayPerUpload = oneArrayPerUpload;
        this.channel = channel;
        this.credentials = credentials;
        this.retrier = retrier;
        this.listener = listener;
        this.chunkSize = chunkSize;
        this.attemptDeadline = attemptDeadline;
        this.unaryDeadline = unaryDeadline;
    }

    /**
     * Arrays for ReadBlob messages, shared by the process's downloads: a few for each of the
     * downloads that run at once, each a message of the server's (1 MiB) or the largest we take.
     */
    private static final ArrayPool READ_ARRAYS = new ArrayPool(16, (4 << 20) + 64);

    /**
     * ReadBlob, each response's data left in the pooled array the message is read into (no second
     * copy, no fresh array).
     */
    private static final MethodDescriptor<ReadBlobRequest, PooledMessage<ReadBlobResponse>> READ_BLOB =
            BlobsGrpc.getReadBlobMethod().toBuilder(BlobsGrpc.getReadBlobMethod().getRequestMarshaller(),
                    new PooledMarshaller<>(ReadBlobResponse.parser(), READ_ARRAYS)).build();

    /**
     * ReadBlob as this client reads it: each message's data in a pooled array, given back when
     * the message is closed.
     */
    public static MethodDescriptor<ReadBlobRequest, PooledMessage<ReadBlobResponse>> readBlobMethod() {
        return READ_BLOB;
    }

    /** Bytes an upload may have queued in the transport and still be "ready" for more. */
    static final int ON_READY_THRESHOLD = 4 << 20;

    private BlobsGrpc.BlobsBlockingStub blockingStub(Optional<Duration> deadline) {
        BlobsGrpc.BlobsBlockingStub stub = BlobsGrpc.newBlockingStub(channel);
        if (credentials.isPresent()) {
            stub = stub.withCallCredentials(credentials.get());
        }
        if (deadline.isPresent()) {
            stub = stub.withDeadlineAfter(deadline.get().toNanos(), TimeUnit.NANOSECONDS);
        }
        return stub;
    }

    private BlobsGrpc.BlobsStub asyncStub() {
        // Let a few chunks queue in the transport before isReady() says wait: with the default
        // 32 KiB an upload of 1 MiB chunks goes one chunk at a time, stop and wait.
        BlobsGrpc.BlobsStub stub = BlobsGrpc.newStub(channel).withOnReadyThreshold(ON_READY_THRESHOLD);
        if (credentials.isPresent()) {
            stub = stub.withCallCredentials(credentials.get());
        }
        if (attemptDeadline.isPresent()) {
            stub = stub.withDeadlineAfter(attemptDeadline.get().toNanos(), TimeUnit.NANOSECONDS);
        }
        return stub;
    }

    private void event(Kind kind, Direction direction, String namespace, Digest digest, long position, long size) {
        listener.onTransfer(new TransferEvent(kind, direction, namespace, digest, position, size));
    }

    /**
     * Streams a blob into {@code out} and verifies its digest; returns its size. Does not close
     * {@code out}. On a broken stream, reads again from the offset reached.
     *
     * @throws LayerCacheException NOT_FOUND for an unknown blob, DATA_LOSS when the bytes do not
     *     verify, UNAVAILABLE when the server stays away
     * @throws IOException when {@code out} fails
     */
    public long download(String namespace, Digest digest, OutputStream out) throws IOException {
        MessageDigest md = digest.algorithm().newMessageDigest();
        String operation = "ReadBlob " + digest;
        long offset = 0;
        long size = -1;
        int failures = 0;
        event(Kind.STARTED, Direction.DOWNLOAD, namespace, digest, 0, -1);
        while (true) {
            long before = offset;
            Context.CancellableContext context = Context.current().withCancellation();
            Context previous = context.attach();
            try {
                Iterator<PooledMessage<ReadBlobResponse>> responses = ClientCalls.blockingServerStreamingCall(channel,
                        READ_BLOB, blockingStub(attemptDeadline).getCallOptions(),
                        ReadBlobRequest.newBuilder().setNamespace(namespace).setDigest(digest.toString())
                                .setOffset(offset).build());
                boolean first = true;
                while (responses.hasNext()) {
                    // Its array goes back to the pool once the data is hashed and written.
                    try (PooledMessage<ReadBlobResponse> message = responses.next()) {
                        ReadBlobResponse r = message.message();
                        if (first) {
                            size = r.getSize();
                            first = false;
                        }
                        ByteString data = r.getData();
                        if (size >= 0 && offset + data.size() > size) {
                            throw new LayerCacheException(Status.Code.DATA_LOSS, operation
                                    + ": the server sent more than the blob's " + size + " bytes", null);
                        }
                        for (ByteBuffer b : data.asReadOnlyByteBufferList()) {
                            md.update(b);
                        }
                        data.writeTo(out);
                        offset += data.size();
                    }
                    event(Kind.PROGRESS, Direction.DOWNLOAD, namespace, digest, offset, size);
                }
                if (size >= 0 && offset < size) {
                    throw Status.UNAVAILABLE.withDescription("the stream ended at " + offset + " of " + size
                            + " bytes").asRuntimeException();
                }
                break;
            } catch (StatusRuntimeException e) {
                if (offset > before) {
                    failures = 0;
                }
                failures++;
                if (!Retrier.isResumable(e.getStatus()) || failures >= retrier.policy().maxAttempts()
                        || Thread.currentThread().isInterrupted()) {
                    throw Errors.from(e, operation, retrier.target());
                }
                retrier.pause(operation, failures, e.getStatus());
                event(Kind.RESUMED, Direction.DOWNLOAD, namespace, digest, offset, size);
            } finally {
                context.detach(previous);
                context.cancel(null);
            }
        }
        Digest actual = Digest.of(digest.algorithm(), md.digest());
        if (!actual.equals(digest) || (size >= 0 && offset != size)) {
            throw new LayerCacheException(Status.Code.DATA_LOSS, operation + ": the " + offset
                    + " bytes received hash to " + actual + ", not to the requested digest", null);
        }
        event(Kind.COMPLETED, Direction.DOWNLOAD, namespace, digest, offset, offset);
        return offset;
    }

    /**
     * Uploads a blob unless the namespace has it. Returns true when bytes were sent and
     * committed, false when the server already had the blob. A broken stream resumes with the
     * same upload id from the size the server committed.
     *
     * @throws LayerCacheException INVALID_ARGUMENT when the bytes do not hash to the digest or are
     *     not of the size, UNAVAILABLE when the server stays away
     * @throws IOException when the source fails or is shorter than {@code size}
     */
    public boolean upload(String namespace, Digest digest, long size, BlobSource source) throws IOException {
        String uploadId = UUID.randomUUID().toString();
        String operation = "WriteBlob " + digest;
        long committed = 0;
        int failures = 0;
        event(Kind.STARTED, Direction.UPLOAD, namespace, digest, 0, size);
        while (true) {
            try {
                WriteBlobResponse response = writeOnce(namespace, digest, size, uploadId, committed, source);
                if (response.getAlreadyExisted()) {
                    event(Kind.ALREADY_PRESENT, Direction.UPLOAD, namespace, digest, committed, size);
                    return false;
                }
                event(Kind.COMPLETED, Direction.UPLOAD, namespace, digest, size, size);
                return true;
            } catch (StatusRuntimeException e) {
                Status.Code code = e.getStatus().getCode();
                failures++;
                if (!(Retrier.isResumable(e.getStatus()) || code == Status.Code.OUT_OF_RANGE)
                        || failures >= retrier.policy().maxAttempts() || Thread.currentThread().isInterrupted()) {
                    throw Errors.from(e, operation, retrier.target());
                }
                retrier.pause(operation, failures, e.getStatus());
                QueryWriteStatusResponse status = retrier.call("QueryWriteStatus " + digest,
                        () -> blockingStub(unaryDeadline).queryWriteStatus(QueryWriteStatusRequest.newBuilder()
                                .setNamespace(namespace).setUploadId(uploadId).setDigest(digest.toString()).build()));
                if (status.getComplete()) {
                    event(Kind.COMPLETED, Direction.UPLOAD, namespace, digest, size, size);
                    return true;
                }
                if (status.getCommittedSize() > committed) {
                    failures = 0;
                }
                committed = Math.min(status.getCommittedSize(), size);
                event(Kind.RESUMED, Direction.UPLOAD, namespace, digest, committed, size);
            }
        }
    }

    /** One WriteBlob stream from {@code offset}; throws StatusRuntimeException when it fails. */
    private WriteBlobResponse writeOnce(String namespace, Digest digest, long size, String uploadId, long offset,
                                        BlobSource source) throws IOException {
        WriteCall call = new WriteCall();
        asyncStub().writeBlob(call);
        ClientCallStreamObserver<WriteBlobRequest> requests = call.requests;
        boolean finished = false;
        byte[] array = oneArrayPerUpload ? new byte[(int) Math.min(chunkSize, size - offset)] : null;
        try (InputStream in = source.open(offset)) {
            long position = offset;
            boolean header = true;
            while (true) {
                if (!call.awaitReadyOrDone()) {
                    break;
                }
                int want = (int) Math.min(chunkSize, size - position);
                byte[] chunk = array != null ? array : new byte[want];
                int n = in.readNBytes(chunk, 0, want);
                if (n < want) {
                    throw new IOException("the source of " + digest + " ended at " + (position + n) + " of " + size
                            + " bytes");
                }
                boolean last = position + n == size;
                WriteBlobRequest.Builder message = WriteBlobRequest.newBuilder()
                        .setWriteOffset(position)
                        .setData(UnsafeByteOperations.unsafeWrap(chunk, 0, n))
                        .setFinishWrite(last);
                if (header) {
                    message.setHeader(WriteHeader.newBuilder().setNamespace(namespace).setDigest(digest.toString())
                            .setSize(size).setUploadId(uploadId));
                    header = false;
                }
                requests.onNext(message.build());
                position += n;
                event(Kind.PROGRESS, Direction.UPLOAD, namespace, digest, position, size);
                if (last) {
                    requests.onCompleted();
                    break;
                }
            }
            finished = true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LayerCacheException(Status.Code.CANCELLED, "WriteBlob " + digest + ": interrupted", e);
        } finally {
            if (!finished) {
                requests.cancel("the client gave up", null);
            }
        }
        try {
            return call.awaitResponse();
        } catch (InterruptedException e) {
            requests.cancel("interrupted", e);
            Thread.currentThread().interrupt();
            throw new LayerCacheException(Status.Code.CANCELLED, "WriteBlob " + digest + ": interrupted", e);
        }
    }

    /** The response side of one WriteBlob call, and the transport's readiness for more data. */
    private static final class WriteCall implements ClientResponseObserver<WriteBlobRequest, WriteBlobResponse> {
        private final ReentrantLock lock = new ReentrantLock();
        private final Condition changed = lock.newCondition();
        private ClientCallStreamObserver<WriteBlobRequest> requests;
        private WriteBlobResponse response;
        private Throwable error;
        private boolean done;

        @Override
        public void beforeStart(ClientCallStreamObserver<WriteBlobRequest> requestStream) {
            this.requests = requestStream;
            requestStream.setOnReadyHandler(this::signal);
        }

        @Override
        public void onNext(WriteBlobResponse value) {
            lock.lock();
            try {
                response = value;
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void onError(Throwable t) {
            lock.lock();
            try {
                error = t;
                done = true;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void onCompleted() {
            lock.lock();
            try {
                done = true;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        private void signal() {
            lock.lock();
            try {
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        /** Waits until the transport takes more data (true) or the call ended (false). */
        boolean awaitReadyOrDone() throws InterruptedException {
            lock.lock();
            try {
                while (!done && !requests.isReady()) {
                    // The onReady handler signals; the timeout guards against a missed signal.
                    changed.await(100, TimeUnit.MILLISECONDS);
                }
                return !done;
            } finally {
                lock.unlock();
            }
        }

        WriteBlobResponse awaitResponse() throws InterruptedException {
            lock.lock();
            try {
                while (!done) {
                    changed.await();
                }
                if (error instanceof StatusRuntimeException e) {
                    throw e;
                }
                if (error != null) {
                    throw Status.fromThrowable(error).asRuntimeException(Status.trailersFromThrowable(error));
                }
                if (response == null) {
                    throw Status.INTERNAL.withDescription("WriteBlob ended without a response").asRuntimeException();
                }
                return response;
            } finally {
                lock.unlock();
            }
        }
    }
}
