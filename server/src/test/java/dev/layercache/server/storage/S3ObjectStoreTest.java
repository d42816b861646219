package dev.layercache.server.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.storage.ObjectStore.UnavailableException;
import dev.layercache.server.testing.S3Server;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.function.Executable;

class S3ObjectStoreTest extends ObjectStoreContract {
    @RegisterExtension
    static final S3Server S3 = new S3Server();

    /** Requests seen by the listener, as "operation outcome" counts. */
    private final Map<String, AtomicInteger> requests = new ConcurrentHashMap<>();

    private final S3ObjectStore.RequestListener counting = (operation, outcome, nanos) ->
            requests.computeIfAbsent(operation + " " + outcome, k -> new AtomicInteger()).incrementAndGet();

    /** Each test in its own prefix of the one bucket: as good as an empty bucket, and quick. */
    @Override
    protected ObjectStore open() {
        return S3ObjectStore.open(settings("t-" + UUID.randomUUID()), counting);
    }

    private static S3ObjectStore.Settings settings(String prefix) {
        return S3.settings(prefix).withMultipart(5L << 20, 5L << 20);
    }

    private int count(String request) {
        AtomicInteger n = requests.get(request);
        return n == null ? 0 : n.get();
    }

    @Override
    protected void checkLargeUpload() {
        // 12 MiB in parts of 5: three parts, assembled once, nothing aborted, no single PUT.
        assertEquals(1, count("create_multipart ok"), requests::toString);
        assertEquals(3, count("upload_part ok"), requests::toString);
        assertEquals(1, count("complete_multipart ok"), requests::toString);
        assertEquals(0, count("abort_multipart ok") + count("put_file ok"), requests::toString);
    }

    @Test
    void aFailedMultipartUploadIsAborted() throws Exception {
        Path file = randomFile("shrinking", LARGE_FILE_SIZE);
        // Cut the file once the upload exists: the second and third parts cannot be read whole.
        S3ObjectStore.RequestListener cutting = (operation, outcome, nanos) -> {
            counting.onRequest(operation, outcome, nanos);
            if (operation.equals("create_multipart")) {
                try (var channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
                    channel.truncate(6L << 20);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        };
        try (S3ObjectStore cut = S3ObjectStore.open(settings("cut-" + UUID.randomUUID()), cutting)) {
            assertThrows(IOException.class, () -> cut.putFile("blobs/cut", file, LARGE_FILE_SIZE));
            assertEquals(1, count("abort_multipart ok"), requests::toString);
            assertEquals(0, count("complete_multipart ok"), requests::toString);
            assertNull(cut.get("blobs/cut"));
        }
    }

    @Test
    void anInterruptedCallerGetsInterruptedIOExceptionAndKeepsItsFlag() throws Exception {
        store.put("k", new byte[] {1});
        Thread.currentThread().interrupt();
        try {
            assertThrows(InterruptedIOException.class, () -> store.get("k"));
            assertTrue(Thread.currentThread().isInterrupted());
        } finally {
            Thread.interrupted();
        }
        assertArrayEquals(new byte[] {1}, store.get("k"));
    }

    @Test
    void anInterruptedMultipartUploadIsAbortedAndTheFlagKept() throws Exception {
        Path file = randomFile("large", LARGE_FILE_SIZE);
        Thread uploader = Thread.currentThread();
        S3ObjectStore.RequestListener interrupting = (operation, outcome, nanos) -> {
            counting.onRequest(operation, outcome, nanos);
            if (operation.equals("create_multipart")) {
                uploader.interrupt();
            }
        };
        try (S3ObjectStore interrupted = S3ObjectStore.open(settings("int-" + UUID.randomUUID()), interrupting)) {
            try {
                assertThrows(InterruptedIOException.class,
                        () -> interrupted.putFile("blobs/int", file, LARGE_FILE_SIZE));
                assertTrue(Thread.currentThread().isInterrupted());
            } finally {
                Thread.interrupted();
            }
            // The caller does not wait for the abort; it goes out all the same.
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (count("abort_multipart ok") == 0 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(1, count("abort_multipart ok"), requests::toString);
            assertEquals(0, count("complete_multipart ok"), requests::toString);
            assertNull(interrupted.get("blobs/int"));
        }
    }

    @Test
    void putIfAbsentIsTheBucketsConditionalWrite() throws Exception {
        // s3proxy honours If-None-Match: *, so the second write is refused by the bucket (412)
        // and no read was needed to decide.
        store.putIfAbsent("claim", "first".getBytes(StandardCharsets.UTF_8));
        store.putIfAbsent("claim", "second".getBytes(StandardCharsets.UTF_8));
        assertEquals(Map.of("put_if_absent ok", 2), snapshot());
        assertEquals("first", new String(store.get("claim"), StandardCharsets.UTF_8));
    }

    @Test
    void listenerHearsOfEveryRequestWithItsOutcome() throws Exception {
        store.put("a", new byte[] {1});
        store.get("a");
        store.get("b");
        store.size("a");
        store.size("b");
        store.delete("a");
        store.list("", null, 10);
        assertEquals(Map.of("put ok", 1, "get ok", 1, "get absent", 1, "head ok", 1, "head absent", 1,
                "delete ok", 1, "list ok", 1), snapshot());
    }

    @Test
    void storesWithOtherPrefixesDoNotSeeEachOthersKeys() throws Exception {
        String shared = "iso-" + UUID.randomUUID();
        try (S3ObjectStore one = S3ObjectStore.open(settings(shared + "/one"), counting);
             S3ObjectStore two = S3ObjectStore.open(settings(shared + "/two"), counting);
             S3ObjectStore parent = S3ObjectStore.open(settings(shared), counting)) {
            one.put("k", "one".getBytes(StandardCharsets.UTF_8));
            two.put("k", "two".getBytes(StandardCharsets.UTF_8));
            two.put("only-two", new byte[0]);
            assertEquals("one", new String(one.get("k"), StandardCharsets.UTF_8));
            assertEquals("two", new String(two.get("k"), StandardCharsets.UTF_8));
            assertNull(one.get("only-two"));
            assertEquals(List.of("k"), one.list("", null, 10), "keys come without the store's prefix");
            assertEquals(List.of("k", "only-two"), two.list("", null, 10));
            assertEquals(List.of("one/k", "two/k", "two/only-two"), parent.list("", null, 10));
            one.delete("k");
            assertArrayEquals("two".getBytes(StandardCharsets.UTF_8), two.get("k"));
        }
    }

    @Test
    void aMissingBucketIsUnavailableNotAbsent() throws Exception {
        S3ObjectStore.Settings s = S3.settings("p");
        try (S3ObjectStore lost = S3ObjectStore.open(new S3ObjectStore.Settings(s.endpoint(), s.region(),
                "no-such-bucket", "p", true, s.credentials()), counting)) {
            UnavailableException e = assertThrows(UnavailableException.class, () -> lost.get("k"));
            assertTrue(e.getMessage().contains("no-such-bucket"), e.getMessage());
            assertThrows(UnavailableException.class, () -> lost.list("", null, 10));
            assertThrows(UnavailableException.class, () -> lost.download("k", scratch.resolve("t")));
        }
    }

    @Test
    void anUnreachableBucketFailsFastEverywhereAndRecovers() throws Exception {
        store.put("kept", "before".getBytes(StandardCharsets.UTF_8));
        Path small = scratch.resolve("small");
        Files.writeString(small, "small file");
        Path large = randomFile("large", LARGE_FILE_SIZE);
        Path target = scratch.resolve("target");
        Files.writeString(target, "untouched");
        S3.stop();
        try {
            List<Executable> operations = List.of(
                    () -> store.put("k", new byte[] {1}),
                    () -> store.putFile("k", small, Files.size(small)),
                    () -> store.putFile("k", large, LARGE_FILE_SIZE),
                    () -> store.putIfAbsent("k", new byte[] {1}),
                    () -> store.get("kept"),
                    () -> store.size("kept"),
                    () -> store.download("kept", target),
                    () -> store.delete("kept"),
                    () -> store.list("", null, 10));
            for (Executable operation : operations) {
                long start = System.nanoTime();
                UnavailableException e = assertThrows(UnavailableException.class, operation);
                Duration took = Duration.ofNanos(System.nanoTime() - start);
                assertTrue(took.compareTo(Duration.ofSeconds(5)) < 0, "took " + took + ": " + e.getMessage());
                assertTrue(e.getMessage().contains(S3Server.BUCKET), e.getMessage());
            }
            assertEquals("untouched", Files.readString(target));
            assertEquals(List.of("large", "small", "target"), filesIn(scratch));
        } finally {
            S3.start();
        }
        // The same client (its pooled connections died with the server) works again.
        assertEquals("before", new String(store.get("kept"), StandardCharsets.UTF_8));
        store.putFile("k", large, LARGE_FILE_SIZE);
        assertTrue(store.download("k", target));
        assertEquals(sha256(large), sha256(target));
    }

    @Test
    void aBucketThatNeverAnswersTimesOutWithinSeconds() throws Exception {
        // Accepts connections and never answers: only the call deadline ends the wait.
        ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        List<Socket> accepted = new ArrayList<>();
        Thread acceptor = new Thread(() -> {
            try {
                while (true) {
                    accepted.add(silent.accept());
                }
            } catch (IOException e) {
                // closed: the test is over
            }
        });
        acceptor.start();
        S3ObjectStore.Settings s = S3.settings("p");
        try (S3ObjectStore mute = S3ObjectStore.open(new S3ObjectStore.Settings(
                URI.create("http://127.0.0.1:" + silent.getLocalPort()), s.region(), s.bucket(), "p", true,
                s.credentials()), counting)) {
            long start = System.nanoTime();
            assertThrows(UnavailableException.class, () -> mute.get("k"));
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertTrue(took.compareTo(Duration.ofSeconds(15)) < 0, "took " + took);
            assertEquals(1, count("get error"), requests::toString);
        } finally {
            silent.close();
            acceptor.join();
            for (Socket socket : accepted) {
                socket.close();
            }
        }
    }

    private Map<String, Integer> snapshot() {
        Map<String, Integer> counts = new TreeMap<>();
        requests.forEach((k, v) -> counts.put(k, v.get()));
        return counts;
    }
}
