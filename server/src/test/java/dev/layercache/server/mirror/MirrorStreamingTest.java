package dev.layercache.server.mirror;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.ReferenceRegistry;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TestServer;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Many clients pulling one layer the node does not hold yet: one upstream fetch, sent on to every
 * client as it arrives. The upstream (a real Distribution behind {@link HostileUpstream}) sends the
 * first half of the layer and then pauses until the test lets it go on, so "as it arrives" is seen
 * exactly: every client has the first half while the upstream has not sent the second.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class MirrorStreamingTest {
    private static final String NAME = "streaming.test";
    private static final int CLIENTS = 16;
    private static final UpstreamClient.Timeouts TIMEOUTS =
            new UpstreamClient.Timeouts(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(60));
    private static final HostileUpstream.Lazy UPSTREAM = new HostileUpstream.Lazy("layercache-streaming");

    @RegisterExtension
    static final TestServer server = new TestServer(config -> config.withMirror(new ServerConfig.Mirror(List.of(
            new UpstreamSettings(NAME, proxy().url(), UpstreamSettings.Credentials.NONE, Duration.ofMinutes(5))),
            TIMEOUTS)), new TestClock());

    private static HostileUpstream proxy() {
        return UPSTREAM.proxy();
    }

    private static ReferenceRegistry registry() {
        return UPSTREAM.registry();
    }

    @AfterEach
    void honestAgain() {
        proxy().honest();
    }

    @AfterAll
    static void stopUpstream() throws Exception {
        UPSTREAM.close();
    }

    @Test
    void sixteenClientsPullingOne256MiBLayerShareOneFetchAndReadItAsItArrives() throws Exception {
        byte[] layer = random(256 << 20, 1);
        String digest = Registry.sha256(layer);
        registry().push("library/big", "1", null, bytes("config big"), layer);
        String path = "/v2/" + NAME + "/library/big/blobs/" + digest;
        String remote = "/v2/library/big/blobs/" + digest;
        int half = layer.length / 2;
        CountDownLatch goOn = new CountDownLatch(1);
        proxy().behave(x -> {
            if (x.path().equals(remote) && x.method().equals("GET")) {
                x.pauseAfter(x.forward(), half, goOn);
            } else {
                x.relay();
            }
        });
        ExecutorService threads = Executors.newFixedThreadPool(CLIENTS + 2);
        try {
            List<Puller> pullers = new ArrayList<>();
            List<Future<Pulled>> pulls = new ArrayList<>();
            for (int i = 0; i < CLIENTS; i++) {
                Puller p = new Puller(path, List.of(), Long.MAX_VALUE);
                pullers.add(p);
                pulls.add(threads.submit(p));
            }
            // A client that goes away part way, and one asking for a range (which waits for the whole blob).
            Puller leaving = new Puller(path, List.of(), 1 << 20);
            Future<Pulled> left = threads.submit(leaving);
            Future<Http.Reply> ranged = threads.submit(() -> Http.exchange(server.port(), "GET", path,
                    List.of("Range: bytes=" + (layer.length - 10) + "-"), null));

            // Every client has the first half while the upstream holds back the second.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (pullers.stream().anyMatch(p -> p.received.get() < half)) {
                assertTrue(System.nanoTime() < deadline, "the first half did not reach every client: "
                        + pullers.stream().map(p -> p.received.get()).toList());
                Thread.sleep(20);
            }
            for (Puller p : pullers) {
                assertEquals(half, p.received.get(), "no more than the upstream sent");
            }
            assertTrue(left.get(30, TimeUnit.SECONDS).bytes() >= 1 << 20, "the leaving client read, then left");
            assertEquals(1, proxy().requests("GET", remote), "one upstream fetch for all of them");
            assertTrue(!ranged.isDone(), "a range waits for the whole blob");

            goOn.countDown();
            for (Future<Pulled> f : pulls) {
                Pulled p = f.get(2, TimeUnit.MINUTES);
                assertEquals(200, p.status());
                assertEquals(Long.toString(layer.length), p.headers().get("content-length"));
                assertEquals(layer.length, p.bytes(), "the whole layer");
                assertEquals(digest, p.digest(), "its bytes");
            }
            Http.Reply range = ranged.get(1, TimeUnit.MINUTES);
            assertEquals(206, range.status());
            assertArrayEquals(java.util.Arrays.copyOfRange(layer, layer.length - 10, layer.length), range.body());
        } finally {
            threads.shutdownNow();
        }
        assertEquals(1, proxy().requests("GET", remote), "still one upstream fetch");
        Pulled again = new Puller(path, List.of(), Long.MAX_VALUE).call();
        assertEquals(digest, again.digest(), "held now");
        assertEquals(1, proxy().requests("GET", remote), "served from the copy held here");
        assertNoScratchFiles();
    }

    @Test
    void clientsReadingABlobWhoseRestDoesNotVerifyAreCutShortAndNothingIsKept() throws Exception {
        byte[] layer = random(8 << 20, 2);
        String digest = Registry.sha256(layer);
        registry().push("library/lie", "1", null, bytes("config lie"), layer);
        String path = "/v2/" + NAME + "/library/lie/blobs/" + digest;
        String remote = "/v2/library/lie/blobs/" + digest;
        int half = layer.length / 2;
        CountDownLatch goOn = new CountDownLatch(1);
        proxy().behave(x -> {
            if (x.path().equals(remote) && x.method().equals("GET")) {
                HostileUpstream.Answer honest = x.forward();
                byte[] altered = honest.body().clone();
                altered[altered.length - 1] ^= 1; // the very last byte: everything before it is right
                x.pauseAfter(new HostileUpstream.Answer(honest.status(), honest.headers(), altered), half, goOn);
            } else {
                x.relay();
            }
        });
        ExecutorService threads = Executors.newFixedThreadPool(3);
        try {
            List<Puller> pullers = new ArrayList<>();
            List<Future<Pulled>> pulls = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Puller p = new Puller(path, List.of(), Long.MAX_VALUE);
                pullers.add(p);
                pulls.add(threads.submit(p));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (pullers.stream().anyMatch(p -> p.received.get() < half)) {
                assertTrue(System.nanoTime() < deadline, "the first half did not reach every client");
                Thread.sleep(20);
            }
            goOn.countDown();
            for (Future<Pulled> f : pulls) {
                Pulled p = f.get(1, TimeUnit.MINUTES);
                assertEquals(200, p.status(), "the answer had begun");
                assertTrue(p.bytes() >= half && p.bytes() < layer.length, "cut short of the declared length: "
                        + p.bytes() + " bytes (the last one is held back until the blob verifies, which it did not)");
                assertTrue(p.closed(), "and the connection closed");
                assertEquals(sha256(layer, (int) p.bytes()), p.digest(), "what came is the blob's beginning");
            }
        } finally {
            threads.shutdownNow();
        }
        assertNoScratchFiles();
        proxy().honest();
        Pulled right = new Puller(path, List.of(), Long.MAX_VALUE).call();
        assertEquals(digest, right.digest(), "fetched anew");
        assertEquals(2, proxy().requests("GET", remote), "nothing of the lie was kept");
    }

    // ------------------------------------------------------------------ helpers

    /** What one client got: status, headers, how many body bytes, their digest, and whether the connection closed early. */
    private record Pulled(int status, java.util.Map<String, String> headers, long bytes, String digest, boolean closed) {
    }

    /**
     * A client on its own connection that hashes the body as it reads it (sixteen 256 MiB bodies
     * are not kept in memory), telling how far it got ({@link #received}); it goes away after
     * {@code stopAfter} bytes.
     */
    private static final class Puller implements java.util.concurrent.Callable<Pulled> {
        final AtomicLong received = new AtomicLong();
        private final String path;
        private final List<String> headerLines;
        private final long stopAfter;

        Puller(String path, List<String> headerLines, long stopAfter) {
            this.path = path;
            this.headerLines = headerLines;
            this.stopAfter = stopAfter;
        }

        @Override
        public Pulled call() throws Exception {
            try (Socket s = new Socket("127.0.0.1", server.port())) {
                StringBuilder request = new StringBuilder("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
                headerLines.forEach(h -> request.append(h).append("\r\n"));
                OutputStream out = s.getOutputStream();
                out.write(request.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1));
                out.flush();
                InputStream in = new BufferedInputStream(s.getInputStream(), 1 << 16);
                String status = line(in);
                java.util.Map<String, String> headers = new java.util.LinkedHashMap<>();
                for (String l; (l = line(in)) != null && !l.isEmpty(); ) {
                    int colon = l.indexOf(':');
                    headers.put(l.substring(0, colon).trim().toLowerCase(Locale.ROOT), l.substring(colon + 1).trim());
                }
                long length = Long.parseLong(headers.getOrDefault("content-length", "0"));
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                byte[] buffer = new byte[1 << 16];
                long total = 0;
                boolean closed = false;
                while (total < length && total < stopAfter) {
                    int n = in.read(buffer, 0, (int) Math.min(buffer.length, length - total));
                    if (n < 0) {
                        closed = true;
                        break;
                    }
                    sha.update(buffer, 0, n);
                    total += n;
                    received.set(total);
                }
                if (total < length && total >= stopAfter) {
                    s.setSoLinger(true, 0); // a reset, as a killed client leaves
                }
                return new Pulled(Integer.parseInt(status.split(" ")[1]), headers, total,
                        "sha256:" + HexFormat.of().formatHex(sha.digest()), closed);
            }
        }

        private static String line(InputStream in) throws IOException {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            int c;
            while ((c = in.read()) >= 0 && c != '\n') {
                if (c != '\r') {
                    b.write(c);
                }
            }
            return c < 0 && b.size() == 0 ? null : b.toString(StandardCharsets.ISO_8859_1);
        }
    }

    private static void assertNoScratchFiles() throws IOException {
        try (Stream<Path> files = Files.list(server.dataDir().resolve("uploads"))) {
            assertEquals(List.of(), files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("mirror-"))
                    .toList(), "no scratch file left");
        }
    }

    private static String sha256(byte[] b, int length) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        sha.update(b, 0, length);
        return "sha256:" + HexFormat.of().formatHex(sha.digest());
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }
}
