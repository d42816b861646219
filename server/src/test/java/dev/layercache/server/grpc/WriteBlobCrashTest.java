package dev.layercache.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.layercache.api.v1.QueryWriteStatusRequest;
import dev.layercache.api.v1.ReadBlobRequest;
import dev.layercache.api.v1.ReadBlobResponse;
import dev.layercache.api.v1.WriteBlobRequest;
import dev.layercache.api.v1.WriteBlobResponse;
import dev.layercache.api.v1.WriteHeader;
import dev.layercache.server.testing.ServerProcess;
import io.grpc.stub.ClientCallStreamObserver;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code kill -9} of the server in the middle of a large WriteBlob stream. The server records the
 * stream's progress every 64 MiB without waiting for its file: after a restart,
 * {@code QueryWriteStatus} returns an offset at least one record in, the upload resumes from it
 * with the same id, and the blob reads back with its digest. (That a record never runs ahead of
 * the file, whatever the timing, is {@code UploadProgressTest}'s.)
 */
class WriteBlobCrashTest {
    private static final int MIB = 1 << 20;
    private static final int TOTAL_MIB = 200;
    private static final int SENT_MIB = 160;

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void aStreamCutByKillNineResumesFromWhatWasRecorded() throws Exception {
        byte[] pattern = new byte[MIB];
        new Random(21).nextBytes(pattern);
        String digest = digest(pattern, TOTAL_MIB);
        String namespace = "crash/grpc";
        String uploadId = UUID.randomUUID().toString();
        WriteHeader header = WriteHeader.newBuilder().setNamespace(namespace).setDigest(digest)
                .setSize((long) TOTAL_MIB * MIB).setUploadId(uploadId).build();
        Path data = dir.resolve("data");

        try (ServerProcess server = ServerProcess.start(data, dir.resolve("first.log"));
             GrpcTestSupport grpc = new GrpcTestSupport(server.grpcPort())) {
            CompletableFuture<WriteBlobResponse> never = new CompletableFuture<>();
            ClientCallStreamObserver<WriteBlobRequest> stream = (ClientCallStreamObserver<WriteBlobRequest>)
                    grpc.blobsAsync.writeBlob(GrpcTestSupport.observer(never));
            send(stream, header, pattern, 0, SENT_MIB, false);
            // Until the server has taken in most of what was sent (it records every 64 MiB).
            long held = 0;
            for (int i = 0; i < 600 && held < (SENT_MIB - 20L) * MIB; i++) {
                Thread.sleep(100);
                held = grpc.blobs.queryWriteStatus(QueryWriteStatusRequest.newBuilder().setNamespace(namespace)
                        .setUploadId(uploadId).build()).getCommittedSize();
            }
            assertTrue(held >= (SENT_MIB - 20L) * MIB, "the server took in only " + held + " bytes:\n" + server.log());
            server.kill9();
            assertFalse(never.isDone() && !never.isCompletedExceptionally(), "the stream was never finished");
        }

        try (ServerProcess server = ServerProcess.start(data, dir.resolve("second.log"));
             GrpcTestSupport grpc = new GrpcTestSupport(server.grpcPort())) {
            long committed = grpc.blobs.queryWriteStatus(QueryWriteStatusRequest.newBuilder().setNamespace(namespace)
                    .setUploadId(uploadId).build()).getCommittedSize();
            assertTrue(committed >= 64L * MIB && committed <= (long) SENT_MIB * MIB,
                    "after the crash the upload stands at " + committed + " bytes");

            CompletableFuture<WriteBlobResponse> result = new CompletableFuture<>();
            ClientCallStreamObserver<WriteBlobRequest> stream = (ClientCallStreamObserver<WriteBlobRequest>)
                    grpc.blobsAsync.writeBlob(GrpcTestSupport.observer(result));
            resume(stream, header, pattern, committed);
            WriteBlobResponse done = result.get(2, TimeUnit.MINUTES);
            assertEquals((long) TOTAL_MIB * MIB, done.getCommittedSize());

            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            long read = 0;
            Iterator<ReadBlobResponse> chunks = grpc.blobs.withDeadlineAfter(2, TimeUnit.MINUTES)
                    .readBlob(ReadBlobRequest.newBuilder().setNamespace(namespace).setDigest(digest).build());
            while (chunks.hasNext()) {
                ByteString b = chunks.next().getData();
                sha.update(b.asReadOnlyByteBuffer());
                read += b.size();
            }
            assertEquals((long) TOTAL_MIB * MIB, read);
            assertEquals(digest, "sha256:" + HexFormat.of().formatHex(sha.digest()));
        }
    }

    /** The blob: {@code mib} copies of {@code pattern}, each with its index in its first four bytes. */
    private static byte[] piece(byte[] pattern, int index) {
        byte[] p = pattern.clone();
        p[0] = (byte) (index >>> 24);
        p[1] = (byte) (index >>> 16);
        p[2] = (byte) (index >>> 8);
        p[3] = (byte) index;
        return p;
    }

    private static String digest(byte[] pattern, int mib) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        for (int i = 0; i < mib; i++) {
            sha.update(piece(pattern, i));
        }
        return "sha256:" + HexFormat.of().formatHex(sha.digest());
    }

    /** Sends pieces [from, to) under flow control, with the header first; finishes when asked. */
    private static void send(ClientCallStreamObserver<WriteBlobRequest> stream, WriteHeader header, byte[] pattern,
                             int from, int to, boolean finish) throws InterruptedException {
        for (int i = from; i < to; i++) {
            while (!stream.isReady()) {
                Thread.sleep(1);
            }
            WriteBlobRequest.Builder msg = WriteBlobRequest.newBuilder().setWriteOffset((long) i * MIB)
                    .setData(ByteString.copyFrom(piece(pattern, i)));
            if (i == from) {
                msg.setHeader(header);
            }
            msg.setFinishWrite(finish && i == to - 1);
            stream.onNext(msg.build());
        }
    }

    /** Sends the blob from {@code offset}, which need not fall on a piece's start, and finishes it. */
    private static void resume(ClientCallStreamObserver<WriteBlobRequest> stream, WriteHeader header, byte[] pattern,
                               long offset) throws InterruptedException {
        int first = (int) (offset / MIB);
        int skip = (int) (offset % MIB);
        boolean headerSent = false;
        for (int i = first; i < TOTAL_MIB; i++) {
            while (!stream.isReady()) {
                Thread.sleep(1);
            }
            byte[] p = piece(pattern, i);
            int from = i == first ? skip : 0;
            WriteBlobRequest.Builder msg = WriteBlobRequest.newBuilder().setWriteOffset((long) i * MIB + from)
                    .setData(ByteString.copyFrom(p, from, p.length - from));
            if (!headerSent) {
                msg.setHeader(header);
                headerSent = true;
            }
            msg.setFinishWrite(i == TOTAL_MIB - 1);
            stream.onNext(msg.build());
        }
        stream.onCompleted();
    }
}
