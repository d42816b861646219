package dev.layercache.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.ServerProcess;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server as a separate process, killed with SIGKILL in the middle of a download and started
 * again on the same data and gRPC port: the client resumes from the offset it reached and the
 * bytes verify.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ServerProcessTest {
    @TempDir
    Path work;

    @Test
    void downloadSurvivesKill9AndRestartOfTheServerProcess() throws Exception {
        Path data = Files.createDirectories(work.resolve("data"));
        long size = 120L << 20;
        Path blob = ResumeAndRetryTest.randomFile(work.resolve("blob"), size, 3);
        Digest digest = Digest.sha256(blob);
        ResumeAndRetryTest.Recorder recorder = new ResumeAndRetryTest.Recorder();

        ServerProcess first = ServerProcess.start(data, work.resolve("first.log"));
        // The second process takes over both ports the first was given, so the client's target
        // stays valid and no port is picked while another is free for the taking.
        int grpcPort = first.grpcPort();
        String httpPort = Integer.toString(first.port());
        ServerProcess[] second = new ServerProcess[1];
        try (LayerCacheClient client = LayerCacheClient.builder().target("127.0.0.1:" + grpcPort).plaintext()
                .listener(recorder).build()) {
            assertTrue(client.uploadBlob("process/ns", digest, size, BlobSource.ofFile(blob)));

            CountDownLatch restarted = new CountDownLatch(1);
            MessageDigest ours = MessageDigest.getInstance("SHA-256");
            long[] written = {0};
            OutputStream sink = new OutputStream() {
                @Override
                public void write(int b) {
                    write(new byte[] {(byte) b}, 0, 1);
                }

                @Override
                public void write(byte[] b, int off, int len) {
                    ours.update(b, off, len);
                    written[0] += len;
                    if (written[0] >= 40L << 20 && restarted.getCount() > 0) {
                        try {
                            first.kill9();
                            second[0] = ServerProcess.start(data, work.resolve("second.log"), "--http-port",
                                    httpPort, "--grpc-port", Integer.toString(grpcPort));
                        } catch (Exception e) {
                            throw new RuntimeException(e);
                        }
                        restarted.countDown();
                    }
                }
            };
            assertEquals(size, client.downloadBlob("process/ns", digest, sink));
            assertEquals(0, restarted.getCount(), "the server was killed and restarted mid-download");
            assertEquals(size, written[0]);
            assertEquals(digest, Digest.of(Digest.Algorithm.SHA256, ours.digest()));
            List<TransferEvent> resumed = recorder.of(TransferEvent.Kind.RESUMED);
            assertFalse(resumed.isEmpty(), recorder.transfers.toString());
            assertTrue(resumed.get(0).position() >= 40L << 20, resumed.toString());
        } finally {
            first.close();
            if (second[0] != null) {
                second[0].close();
            }
        }
    }
}
