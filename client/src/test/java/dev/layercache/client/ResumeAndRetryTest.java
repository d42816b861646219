package dev.layercache.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;
import java.util.OptionalLong;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Broken streams and an absent server: a 200 MiB download and a 64 MiB upload each survive a
 * server restart in their middle (same data, same ports) and verify; calls made while the server
 * is down succeed once it is back.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ResumeAndRetryTest {
    @TempDir
    Path work;

    /** Records everything the client reports. */
    static final class Recorder implements ClientListener {
        final List<RetryEvent> retries = new CopyOnWriteArrayList<>();
        final List<TransferEvent> transfers = new CopyOnWriteArrayList<>();

        @Override
        public void onRetry(RetryEvent event) {
            retries.add(event);
        }

        @Override
        public void onTransfer(TransferEvent event) {
            if (event.kind() != TransferEvent.Kind.PROGRESS) {
                transfers.add(event);
            }
        }

        List<TransferEvent> of(TransferEvent.Kind kind) {
            return transfers.stream().filter(e -> e.kind() == kind).toList();
        }
    }

    static Path randomFile(Path file, long size, long seed) throws IOException {
        Random random = new Random(seed);
        byte[] buffer = new byte[1 << 20];
        try (OutputStream out = Files.newOutputStream(file)) {
            for (long left = size; left > 0; left -= buffer.length) {
                random.nextBytes(buffer);
                out.write(buffer, 0, (int) Math.min(buffer.length, left));
            }
        }
        return file;
    }

    @Test
    void downloadResumesAfterTheServerRestartsInTheMiddle() throws Exception {
        long size = 200L << 20;
        Path blob = randomFile(work.resolve("big"), size, 1);
        Digest digest = Digest.sha256(blob);
        Recorder recorder = new Recorder();
        try (Node node = Node.start(Files.createDirectories(work.resolve("data")));
             LayerCacheClient client = node.client(recorder)) {
            assertTrue(client.uploadBlob("resume/down", digest, size, BlobSource.ofFile(blob)));

            CountDownLatch reachedMiddle = new CountDownLatch(1);
            CountDownLatch restarted = new CountDownLatch(1);
            CompletableFuture<Void> restarter = CompletableFuture.runAsync(() -> {
                try {
                    reachedMiddle.await();
                    node.restart();
                    restarted.countDown();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
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
                    if (written[0] >= 60L << 20 && reachedMiddle.getCount() > 0) {
                        // Stall the reader: the server's graceful stop then has to abort the stream.
                        reachedMiddle.countDown();
                        try {
                            assertTrue(restarted.await(60, TimeUnit.SECONDS), "restart");
                        } catch (InterruptedException e) {
                            throw new RuntimeException(e);
                        }
                    }
                }
            };
            long got = client.downloadBlob("resume/down", digest, sink);
            restarter.get(60, TimeUnit.SECONDS);

            assertEquals(size, got);
            assertEquals(size, written[0]);
            assertEquals(digest, Digest.of(Digest.Algorithm.SHA256, ours.digest()), "the bytes verify");
            List<TransferEvent> resumed = recorder.of(TransferEvent.Kind.RESUMED);
            assertFalse(resumed.isEmpty(), "the download resumed: " + recorder.transfers);
            assertTrue(resumed.get(0).position() >= 60L << 20 && resumed.get(0).position() < size,
                    "it resumed from the offset it reached, not from 0: " + resumed);
            assertFalse(recorder.retries.isEmpty());
        }
    }

    @Test
    void uploadResumesFromWhatTheServerCommitted() throws Exception {
        long size = 64L << 20;
        Path blob = randomFile(work.resolve("up"), size, 2);
        Digest digest = Digest.sha256(blob);
        Recorder recorder = new Recorder();
        try (Node node = Node.start(Files.createDirectories(work.resolve("data")));
             LayerCacheClient client = node.client(recorder)) {
            CountDownLatch reachedMiddle = new CountDownLatch(1);
            CountDownLatch restarted = new CountDownLatch(1);
            AtomicBoolean firstOpen = new AtomicBoolean(true);
            List<Long> opens = new CopyOnWriteArrayList<>();
            BlobSource file = BlobSource.ofFile(blob);
            BlobSource stalling = offset -> {
                opens.add(offset);
                InputStream in = file.open(offset);
                if (!firstOpen.getAndSet(false)) {
                    return in;
                }
                return new FilterInputStream(in) {
                    long read = offset;

                    @Override
                    public int read(byte[] b, int off, int len) throws IOException {
                        if (read >= 24L << 20 && reachedMiddle.getCount() > 0) {
                            reachedMiddle.countDown();
                            try {
                                assertTrue(restarted.await(60, TimeUnit.SECONDS), "restart");
                            } catch (InterruptedException e) {
                                throw new IOException(e);
                            }
                        }
                        int n = super.read(b, off, len);
                        if (n > 0) {
                            read += n;
                        }
                        return n;
                    }
                };
            };
            CompletableFuture<Void> restarter = CompletableFuture.runAsync(() -> {
                try {
                    reachedMiddle.await();
                    node.restart();
                    restarted.countDown();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            assertTrue(client.uploadBlob("resume/up", digest, size, stalling));
            restarter.get(60, TimeUnit.SECONDS);

            assertEquals(OptionalLong.of(size), client.statBlob("resume/up", digest));
            List<TransferEvent> resumed = recorder.of(TransferEvent.Kind.RESUMED);
            assertEquals(1, resumed.size(), recorder.transfers.toString());
            assertTrue(resumed.get(0).position() > 0, "resumed from the committed size, not from 0: " + resumed);
            assertEquals(List.of(0L, resumed.get(0).position()), opens, "the source reopened at the committed size");
            // And the stored blob is the file, byte for byte.
            MessageDigest check = MessageDigest.getInstance("SHA-256");
            client.downloadBlob("resume/up", digest, new OutputStream() {
                @Override
                public void write(int b) {
                    check.update((byte) b);
                }

                @Override
                public void write(byte[] b, int off, int len) {
                    check.update(b, off, len);
                }
            });
            assertEquals(digest, Digest.of(Digest.Algorithm.SHA256, check.digest()));
        }
    }

    @Test
    void callsRetryWhileTheServerIsDownAndSucceedWhenItIsBack() throws Exception {
        Recorder recorder = new Recorder();
        try (Node node = Node.start(Files.createDirectories(work.resolve("data")));
             LayerCacheClient client = node.client(recorder)) {
            byte[] content = "hello".getBytes();
            Digest d = Digest.sha256(content);
            client.uploadBlob("retry/ns", d, content.length, BlobSource.ofBytes(content));
            node.stop();
            CompletableFuture<OptionalLong> call = CompletableFuture.supplyAsync(() -> client.statBlob("retry/ns", d));
            Thread.sleep(1500);
            assertFalse(call.isDone(), "the call waits, retrying");
            node.startAgain();
            assertEquals(OptionalLong.of(content.length), call.get(30, TimeUnit.SECONDS));
            assertFalse(recorder.retries.isEmpty());
            RetryEvent first = recorder.retries.get(0);
            assertEquals(Status.Code.UNAVAILABLE, first.code());
            assertEquals("StatBlob", first.operation());
            assertEquals(1, first.attempt());
        }
    }

    @Test
    void aServerThatStaysAwayFailsWithUnavailableAfterTheAttempts() throws Exception {
        Recorder recorder = new Recorder();
        int port;
        try (Node node = Node.start(Files.createDirectories(work.resolve("data")))) {
            port = node.grpcPort();
        }
        RetryPolicy policy = new RetryPolicy(3, Duration.ofMillis(50), Duration.ofMillis(200), 2.0, 0.5);
        try (LayerCacheClient client = LayerCacheClient.builder().target("127.0.0.1:" + port).plaintext()
                .retryPolicy(policy).listener(recorder).build()) {
            long start = System.nanoTime();
            LayerCacheException e = assertThrows(LayerCacheException.class,
                    () -> client.getEntry("retry/gone", CacheKey.parse("sha256:" + "0".repeat(64))));
            assertEquals(Status.Code.UNAVAILABLE, e.code());
            assertTrue(e.getMessage().contains("server unreachable at 127.0.0.1:" + port), e.getMessage());
            assertEquals(2, recorder.retries.size(), "3 attempts: 2 retries");
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5));
        }
    }

    @Test
    void backoffGrowsWithJitterWithinBounds() {
        RetryPolicy p = new RetryPolicy(10, Duration.ofMillis(100), Duration.ofSeconds(1), 2.0, 0.2);
        Random r = new Random(3);
        for (int n = 1; n <= 8; n++) {
            long base = Math.min(1000, 100L << (n - 1));
            for (int i = 0; i < 50; i++) {
                long ms = p.delayAfter(n, r).toMillis();
                assertTrue(ms >= base * 0.8 - 1 && ms <= base * 1.2 + 1, n + ": " + ms);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new RetryPolicy(0, Duration.ZERO, Duration.ZERO, 1, 0));
    }
}
