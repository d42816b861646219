package dev.layercache.server.mirror;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.LazyUpstream;
import dev.layercache.server.testing.ReferenceRegistry;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TestServer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A node mirroring a real upstream (Debian's CNCF Distribution), pulled through over HTTP the
 * three ways clients ask (docs/mirror.md): the upstream's requests are counted in its access log,
 * so "fetched once", "revalidated after the interval, not before" and "one fetch for many" are
 * checked against what the upstream really saw.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class MirrorHttpTest {
    private static final String OCI = "application/vnd.oci.image.manifest.v1+json";
    private static final Duration INTERVAL = Duration.ofMinutes(5);
    private static final TestClock clock = new TestClock();
    private static final LazyUpstream REGISTRY = new LazyUpstream("layercache-upstream");

    @RegisterExtension
    static final TestServer server = new TestServer(config -> config.withMirror(new ServerConfig.Mirror(List.of(
            new UpstreamSettings("upstream.test", upstream().url(), UpstreamSettings.Credentials.NONE, INTERVAL),
            new UpstreamSettings("docker.io", upstream().url(), UpstreamSettings.Credentials.NONE, INTERVAL)))),
            clock);

    /** Started before the node, which needs its address in its configuration. */
    private static ReferenceRegistry upstream() {
        return REGISTRY.get();
    }

    @AfterAll
    static void stopUpstream() throws Exception {
        REGISTRY.close();
    }

    @Test
    void pulledByPathPrefixAndByNsFromOneCopyFetchedOnce() throws Exception {
        ReferenceRegistry.Image image = upstream().push("library/alpha", "1", null, bytes("config alpha"),
                random(300_000, 1), random(5_000, 2));
        Http.Reply m = get("/v2/upstream.test/library/alpha/manifests/1", OCI);
        assertEquals(200, m.status(), m.text());
        assertArrayEquals(image.manifest(), m.body(), "the upstream's manifest, byte for byte");
        assertEquals(image.manifestDigest(), m.header("Docker-Content-Digest"));
        for (byte[] blob : image.blobs()) {
            Http.Reply b = get("/v2/upstream.test/library/alpha/blobs/" + Registry.sha256(blob), null);
            assertEquals(200, b.status(), b.text());
            assertArrayEquals(blob, b.body());
        }
        long manifestGets = upstream().requests("GET", "/v2/library/alpha/manifests/");
        long blobGets = upstream().requests("GET", "/v2/library/alpha/blobs/");
        assertEquals(1, manifestGets, upstream().logText());
        assertEquals(3, blobGets);

        // containerd's ?ns= and a second pull by path: served from the same copy, the upstream not asked.
        Http.Reply byNs = get("/v2/library/alpha/manifests/1?ns=upstream.test", OCI);
        assertEquals(200, byNs.status(), byNs.text());
        assertArrayEquals(image.manifest(), byNs.body());
        for (byte[] blob : image.blobs()) {
            assertArrayEquals(blob, get("/v2/library/alpha/blobs/" + Registry.sha256(blob) + "?ns=upstream.test", null)
                    .body());
        }
        assertEquals(200, get("/v2/upstream.test/library/alpha/manifests/" + image.manifestDigest(), OCI).status());
        assertEquals(manifestGets, upstream().requests("GET", "/v2/library/alpha/manifests/"));
        assertEquals(blobGets, upstream().requests("GET", "/v2/library/alpha/blobs/"));
        assertEquals(0, upstream().requests("HEAD", "/v2/library/alpha/manifests/"), "within the interval");
    }

    @Test
    void aMovedTagIsSeenAfterTheIntervalNotBefore() throws Exception {
        ReferenceRegistry.Image first = upstream().push("library/beta", "latest", null, bytes("config beta 1"),
                random(1000, 3));
        assertEquals(first.manifestDigest(), get("/v2/upstream.test/library/beta/manifests/latest", OCI)
                .header("Docker-Content-Digest"));
        ReferenceRegistry.Image moved = upstream().push("library/beta", "latest", null, bytes("config beta 2"),
                random(1000, 4));

        clock.advance(INTERVAL.minusSeconds(30));
        assertEquals(first.manifestDigest(), get("/v2/upstream.test/library/beta/manifests/latest", OCI)
                .header("Docker-Content-Digest"), "trusted for the interval");
        assertEquals(0, upstream().requests("HEAD", "/v2/library/beta/manifests/latest"));

        clock.advance(Duration.ofMinutes(1));
        assertEquals(moved.manifestDigest(), get("/v2/upstream.test/library/beta/manifests/latest", OCI)
                .header("Docker-Content-Digest"), "asked again after the interval");
        assertEquals(1, upstream().requests("HEAD", "/v2/library/beta/manifests/latest"), upstream().logText());
        assertEquals(2, upstream().requests("GET", "/v2/library/beta/manifests/latest"));

        // Unmoved after the next interval: one HEAD, no GET.
        clock.advance(INTERVAL.plusSeconds(1));
        assertEquals(moved.manifestDigest(), get("/v2/upstream.test/library/beta/manifests/latest", OCI)
                .header("Docker-Content-Digest"));
        assertEquals(2, upstream().requests("HEAD", "/v2/library/beta/manifests/latest"));
        assertEquals(2, upstream().requests("GET", "/v2/library/beta/manifests/latest"));
    }

    @Test
    void theUpstreamStoppedEverythingPulledStillPullsWithAWarning() throws Exception {
        ReferenceRegistry.Image image = upstream().push("library/gamma", "1", null, bytes("config gamma"),
                random(20_000, 5));
        ReferenceRegistry.Image never = upstream().push("library/gamma", "never", null, bytes("config gamma never"),
                random(20_000, 6));
        assertEquals(200, get("/v2/upstream.test/library/gamma/manifests/1", OCI).status());
        for (byte[] blob : image.blobs()) {
            assertEquals(200, get("/v2/upstream.test/library/gamma/blobs/" + Registry.sha256(blob), null).status());
        }
        upstream().stop();
        try {
            clock.advance(INTERVAL.plusMinutes(1));
            Http.Reply stale = get("/v2/upstream.test/library/gamma/manifests/1", OCI);
            assertEquals(200, stale.status(), stale.text());
            assertArrayEquals(image.manifest(), stale.body());
            String warning = stale.header("Warning");
            assertNotNull(warning, "a stale copy says so");
            assertTrue(warning.startsWith("299 - \"layercache: ") && warning.contains("stale"), warning);
            for (byte[] blob : image.blobs()) {
                Http.Reply b = get("/v2/upstream.test/library/gamma/blobs/" + Registry.sha256(blob), null);
                assertEquals(200, b.status());
                assertArrayEquals(blob, b.body());
            }
            long start = System.nanoTime();
            Http.Reply missing = get("/v2/upstream.test/library/gamma/manifests/never", OCI);
            assertEquals(503, missing.status(), "not held, upstream unreachable: its error, " + missing.text());
            assertTrue(missing.text().contains("UNAVAILABLE"), missing.text());
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20), "an answer, not a hang");
            assertEquals(503, get("/v2/upstream.test/library/gamma/blobs/" + Registry.sha256(never.config()), null)
                    .status());
        } finally {
            upstream().restart();
        }
    }

    @Test
    void manyClientsAskingOneBlobCauseOneUpstreamFetch() throws Exception {
        byte[] layer = random(24 << 20, 7);
        ReferenceRegistry.Image image = upstream().push("library/delta", "1", null, bytes("config delta"), layer);
        assertEquals(200, get("/v2/upstream.test/library/delta/manifests/1", OCI).status());
        String path = "/v2/upstream.test/library/delta/blobs/" + Registry.sha256(layer);
        ExecutorService clients = Executors.newFixedThreadPool(8);
        try {
            List<Future<Http.Reply>> replies = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                replies.add(clients.submit(() -> get(path, null)));
            }
            for (Future<Http.Reply> r : replies) {
                Http.Reply reply = r.get(2, TimeUnit.MINUTES);
                assertEquals(200, reply.status());
                assertArrayEquals(layer, reply.body());
            }
        } finally {
            clients.shutdownNow();
        }
        assertEquals(1, upstream().requests("GET", "/v2/library/delta/blobs/" + Registry.sha256(layer)),
                "one upstream fetch for eight clients");
        assertEquals(image.manifestDigest(), get("/v2/upstream.test/library/delta/manifests/1", OCI)
                .header("Docker-Content-Digest"));
    }

    @Test
    void aLayerHeldForOneMirroredRepositoryIsLinkedForAnotherAfterTheUpstreamSaysItHasIt() throws Exception {
        byte[] shared = random(400_000, 21);
        upstream().push("library/one", "1", null, bytes("config one"), shared);
        upstream().push("library/two", "1", null, bytes("config two"), shared);
        String digest = Registry.sha256(shared);
        assertArrayEquals(shared, get("/v2/upstream.test/library/one/blobs/" + digest, null).body());
        Http.Reply second = get("/v2/upstream.test/library/two/blobs/" + digest, null);
        assertEquals(200, second.status(), second.text());
        assertArrayEquals(shared, second.body());
        assertEquals(1, upstream().requests("HEAD", "/v2/library/two/blobs/" + digest), upstream().logText());
        assertEquals(0, upstream().requests("GET", "/v2/library/two/blobs/" + digest), "linked, not fetched again");

        // A blob this node holds in a repository of its own, which the upstream does not have in the
        // mirrored repository: never served through the mirror on the node's word.
        byte[] secret = random(5_000, 22);
        assertEquals(201, new Registry(server.port()).pushBlob("team/private", secret));
        upstream().push("library/three", "1", null, bytes("config three"), random(100, 23));
        Http.Reply leak = get("/v2/upstream.test/library/three/blobs/" + Registry.sha256(secret), null);
        assertEquals(404, leak.status(), "the upstream does not have it there: " + leak.text());
        assertTrue(leak.text().contains("BLOB_UNKNOWN"), leak.text());
    }

    @Test
    void mirroredNamesAreReadOnlyAndStoreNothing() throws Exception {
        Http.Reply post = Http.exchange(server.port(), "POST", "/v2/upstream.test/library/evil/blobs/uploads/",
                List.of(), null);
        assertEquals(405, post.status(), post.text());
        assertTrue(post.text().contains("UNSUPPORTED"), post.text());
        byte[] manifest = Registry.imageManifest(bytes("c"), bytes("l")).getBytes(StandardCharsets.UTF_8);
        Http.Reply put = Http.exchange(server.port(), "PUT", "/v2/upstream.test/library/evil/manifests/1",
                List.of("Content-Type: " + OCI), manifest);
        assertEquals(405, put.status(), put.text());
        Http.Reply delete = Http.exchange(server.port(), "DELETE", "/v2/docker.io/library/evil/manifests/1",
                List.of(), null);
        assertEquals(405, delete.status(), delete.text());
        String catalog = new String(new Registry(server.port()).get("/v2/_catalog").body(), StandardCharsets.UTF_8);
        assertTrue(!catalog.contains("evil"), "nothing stored: " + catalog);
    }

    @Test
    void dockerdsUnqualifiedNamesGoToDockerHubUnlessALocalRepositoryHasThem() throws Exception {
        ReferenceRegistry.Image image = upstream().push("library/epsilon", "1", null, bytes("config epsilon"),
                random(2000, 8));
        Http.Reply viaHub = get("/v2/library/epsilon/manifests/1", OCI);
        assertEquals(200, viaHub.status(), viaHub.text());
        assertArrayEquals(image.manifest(), viaHub.body());
        Http.Reply official = get("/v2/docker.io/epsilon/manifests/1", OCI);
        assertEquals(200, official.status(), "docker.io/epsilon is docker.io/library/epsilon: " + official.text());

        // A repository of that name here wins over the mirror.
        Registry local = new Registry(server.port());
        byte[] config = bytes("local zeta");
        byte[] layer = random(100, 9);
        upstream().push("team/zeta", "1", null, bytes("upstream zeta"), random(100, 10));
        assertEquals(201, local.pushBlob("team/zeta", config));
        assertEquals(201, local.pushBlob("team/zeta", layer));
        String mine = Registry.imageManifest(config, layer);
        assertEquals(201, local.pushManifest("team/zeta", "1", OCI, mine));
        Http.Reply served = get("/v2/team/zeta/manifests/1", OCI);
        assertEquals(200, served.status());
        assertEquals(mine, served.text(), "the local repository, not the upstream's");
    }

    private static Http.Reply get(String path, String accept) throws Exception {
        return Http.exchange(server.port(), "GET", path, accept == null ? List.of() : List.of("Accept: " + accept), null);
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
