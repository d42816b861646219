package dev.layercache.server.mirror;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.layercache.server.core.Digest;
import dev.layercache.server.mirror.UpstreamClient.BlobBody;
import dev.layercache.server.mirror.UpstreamClient.Timeouts;
import dev.layercache.server.mirror.UpstreamException.Kind;
import dev.layercache.server.testing.TestClock;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What an upstream can do that Distribution will not do on demand, played by the JDK's HTTP server:
 * 429, 503 and other statuses, answers that never come or stall halfway, redirects to a "CDN" on
 * another host (which must never see the upstream's credentials), manifests that do not match
 * their digest, challenges that cannot be answered, and a token flow whose token the "registry"
 * checks itself.
 */
class UpstreamFailuresTest {
    static final List<String> ACCEPT = List.of("application/vnd.oci.image.manifest.v1+json");
    static final Timeouts QUICK = new Timeouts(Duration.ofSeconds(2), Duration.ofMillis(800), Duration.ofMillis(800));
    static final String MANIFEST = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}";
    static final Digest MANIFEST_DIGEST = Digest.sha256(MANIFEST.getBytes(StandardCharsets.UTF_8));

    /** One request as a stub saw it. */
    record Seen(String method, String path, String authorization) {
    }

    /** A stub server: a handler per path, every request recorded. */
    static final class Stub implements AutoCloseable {
        interface Handler {
            void handle(HttpExchange exchange) throws Exception;
        }

        final HttpServer server;
        final ExecutorService threads = Executors.newCachedThreadPool();
        final Map<String, Handler> handlers = new ConcurrentHashMap<>();
        final List<Seen> seen = new CopyOnWriteArrayList<>();

        Stub() throws IOException {
            server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 32);
            server.setExecutor(threads);
            server.createContext("/", exchange -> {
                try (exchange) {
                    seen.add(new Seen(exchange.getRequestMethod(), exchange.getRequestURI().getPath(),
                            exchange.getRequestHeaders().getFirst("Authorization")));
                    Handler h = handlers.get(exchange.getRequestURI().getPath());
                    if (h == null) {
                        send(exchange, 404, "{\"errors\":[{\"code\":\"NAME_UNKNOWN\"}]}");
                    } else {
                        h.handle(exchange);
                    }
                } catch (Exception e) {
                    // a handler cut off by the client or by the end of the test
                }
            });
            server.start();
        }

        /** {@code http://HOST:PORT} with HOST 127.0.0.1 or localhost: two hosts for one server. */
        URI url(String host) {
            return URI.create("http://" + host + ":" + server.getAddress().getPort());
        }

        List<Seen> seen(String path) {
            return seen.stream().filter(s -> s.path.equals(path)).toList();
        }

        @Override
        public void close() {
            server.stop(0);
            threads.shutdownNow();
        }
    }

    static void send(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().putIfAbsent("Content-Type", List.of("application/json"));
        boolean head = exchange.getRequestMethod().equals("HEAD");
        exchange.sendResponseHeaders(status, bytes.length == 0 || head ? -1 : bytes.length);
        if (!head) {
            exchange.getResponseBody().write(bytes);
        }
    }

    Stub registry;
    Stub cdn;
    final CountDownLatch end = new CountDownLatch(1);

    @BeforeEach
    void start() throws IOException {
        registry = new Stub();
        cdn = new Stub();
    }

    @AfterEach
    void stop() {
        end.countDown();
        registry.close();
        cdn.close();
    }

    UpstreamClient client(UpstreamSettings.Credentials credentials) {
        return new UpstreamClient(new UpstreamSettings("stub.test", registry.url("127.0.0.1"), credentials,
                UpstreamSettings.DEFAULT_REVALIDATE), new TestClock(), QUICK);
    }

    UpstreamException fails(Kind kind, org.junit.jupiter.api.function.Executable call) {
        UpstreamException e = assertThrows(UpstreamException.class, call);
        assertEquals(kind, e.kind(), e.getMessage());
        assertTrue(e.getMessage().startsWith("upstream stub.test: "), e.getMessage());
        return e;
    }

    @Test
    void statusesMapToKinds() {
        String path = "/v2/library/busybox/manifests/1.36";
        AtomicInteger status = new AtomicInteger();
        registry.handlers.put(path, x -> send(x, status.get(), status.get() == 429
                ? "{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"You have reached your pull rate limit.\"}]}" : ""));
        UpstreamClient upstream = client(UpstreamSettings.Credentials.NONE);
        Map<Integer, Kind> expected = Map.of(429, Kind.RATE_LIMITED, 503, Kind.SERVER_ERROR, 500, Kind.SERVER_ERROR,
                502, Kind.SERVER_ERROR, 403, Kind.DENIED, 404, Kind.NOT_FOUND, 400, Kind.INVALID, 204, Kind.INVALID);
        for (Map.Entry<Integer, Kind> e : expected.entrySet()) {
            status.set(e.getKey());
            UpstreamException get = fails(e.getValue(), () -> upstream.getManifest("library/busybox", "1.36", ACCEPT, 65536));
            assertEquals(e.getKey(), get.status());
            UpstreamException head = fails(e.getValue(), () -> upstream.headManifest("library/busybox", "1.36", ACCEPT));
            assertEquals(e.getKey(), head.status());
            assertEquals(e.getKey() == 429 || e.getKey() >= 500, get.serveStale(), get.getMessage());
        }
        status.set(429);
        UpstreamException limited = fails(Kind.RATE_LIMITED,
                () -> upstream.getManifest("library/busybox", "1.36", ACCEPT, 65536));
        assertTrue(limited.getMessage().contains("answered 429 TOOMANYREQUESTS"), limited.getMessage());
        assertEquals(2 * expected.size() + 1, registry.seen(path).size(), "no retries of a status");
    }

    @Test
    void anAnswerThatNeverComesIsATimeout() {
        registry.handlers.put("/v2/slow/manifests/1", x -> end.await());
        UpstreamClient upstream = client(UpstreamSettings.Credentials.NONE);
        long start = System.nanoTime();
        UpstreamException e = fails(Kind.TIMEOUT, () -> upstream.headManifest("slow", "1", ACCEPT));
        assertTrue(e.serveStale());
        assertWithin(start, Duration.ofMillis(700), Duration.ofSeconds(5));
    }

    @Test
    void aBodyThatStallsFailsTheReadInsteadOfHangingIt() throws Exception {
        Digest digest = Digest.sha256(new byte[] {7});
        String path = "/v2/stall/blobs/" + digest;
        registry.handlers.put(path, x -> {
            x.sendResponseHeaders(200, 1 << 20);
            OutputStream out = x.getResponseBody();
            out.write(new byte[1000]);
            out.flush();
            end.await();
        });
        registry.handlers.put("/v2/stall/manifests/1", x -> {
            x.getResponseHeaders().set("Content-Type", "application/vnd.oci.image.manifest.v1+json");
            x.sendResponseHeaders(200, 1000);
            x.getResponseBody().write("{\"schema".getBytes(StandardCharsets.UTF_8));
            x.getResponseBody().flush();
            end.await();
        });
        UpstreamClient upstream = client(UpstreamSettings.Credentials.NONE);
        try (BlobBody blob = upstream.getBlob("stall", digest)) {
            assertEquals(1 << 20, blob.length());
            InputStream in = blob.stream();
            assertEquals(1000, in.readNBytes(1000).length, "what came is read");
            long start = System.nanoTime();
            IOException stalled = assertThrows(IOException.class, in::read);
            assertTrue(stalled instanceof SocketTimeoutException, stalled.toString());
            assertWithin(start, Duration.ofMillis(700), Duration.ofSeconds(5));
            assertEquals(Kind.TIMEOUT, UpstreamClient.failure(upstream.name(), "GET " + path, stalled).kind());
            assertThrows(IOException.class, in::read, "and stays failed");
        }
        // Closed by another thread (the mirror giving up on a fetch): the blocked read ends at once.
        try (BlobBody blob = upstream.getBlob("stall", digest)) {
            blob.stream().readNBytes(1000);
            Thread closer = new Thread(() -> {
                try {
                    Thread.sleep(100);
                    blob.close();
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            });
            closer.start();
            long start = System.nanoTime();
            IOException closed = assertThrows(IOException.class, () -> blob.stream().read());
            assertTrue(closed.getMessage().contains("closed"), closed.toString());
            assertWithin(start, Duration.ZERO, Duration.ofMillis(600));
            closer.join();
        }
        long start = System.nanoTime();
        fails(Kind.TIMEOUT, () -> upstream.getManifest("stall", "1", ACCEPT, 65536));
        assertWithin(start, Duration.ofMillis(700), Duration.ofSeconds(5));
    }

    @Test
    void aSlowButSteadyBodyMayTakeLongerThanTheAnswerTimeout() throws Exception {
        // A 256 MiB layer takes longer than 15 s on many links: only a stall may end a body, not its length.
        Digest digest = Digest.sha256(new byte[] {9});
        registry.handlers.put("/v2/trickle/blobs/" + digest, x -> {
            x.sendResponseHeaders(200, 25 * 100);
            for (int i = 0; i < 25; i++) {
                x.getResponseBody().write(new byte[100]);
                x.getResponseBody().flush();
                Thread.sleep(100);
            }
        });
        UpstreamClient upstream = client(UpstreamSettings.Credentials.NONE);
        long start = System.nanoTime();
        try (BlobBody blob = upstream.getBlob("trickle", digest)) {
            assertEquals(2500, blob.stream().readAllBytes().length);
        }
        assertWithin(start, QUICK.answer().multipliedBy(2), Duration.ofSeconds(10));
    }

    @Test
    void aRedirectToAnotherHostLeavesTheCredentialsBehind() throws Exception {
        byte[] layer = "layer bytes from the CDN".getBytes(StandardCharsets.UTF_8);
        Digest digest = Digest.sha256(layer);
        String blobPath = "/v2/library/busybox/blobs/" + digest;
        AtomicInteger tokens = new AtomicInteger();
        registry.handlers.put("/token", x -> {
            tokens.incrementAndGet();
            send(x, 200, "{\"token\":\"tok-" + tokens.get() + "\",\"expires_in\":300}");
        });
        String challenge = "Bearer realm=\"" + registry.url("127.0.0.1") + "/token\",service=\"stub\","
                + "scope=\"repository:library/busybox:pull\"";
        registry.handlers.put(blobPath, x -> {
            if (!"Bearer tok-1".equals(x.getRequestHeaders().getFirst("Authorization"))) {
                x.getResponseHeaders().set("WWW-Authenticate", challenge);
                send(x, 401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
                return;
            }
            // Same origin first (keeps the token), then the CDN on another host name (must not get it).
            x.getResponseHeaders().set("Location", "/v2/library/busybox/moved/" + digest.hex());
            x.sendResponseHeaders(307, -1);
        });
        registry.handlers.put("/v2/library/busybox/moved/" + digest.hex(), x -> {
            x.getResponseHeaders().set("Location", cdn.url("localhost") + "/cdn/" + digest.hex() + "?sig=abc");
            x.sendResponseHeaders(302, -1);
        });
        cdn.handlers.put("/cdn/" + digest.hex(), x -> {
            x.sendResponseHeaders(200, layer.length);
            x.getResponseBody().write(layer);
        });
        UpstreamClient upstream = client(new UpstreamSettings.Credentials("robot", "robot-secret"));
        try (BlobBody blob = upstream.getBlob("library/busybox", digest)) {
            assertEquals(layer.length, blob.length());
            assertArrayEquals(layer, blob.stream().readAllBytes());
        }
        assertEquals(List.of(new Seen("GET", "/cdn/" + digest.hex(), null)), cdn.seen, "the CDN got no Authorization");
        assertEquals("Bearer tok-1", registry.seen("/v2/library/busybox/moved/" + digest.hex()).get(0).authorization(),
                "the upstream's own origin keeps it");
        assertEquals(List.of(new Seen("GET", blobPath, null), new Seen("GET", blobPath, "Bearer tok-1")),
                registry.seen(blobPath));
        assertTrue(registry.seen("/token").get(0).authorization().startsWith("Basic "), "credentials go to the realm");

        // The CDN failing is reported as such, not as a refusal of the upstream's.
        cdn.handlers.put("/cdn/" + digest.hex(), x -> send(x, 503, ""));
        UpstreamException e = fails(Kind.SERVER_ERROR, () -> upstream.getBlob("library/busybox", digest));
        assertTrue(e.getMessage().contains("redirected to localhost"), e.getMessage());
        assertEquals(1, tokens.get(), "one token for both pulls");
    }

    @Test
    void aRefusedTokenIsReplacedOnce() throws Exception {
        AtomicInteger tokens = new AtomicInteger();
        registry.handlers.put("/token", x -> send(x, 200, "{\"access_token\":\"tok-" + tokens.incrementAndGet() + "\"}"));
        AtomicInteger accepted = new AtomicInteger(1);
        registry.handlers.put("/v2/app/manifests/1", x -> {
            if (!("Bearer tok-" + accepted.get()).equals(x.getRequestHeaders().getFirst("Authorization"))) {
                x.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"fallback\"");
                x.getResponseHeaders().add("WWW-Authenticate", "Bearer realm=\"" + registry.url("127.0.0.1")
                        + "/token\",service=\"stub\",error=\"invalid_token\"");
                send(x, 401, "");
                return;
            }
            x.getResponseHeaders().set("Content-Type", "application/vnd.oci.image.manifest.v1+json");
            send(x, 200, MANIFEST);
        });
        UpstreamClient upstream = client(UpstreamSettings.Credentials.NONE);
        assertEquals(MANIFEST_DIGEST, upstream.getManifest("app", "1", ACCEPT, 65536).digest());
        assertEquals(1, tokens.get());
        accepted.set(2); // the upstream revokes tok-1 before it expires
        assertEquals(MANIFEST_DIGEST, upstream.getManifest("app", "1", ACCEPT, 65536).digest());
        assertEquals(2, tokens.get());
        accepted.set(99); // and then refuses every token
        fails(Kind.DENIED, () -> upstream.getManifest("app", "1", ACCEPT, 65536));
        assertEquals(3, tokens.get(), "one new token, one retry, then DENIED");
    }

    @Test
    void challengesThatCannotBeAnswered() {
        AtomicInteger realmCalls = new AtomicInteger();
        registry.handlers.put("/token", x -> {
            realmCalls.incrementAndGet();
            send(x, 503, "");
        });
        Map<String, Kind> challenges = Map.of(
                "Bearer realm=\"ftp://127.0.0.1/token\",service=\"stub\"", Kind.INVALID,
                "Bearer service=\"stub\"", Kind.INVALID,
                "Negotiate abc==", Kind.DENIED,
                "Bearer realm=\"" + registry.url("127.0.0.1") + "/token\"", Kind.SERVER_ERROR);
        UpstreamClient upstream = client(UpstreamSettings.Credentials.NONE);
        for (Map.Entry<String, Kind> c : challenges.entrySet()) {
            registry.handlers.put("/v2/app/manifests/1", x -> {
                x.getResponseHeaders().set("WWW-Authenticate", c.getKey());
                send(x, 401, "");
            });
            fails(c.getValue(), () -> upstream.headManifest("app", "1", ACCEPT));
        }
        assertEquals(1, realmCalls.get());
    }

    @Test
    void manifestsAreCheckedAgainstTheirDigest() throws Exception {
        String other = MANIFEST.replace("2", "3");
        registry.handlers.put("/v2/app/manifests/" + MANIFEST_DIGEST, x -> {
            x.getResponseHeaders().set("Content-Type", "application/vnd.oci.image.manifest.v1+json");
            send(x, 200, other);
        });
        registry.handlers.put("/v2/app/manifests/tagged", x -> {
            x.getResponseHeaders().set("Docker-Content-Digest", MANIFEST_DIGEST.toString());
            send(x, 200, other);
        });
        registry.handlers.put("/v2/app/manifests/untyped", x -> {
            x.getResponseHeaders().set("Content-Type", "");
            send(x, 200, MANIFEST);
        });
        UpstreamClient upstream = client(UpstreamSettings.Credentials.NONE);
        UpstreamException byDigest = fails(Kind.INVALID,
                () -> upstream.getManifest("app", MANIFEST_DIGEST.toString(), ACCEPT, 65536));
        assertTrue(byDigest.getMessage().contains("not " + MANIFEST_DIGEST), byDigest.getMessage());
        fails(Kind.INVALID, () -> upstream.getManifest("app", "tagged", ACCEPT, 65536));
        fails(Kind.INVALID, () -> upstream.headManifest("app", "untyped", ACCEPT)); // no Docker-Content-Digest
        UpstreamClient.FetchedManifest untyped = upstream.getManifest("app", "untyped", ACCEPT, 65536);
        assertEquals("application/vnd.oci.image.manifest.v1+json", untyped.mediaType(), "from the manifest's own field");
        assertEquals(MANIFEST_DIGEST, untyped.digest());
    }

    @Test
    void redirectsWithoutEnd() {
        registry.handlers.put("/v2/app/manifests/1", x -> {
            x.getResponseHeaders().set("Location", "/v2/app/manifests/1");
            x.sendResponseHeaders(302, -1);
        });
        registry.handlers.put("/v2/app/manifests/2", x -> {
            x.getResponseHeaders().set("Location", "file:///etc/passwd");
            x.sendResponseHeaders(302, -1);
        });
        UpstreamClient upstream = client(UpstreamSettings.Credentials.NONE);
        fails(Kind.INVALID, () -> upstream.headManifest("app", "1", ACCEPT));
        assertEquals(6, registry.seen("/v2/app/manifests/1").size(), "the request and five redirects");
        fails(Kind.INVALID, () -> upstream.headManifest("app", "2", ACCEPT));
    }

    @Test
    void namesThatAreNotRepositoryNamesNeverReachAUrl() {
        UpstreamClient upstream = client(UpstreamSettings.Credentials.NONE);
        assertThrows(IllegalArgumentException.class, () -> upstream.headManifest("../admin", "1", ACCEPT));
        assertThrows(IllegalArgumentException.class, () -> upstream.headManifest("app", "1?x=y", ACCEPT));
        assertEquals(List.of(), registry.seen);
    }

    static void assertWithin(long startNanos, Duration atLeast, Duration atMost) {
        Duration took = Duration.ofNanos(System.nanoTime() - startNanos);
        assertTrue(took.compareTo(atLeast) >= 0 && took.compareTo(atMost) <= 0, "took " + took);
    }
}
