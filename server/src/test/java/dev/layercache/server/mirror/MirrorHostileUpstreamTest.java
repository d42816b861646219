package dev.layercache.server.mirror;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.ReferenceRegistry;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A node mirroring a real Distribution through a proxy that misbehaves on demand
 * ({@link HostileUpstream}), pulled through over HTTP: an upstream answering 429 or 503, lying
 * about a blob's or a manifest's bytes, stalling a body, or trickling one to a client that goes
 * away. What the node holds still pulls byte for byte; what it does not hold gets a prompt, clear
 * error; nothing wrong or partial is ever stored (an honest pull afterwards goes upstream again).
 * The node waits 2 s for a stalled body ({@link UpstreamClient.Timeouts}), not 30.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class MirrorHostileUpstreamTest {
    private static final String OCI = "application/vnd.oci.image.manifest.v1+json";
    private static final String NAME = "hostile.test";
    private static final Duration INTERVAL = Duration.ofMinutes(5);
    private static final UpstreamClient.Timeouts TIMEOUTS =
            new UpstreamClient.Timeouts(Duration.ofSeconds(2), Duration.ofSeconds(3), Duration.ofSeconds(2));
    private static final TestClock clock = new TestClock();
    private static final HostileUpstream.Lazy UPSTREAM = new HostileUpstream.Lazy("layercache-hostile");

    @RegisterExtension
    static final TestServer server = new TestServer(config -> config.withMirror(new ServerConfig.Mirror(List.of(
            new UpstreamSettings(NAME, proxy().url(), UpstreamSettings.Credentials.NONE, INTERVAL)), TIMEOUTS)), clock);

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

    // ------------------------------------------------------------------ 429 and 5xx

    @Test
    void aRateLimitingUpstreamServesHeldCopiesStaleAndAnswersMissesWith429() throws Exception {
        throttled("library/limited", 429, "TOOMANYREQUESTS", Map.of("Retry-After", "30"));
    }

    @Test
    void aFailingUpstreamServesHeldCopiesStaleAndAnswersMissesWith503() throws Exception {
        throttled("library/failing", 503, "UNAVAILABLE", Map.of());
    }

    /**
     * Pulls an image honestly, then makes the upstream answer {@code status} to everything: the
     * held image still pulls (its tag stale, with a warning), a tag and a blob not held get
     * {@code status} at once; when the upstream is honest again, one HEAD revalidates the tag.
     */
    private void throttled(String repository, int status, String code, Map<String, String> headers) throws Exception {
        ReferenceRegistry.Image image = registry().push(repository, "1", null, bytes("config " + repository),
                random(200_000, repository.hashCode()));
        ReferenceRegistry.Image never = registry().push(repository, "never", null, bytes("never " + repository),
                random(3000, repository.hashCode() + 1));
        String at = "/v2/" + NAME + "/" + repository;
        String remote = "/v2/" + repository;
        assertEquals(200, get(at + "/manifests/1").status());
        for (byte[] blob : image.blobs()) {
            assertEquals(200, get(at + "/blobs/" + Registry.sha256(blob)).status());
        }

        proxy().behave(x -> x.error(status, code, headers));
        clock.advance(INTERVAL.plusSeconds(1));
        Http.Reply stale = get(at + "/manifests/1");
        assertEquals(200, stale.status(), stale.text());
        assertArrayEquals(image.manifest(), stale.body(), "the held copy, byte for byte");
        String warning = stale.header("Warning");
        assertNotNull(warning, "a stale copy says so");
        assertTrue(warning.startsWith("299 - \"layercache: ") && warning.contains("stale")
                && warning.contains(status == 429 ? "RATE_LIMITED" : "SERVER_ERROR"), warning);
        assertEquals(1, proxy().requests("HEAD", remote + "/manifests/1"), "the tag was asked about: " + proxy().requests());
        boolean retryAfter = headers.containsKey("Retry-After");
        if (retryAfter) {
            // The upstream asked not to be asked for 30 s: the next pull is served stale without asking.
            Http.Reply again = get(at + "/manifests/1");
            assertEquals(200, again.status(), again.text());
            assertNotNull(again.header("Warning"), "still stale");
            assertEquals(1, proxy().requests("HEAD", remote + "/manifests/1"), "Retry-After honoured: " + proxy().requests());
        }
        for (byte[] blob : image.blobs()) {
            Http.Reply b = get(at + "/blobs/" + Registry.sha256(blob));
            assertEquals(200, b.status());
            assertArrayEquals(blob, b.body());
        }
        assertArrayEquals(image.manifest(), get(at + "/manifests/" + image.manifestDigest()).body());

        long start = System.nanoTime();
        Http.Reply missing = get(at + "/manifests/never");
        assertEquals(status, missing.status(), missing.text());
        assertTrue(missing.text().contains(code) && missing.text().contains(NAME), missing.text());
        Http.Reply missingBlob = get(at + "/blobs/" + Registry.sha256(never.config()));
        assertEquals(status, missingBlob.status(), missingBlob.text());
        assertTrue(missingBlob.text().contains(code), missingBlob.text());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "prompt answers, not retries or hangs");

        int asked = proxy().requests().size();
        proxy().honest();
        if (retryAfter) {
            assertEquals(asked, proxy().requests().size(), "misses answered 429 without asking while the upstream waits");
            clock.advance(Duration.ofSeconds(31));
        }
        long heads = proxy().requests("HEAD", remote + "/manifests/1");
        long gets = proxy().requests("GET", remote + "/manifests/1");
        Http.Reply fresh = get(at + "/manifests/1");
        assertEquals(200, fresh.status());
        assertArrayEquals(image.manifest(), fresh.body());
        assertNull(fresh.header("Warning"), "revalidated: no longer stale");
        assertEquals(heads + 1, proxy().requests("HEAD", remote + "/manifests/1"), "one HEAD revalidates");
        assertEquals(gets, proxy().requests("GET", remote + "/manifests/1"), "an unmoved tag is not fetched again");
        get(at + "/manifests/1");
        assertEquals(heads + 1, proxy().requests("HEAD", remote + "/manifests/1"), "then trusted for the interval");
        assertEquals(200, get(at + "/manifests/never").status(), "and the miss is fetched now");
    }

    // ------------------------------------------------------------------ a lying upstream

    @Test
    void aBlobWithAlteredBytesIsRefusedAndNotStored() throws Exception {
        lyingBlob("library/altered", (x, a) -> {
            byte[] body = a.body().clone();
            body[body.length / 2] ^= 1;
            x.send(new HostileUpstream.Answer(a.status(), a.headers(), body));
        }, "hash to");
    }

    @Test
    void aBlobOfAnotherDigestIsRefusedAndNotStored() throws Exception {
        byte[] other = random(1234, 99);
        lyingBlob("library/swapped", (x, a) -> x.send(new HostileUpstream.Answer(a.status(), a.headers(), other)),
                "hash to");
    }

    @Test
    void aBlobShorterThanItsDigestIsRefusedAndNotStored() throws Exception {
        // Declares (and sends) fewer bytes than the blob has: a well-framed answer with the wrong content.
        lyingBlob("library/short", (x, a) -> x.sendDeclaring(a, a.body(), a.body().length - 100), "hash to");
    }

    @Test
    void aBlobCutShortOfItsContentLengthIsRefusedAndNotStored() throws Exception {
        // Declares more bytes than it sends, then closes: the connection ends inside the body.
        lyingBlob("library/cut", (x, a) -> x.sendDeclaring(a, a.body(), a.body().length + 100), NAME);
    }

    private interface Lie {
        void tell(HostileUpstream.Exchange x, HostileUpstream.Answer honest) throws IOException;
    }

    /**
     * Pulls a blob while the proxy lies about it: the node refuses with a clear 503 (or cuts the
     * body it began to send short, {@link #assertRefusedOrCutShort}), stores
     * nothing (no scratch file left, and an honest pull afterwards goes upstream again), and then
     * serves the right bytes.
     */
    private void lyingBlob(String repository, Lie lie, String reason) throws Exception {
        byte[] layer = random(150_000, repository.hashCode());
        registry().push(repository, "1", null, bytes("config " + repository), layer);
        String digest = Registry.sha256(layer);
        String path = "/v2/" + NAME + "/" + repository + "/blobs/" + digest;
        String remote = "/v2/" + repository + "/blobs/" + digest;
        proxy().behave(x -> {
            if (x.path().equals(remote) && x.method().equals("GET")) {
                lie.tell(x, x.forward());
            } else {
                x.relay();
            }
        });
        Http.Reply head = Http.exchange(server.port(), "HEAD", path, List.of(), null);
        assertEquals(503, head.status(), "a HEAD waits for the whole fetch, which fails");
        assertRefusedOrCutShort(Http.exchange(server.port(), "GET", path, List.of(), null), digest, reason, layer.length);
        assertEquals(2, proxy().requests("GET", remote), "each pull asked again: nothing was kept");
        assertNoScratchFiles();

        proxy().honest();
        Http.Reply right = get(path);
        assertEquals(200, right.status(), right.text());
        assertArrayEquals(layer, right.body(), "the right bytes, fetched anew");
        assertEquals(3, proxy().requests("GET", remote));
        assertArrayEquals(layer, get(path).body());
        assertEquals(3, proxy().requests("GET", remote), "kept now");
    }

    @Test
    void aManifestThatDoesNotMatchItsDigestIsRefusedAndNotStored() throws Exception {
        String repository = "library/forged";
        ReferenceRegistry.Image image = registry().push(repository, "1", null, bytes("config forged"),
                random(500, 11));
        String at = "/v2/" + NAME + "/" + repository + "/manifests/";
        String remote = "/v2/" + repository + "/manifests/";
        // Valid JSON, another manifest: whitespace added changes the digest, not the meaning.
        proxy().behave(x -> {
            HostileUpstream.Answer a = x.forward();
            if (x.isManifest() && x.method().equals("GET")) {
                byte[] forged = (new String(a.body(), StandardCharsets.UTF_8) + "\n").getBytes(StandardCharsets.UTF_8);
                x.send(new HostileUpstream.Answer(a.status(), a.headers(), forged));
            } else {
                x.send(a);
            }
        });
        Http.Reply byDigest = get(at + image.manifestDigest());
        assertEquals(503, byDigest.status(), byDigest.text());
        assertTrue(byDigest.text().contains("whose digest is"), byDigest.text());
        // By tag, Distribution's Docker-Content-Digest still names the real manifest.
        Http.Reply byTag = get(at + "1");
        assertEquals(503, byTag.status(), byTag.text());
        assertTrue(byTag.text().contains("whose digest is"), byTag.text());

        proxy().honest();
        long gets = proxy().requests("GET", remote);
        Http.Reply right = get(at + image.manifestDigest());
        assertEquals(200, right.status(), right.text());
        assertArrayEquals(image.manifest(), right.body());
        assertArrayEquals(image.manifest(), get(at + "1").body());
        assertEquals(gets + 2, proxy().requests("GET", remote), "both fetched anew: the forgery was not kept");
    }

    // ------------------------------------------------------------------ a slow upstream

    @Test
    void aStalledBlobFailsItsClientsWithinTheIdleTimeoutAndLeavesNothing() throws Exception {
        String repository = "library/stalled";
        byte[] layer = random(3 << 20, 12);
        registry().push(repository, "1", null, bytes("config stalled"), layer);
        String digest = Registry.sha256(layer);
        String path = "/v2/" + NAME + "/" + repository + "/blobs/" + digest;
        String remote = "/v2/" + repository + "/blobs/" + digest;
        proxy().behave(x -> {
            if (x.path().equals(remote)) {
                x.stallAfter(x.forward(), layer.length / 2);
            } else {
                x.relay();
            }
        });
        ExecutorService clients = Executors.newFixedThreadPool(3);
        try {
            long start = System.nanoTime();
            List<Future<Http.Reply>> replies = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                replies.add(clients.submit(() -> get(path)));
            }
            for (Future<Http.Reply> f : replies) {
                assertRefusedOrCutShort(f.get(20, TimeUnit.SECONDS), digest, "stalled", layer.length);
            }
            long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(waited >= TIMEOUTS.idleBody().toMillis() - 100 && waited < 10_000,
                    "failed after the idle timeout (2 s), not at once nor much later: " + waited + " ms");
        } finally {
            clients.shutdownNow();
        }
        assertEquals(1, proxy().requests("GET", remote), "one fetch for the three clients");
        assertNoScratchFiles();

        proxy().honest();
        Http.Reply right = get(path);
        assertEquals(200, right.status(), right.text());
        assertArrayEquals(layer, right.body());
        assertEquals(2, proxy().requests("GET", remote), "fetched anew: nothing partial was kept");
    }

    @Test
    void anUpstreamThatDoesNotAnswerServesTheHeldTagStaleAndTheMissFailsInTime() throws Exception {
        String repository = "library/mute";
        ReferenceRegistry.Image image = registry().push(repository, "1", null, bytes("config mute"), random(800, 13));
        registry().push(repository, "2", null, bytes("config mute 2"), random(800, 14));
        String at = "/v2/" + NAME + "/" + repository + "/manifests/";
        assertEquals(200, get(at + "1").status());
        proxy().behave(HostileUpstream.Exchange::stallBeforeHeaders);
        clock.advance(INTERVAL.plusSeconds(1));
        long start = System.nanoTime();
        Http.Reply stale = get(at + "1");
        assertEquals(200, stale.status(), stale.text());
        assertArrayEquals(image.manifest(), stale.body());
        assertTrue(stale.header("Warning") != null && stale.header("Warning").contains("TIMEOUT"),
                String.valueOf(stale.header("Warning")));
        Http.Reply missing = get(at + "2");
        assertEquals(503, missing.status(), missing.text());
        assertTrue(missing.text().contains("no answer in time"), missing.text());
        long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(waited < 15_000, "two answers within the answer timeout (3 s) each, with room: " + waited + " ms");
    }

    @Test
    void concurrentPullsOfATagFromAMuteUpstreamShareOneWait() throws Exception {
        String repository = "library/crowd";
        ReferenceRegistry.Image image = registry().push(repository, "1", null, bytes("config crowd"), random(800, 16));
        registry().push(repository, "2", null, bytes("config crowd 2"), random(800, 17));
        String at = "/v2/" + NAME + "/" + repository + "/manifests/";
        String remote = "/v2/" + repository + "/manifests/";
        assertEquals(200, get(at + "1").status());
        proxy().behave(HostileUpstream.Exchange::stallBeforeHeaders);
        clock.advance(INTERVAL.plusSeconds(1));
        int clients = 4;
        ExecutorService pool = Executors.newFixedThreadPool(2 * clients);
        try {
            long start = System.nanoTime();
            List<Future<Http.Reply>> held = new ArrayList<>();
            List<Future<Http.Reply>> missing = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                held.add(pool.submit(() -> get(at + "1")));
                missing.add(pool.submit(() -> get(at + "2")));
            }
            for (Future<Http.Reply> f : held) {
                Http.Reply r = f.get(60, TimeUnit.SECONDS);
                assertEquals(200, r.status(), r.text());
                assertArrayEquals(image.manifest(), r.body());
            }
            for (Future<Http.Reply> f : missing) {
                assertEquals(503, f.get(60, TimeUnit.SECONDS).status());
            }
            long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            // Each asking in turn would take clients x 3 s: the ones that queued behind a question
            // take its answer instead.
            assertTrue(waited < 2 * TIMEOUTS.answer().toMillis() + 1000,
                    "one answer timeout for all of them, not one each in turn: " + waited + " ms");
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1, proxy().requests("HEAD", remote + "1"), proxy().requests().toString());
        assertEquals(1, proxy().requests("GET", remote + "2"), proxy().requests().toString());

        proxy().honest();
        Http.Reply fresh = get(at + "1");
        assertEquals(200, fresh.status());
        assertNull(fresh.header("Warning"), "asked again once the upstream answers: " + fresh.header("Warning"));
        assertEquals(200, get(at + "2").status());
    }

    // ------------------------------------------------------------------ a client that goes away

    @Test
    void aClientThatGoesAwayStopsNoOneElsesPull() throws Exception {
        String repository = "library/steady";
        byte[] layer = random(6 << 20, 15);
        registry().push(repository, "1", null, bytes("config steady"), layer);
        String digest = Registry.sha256(layer);
        String path = "/v2/" + NAME + "/" + repository + "/blobs/" + digest;
        String remote = "/v2/" + repository + "/blobs/" + digest;
        // 6 MiB in 256 KiB pieces 100 ms apart: about 2.4 s, each pause well under the idle timeout.
        proxy().behave(x -> {
            if (x.path().equals(remote)) {
                x.trickle(x.forward(), 256 << 10, Duration.ofMillis(100));
            } else {
                x.relay();
            }
        });
        try (Socket leaving = new Socket("127.0.0.1", server.port())) {
            OutputStream out = leaving.getOutputStream();
            out.write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            proxy().awaitRequests("GET", remote, 1, Duration.ofSeconds(10));
            Thread.sleep(300);
            leaving.setSoLinger(true, 0); // a reset, as a killed client leaves
        }
        long start = System.nanoTime();
        Http.Reply whole = get(path);
        assertEquals(200, whole.status(), whole.text());
        assertArrayEquals(layer, whole.body(), "all of it, although the first client went away");
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20));
        assertEquals(1, proxy().requests("GET", remote), "the second client joined the first one's fetch");
        assertArrayEquals(layer, get(path).body());
        assertEquals(1, proxy().requests("GET", remote));
    }

    // ------------------------------------------------------------------ helpers

    /**
     * What a client gets of a blob whose fetch fails: a clear 503 when the fetch failed before its
     * answer began, or, when the client was already being sent the blob as it arrived, a body cut
     * short of its declared length and a closed connection. Never the whole length of wrong bytes.
     */
    static void assertRefusedOrCutShort(Http.Reply reply, String digest, String reason, int length) {
        if (reply.status() == 503) {
            assertTrue(reply.text().contains("UNAVAILABLE") && reply.text().contains(digest)
                    && reply.text().contains(reason), reply.text());
            return;
        }
        assertEquals(200, reply.status(), "503, or a body cut short");
        long declared = Long.parseLong(reply.header("Content-Length"));
        assertTrue(reply.body().length < declared, "cut short: " + reply.body().length + " of " + declared
                + " bytes declared (the blob has " + length + ")");
    }

    private static void assertNoScratchFiles() throws IOException {
        try (Stream<Path> files = Files.list(server.dataDir().resolve("uploads"))) {
            List<String> left = files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("mirror-")).toList();
            assertEquals(List.of(), left, "a refused fetch leaves no scratch file");
        }
    }

    private static Http.Reply get(String path) throws IOException {
        return Http.exchange(server.port(), "GET", path, path.contains("/manifests/") ? List.of("Accept: " + OCI)
                : List.of(), null);
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
