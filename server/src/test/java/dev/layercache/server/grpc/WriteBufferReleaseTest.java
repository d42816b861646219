package dev.layercache.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.layercache.api.v1.ReadBlobRequest;
import dev.layercache.api.v1.ReadBlobResponse;
import dev.layercache.api.v1.WriteBlobRequest;
import dev.layercache.api.v1.WriteBlobResponse;
import dev.layercache.api.v1.WriteHeader;
import dev.layercache.server.testing.ServerProcess;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * WriteBlob keeps each message's data in the transport's pooled buffers until the file has it
 * ({@link WriteChunk}). Every way a stream can go (committed, already stored, wrong digest, too
 * many bytes, wrong offset, messages after the answer, cancelled midway) must give every buffer
 * back exactly once: a server with Netty's paranoid leak detection runs them all, collects its
 * garbage, and must neither report a leak nor fail a release, and the blobs must read back intact.
 */
class WriteBufferReleaseTest {
    @TempDir
    Path dir;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void everyStreamGivesItsBuffersBack() throws Exception {
        try (ServerProcess server = ServerProcess.start(dir.resolve("data"), dir.resolve("log"),
                List.of("-Dio.netty.leakDetection.level=paranoid"));
             GrpcTestSupport grpc = new GrpcTestSupport(server.grpcPort())) {
            Random random = new Random(11);
            byte[] data = new byte[3 << 20];
            random.nextBytes(data);
            String digest = sha256(data);

            assertFalse(grpc.write("leak/ok", digest, data).getAlreadyExisted());
            assertTrue(grpc.write("leak/ok", digest, data).getAlreadyExisted());
            GrpcTestSupport.assertStatus(Status.Code.INVALID_ARGUMENT, () -> grpc.write("leak/bad", sha256(new byte[1]), data));
            GrpcTestSupport.assertStatus(Status.Code.INVALID_ARGUMENT, () -> grpc.write(WriteHeader.newBuilder()
                    .setNamespace("leak/big").setDigest(digest).setSize(100_000)
                    .setUploadId(UUID.randomUUID().toString()).build(), 0, data, true));
            GrpcTestSupport.assertStatus(Status.Code.OUT_OF_RANGE, () -> grpc.write(WriteHeader.newBuilder()
                    .setNamespace("leak/offset").setDigest(digest).setSize(data.length)
                    .setUploadId(UUID.randomUUID().toString()).build(), 1 << 20, data, true));
            cancelMidway(grpc, digest, data);

            // Leaks are reported when a leaked buffer has been collected and a later one is tracked.
            for (int i = 0; i < 3; i++) {
                new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(), Long.toString(server.process().pid()), "GC.run").inheritIO().start()
                        .waitFor(30, TimeUnit.SECONDS);
                byte[] more = new byte[(1 << 20) + i];
                random.nextBytes(more);
                assertFalse(grpc.write("leak/after", sha256(more), more).getAlreadyExisted());
            }
            assertEquals(digest, sha256(read(grpc, "leak/ok", digest)));

            String log = server.log();
            assertFalse(log.contains("LEAK:"), () -> "a transport buffer was never released:\n" + log);
            assertFalse(log.contains("IllegalReferenceCountException"),
                    () -> "a transport buffer was released twice:\n" + log);
        }
    }

    /** Sends half of a blob and cancels the call. */
    private static void cancelMidway(GrpcTestSupport grpc, String digest, byte[] data) throws Exception {
        CompletableFuture<WriteBlobResponse> result = new CompletableFuture<>();
        StreamObserver<WriteBlobRequest> requests = grpc.blobsAsync.writeBlob(GrpcTestSupport.observer(result));
        int chunk = 256 << 10;
        for (int off = 0; off < data.length / 2; off += chunk) {
            WriteBlobRequest.Builder msg = WriteBlobRequest.newBuilder().setWriteOffset(off)
                    .setData(ByteString.copyFrom(data, off, chunk));
            if (off == 0) {
                msg.setHeader(WriteHeader.newBuilder().setNamespace("leak/cancel").setDigest(digest)
                        .setSize(data.length).setUploadId(UUID.randomUUID().toString()));
            }
            requests.onNext(msg.build());
        }
        ((ClientCallStreamObserver<WriteBlobRequest>) requests).cancel("test cancels midway", null);
        try {
            result.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            assertEquals(Status.Code.CANCELLED, ((StatusRuntimeException) e.getCause()).getStatus().getCode());
        }
    }

    private static byte[] read(GrpcTestSupport grpc, String namespace, String digest) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Iterator<ReadBlobResponse> it = grpc.blobs.readBlob(ReadBlobRequest.newBuilder().setNamespace(namespace)
                .setDigest(digest).build());
        while (it.hasNext()) {
            out.writeBytes(it.next().getData().toByteArray());
        }
        return out.toByteArray();
    }

    private static String sha256(byte[] b) throws Exception {
        return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }
}
