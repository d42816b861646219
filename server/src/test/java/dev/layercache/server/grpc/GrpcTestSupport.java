package dev.layercache.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.api.v1.ManifestsGrpc;
import dev.layercache.api.v1.WriteBlobRequest;
import dev.layercache.api.v1.WriteBlobResponse;
import dev.layercache.api.v1.WriteHeader;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.function.Executable;

/**
 * A plaintext channel to a test server's gRPC port (or an in-process channel to a node's gRPC
 * services, {@link dev.layercache.server.testing.TestServices#grpc()}), with the stubs and a few
 * assertions.
 */
final class GrpcTestSupport implements AutoCloseable {
    final ManagedChannel channel;
    final EntryCacheGrpc.EntryCacheBlockingStub entries;
    final BlobsGrpc.BlobsBlockingStub blobs;
    final BlobsGrpc.BlobsStub blobsAsync;
    final ManifestsGrpc.ManifestsBlockingStub manifests;

    GrpcTestSupport(int port) {
        this(NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().maxInboundMessageSize(64 << 20).build());
    }

    /** Over {@code channel}, which this closes. */
    GrpcTestSupport(ManagedChannel channel) {
        this.channel = channel;
        entries = EntryCacheGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
        blobs = BlobsGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
        blobsAsync = BlobsGrpc.newStub(channel);
        manifests = ManifestsGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    /** Writes {@code data} in one WriteBlob stream of 64 KiB messages. */
    WriteBlobResponse write(String namespace, String digest, byte[] data) throws Exception {
        return write(namespace, digest, data, 64 << 10);
    }

    /** Writes {@code data} in one WriteBlob stream of {@code chunk}-byte messages. */
    WriteBlobResponse write(String namespace, String digest, byte[] data, int chunk) throws Exception {
        return write(WriteHeader.newBuilder().setNamespace(namespace).setDigest(digest).setSize(data.length)
                .setUploadId(UUID.randomUUID().toString()).build(), 0, data, true, chunk);
    }

    /** Sends bytes [from, data.length) after {@code header}; finishes the write when asked. */
    WriteBlobResponse write(WriteHeader header, int from, byte[] data, boolean finish) throws Exception {
        return write(header, from, data, finish, 64 << 10);
    }

    private WriteBlobResponse write(WriteHeader header, int from, byte[] data, boolean finish, int chunk)
            throws Exception {
        CompletableFuture<WriteBlobResponse> result = new CompletableFuture<>();
        StreamObserver<WriteBlobRequest> requests = blobsAsync.writeBlob(observer(result));
        boolean first = true;
        for (int off = from; off < data.length || first; off += chunk) {
            int n = Math.min(chunk, data.length - off);
            WriteBlobRequest.Builder msg = WriteBlobRequest.newBuilder().setWriteOffset(off)
                    .setData(ByteString.copyFrom(data, off, Math.max(0, n)));
            if (first) {
                msg.setHeader(header);
                first = false;
            }
            if (finish && off + n >= data.length) {
                msg.setFinishWrite(true);
            }
            requests.onNext(msg.build());
        }
        requests.onCompleted();
        try {
            return result.get(60, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw (Exception) e.getCause();
        }
    }

    static <T> StreamObserver<T> observer(CompletableFuture<T> result) {
        return new StreamObserver<>() {
            @Override
            public void onNext(T value) {
                result.complete(value);
            }

            @Override
            public void onError(Throwable t) {
                result.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                result.complete(null);
            }
        };
    }

    /** Asserts the call fails with {@code code}; returns the status for more checks. */
    static StatusRuntimeException assertStatus(Status.Code code, Executable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        return e;
    }

    /** The first detail of type {@code type} in a failed call's google.rpc.Status. */
    static <T extends Message> T detail(StatusRuntimeException e, Class<T> type) {
        com.google.rpc.Status status = StatusProto.fromThrowable(e);
        if (status == null) {
            throw new AssertionError("no status details in " + e);
        }
        List<Any> details = status.getDetailsList();
        for (Any any : details) {
            if (any.is(type)) {
                try {
                    return any.unpack(type);
                } catch (InvalidProtocolBufferException ex) {
                    throw new AssertionError(ex);
                }
            }
        }
        throw new AssertionError("no " + type.getSimpleName() + " in " + details);
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
}
