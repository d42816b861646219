package dev.layercache.loadtest;

import com.google.protobuf.ByteString;
import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.ReadBlobRequest;
import dev.layercache.api.v1.ReadBlobResponse;
import dev.layercache.api.v1.WriteBlobRequest;
import dev.layercache.api.v1.WriteBlobResponse;
import dev.layercache.api.v1.WriteHeader;
import dev.layercache.client.internal.PooledMessage;
import dev.layercache.client.internal.Transfers;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/** Blob uploads over the native API as the benchmarks drive them, and the digests they need. */
final class BlobStreams {
    private BlobStreams() {
    }

    /**
     * Streams {@code count} copies of {@code chunk} as blob {@code digest} of {@code namespace}
     * ({@code size} bytes in all) under flow control, counting the bytes sent into {@code sent};
     * null when {@code stop} is set before the blob is finished (the call is cancelled).
     */
    static WriteBlobResponse write(ManagedChannel channel, String namespace, String digest, ByteString chunk,
                                   int count, long size, AtomicBoolean stop, AtomicLong sent) throws Exception {
        CompletableFuture<WriteBlobResponse> result = new CompletableFuture<>();
        Semaphore ready = new Semaphore(0);
        StreamObserver<WriteBlobRequest> requests = BlobsGrpc.newStub(channel).withOnReadyThreshold(4 << 20).writeBlob(
                new ClientResponseObserver<WriteBlobRequest, WriteBlobResponse>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<WriteBlobRequest> call) {
                        call.setOnReadyHandler(ready::release);
                    }

                    @Override
                    public void onNext(WriteBlobResponse value) {
                        result.complete(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                        result.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
        ClientCallStreamObserver<WriteBlobRequest> call = (ClientCallStreamObserver<WriteBlobRequest>) requests;
        long offset = 0;
        for (int i = 0; i < count && !result.isDone(); i++) {
            while (!call.isReady() && !result.isDone()) {
                if (stop.get()) {
                    call.cancel("stopped", null);
                    return null;
                }
                ready.tryAcquire(10, TimeUnit.MILLISECONDS);
            }
            WriteBlobRequest.Builder msg = WriteBlobRequest.newBuilder().setWriteOffset(offset).setData(chunk);
            if (i == 0) {
                msg.setHeader(WriteHeader.newBuilder().setNamespace(namespace).setDigest(digest).setSize(size)
                        .setUploadId(UUID.randomUUID().toString()));
            }
            msg.setFinishWrite(i == count - 1);
            requests.onNext(msg.build());
            offset += chunk.size();
            sent.addAndGet(chunk.size());
        }
        requests.onCompleted();
        return result.get(10, TimeUnit.MINUTES);
    }

    /**
     * Reads blob {@code digest} of {@code namespace} as the client library reads (the data left in
     * the pooled array each message is read into), without verifying the digest (curl, which the
     * benchmarks compare it with, does not either), counting its bytes into {@code bytes} as they
     * come; returns the count at the end.
     */
    static long read(ManagedChannel channel, String namespace, String digest, AtomicLong bytes) throws Exception {
        return read(channel, ReadBlobRequest.newBuilder().setNamespace(namespace).setDigest(digest).build(), bytes);
    }

    /** As {@link #read(ManagedChannel, String, String, AtomicLong)}, for any request (a range, the floor's). */
    static long read(ManagedChannel channel, ReadBlobRequest request, AtomicLong bytes) throws Exception {
        CompletableFuture<Long> done = new CompletableFuture<>();
        ClientCalls.asyncServerStreamingCall(channel.newCall(Transfers.readBlobMethod(), CallOptions.DEFAULT),
                request,
                new StreamObserver<PooledMessage<ReadBlobResponse>>() {
                    @Override
                    public void onNext(PooledMessage<ReadBlobResponse> value) {
                        try (value) {
                            bytes.addAndGet(value.message().getData().size());
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        done.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                        done.complete(bytes.get());
                    }
                });
        return done.get(10, TimeUnit.MINUTES);
    }

    /** The digest of {@code count} copies of {@code chunk} one after the other. */
    static String digestOfRepeated(byte[] chunk, int count) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        for (int i = 0; i < count; i++) {
            sha.update(chunk);
        }
        return "sha256:" + HexFormat.of().formatHex(sha.digest());
    }

    static String sha256(byte[] b) throws Exception {
        return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }
}
