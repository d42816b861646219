package dev.layercache.server.mirror;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.lifecycle.Lifecycle;
import dev.layercache.server.testing.LazyUpstream;
import dev.layercache.server.testing.ReferenceRegistry;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TestServer;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Mirrored images live under the node's disk budget like the build cache: each mirrored tag is a
 * root of its own, its last use is a pull through the mirror, and the least recently used root
 * goes first, whether it is a mirror's copy or a build's cache. An evicted copy is fetched again
 * from the upstream on the next pull.
 */
class MirrorEvictionTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String OCI = "application/vnd.oci.image.manifest.v1+json";
    /** Four layers of this size and the shared base pass the 300 KB high mark; one less is under the 240 KB low mark. */
    private static final int LAYER = 72_000;
    private static final int BASE = 20_000;
    private static final TestClock clock = new TestClock();
    private static final LazyUpstream UPSTREAM = new LazyUpstream("layercache-mirror-eviction");

    /** 400 KB budget: eviction starts above 300 KB and stops below 240 KB; a minute's grace. */
    @RegisterExtension
    static final TestServer server = new TestServer(c -> c.withLifecycle(ServerConfig.Lifecycle.builder()
            .maxDiskBytes(400_000).watermarks(75, 60).maxAge(Duration.ZERO).gcGrace(Duration.ofMinutes(1))
            .uploadTimeout(Duration.ofMinutes(30)).interval(Duration.ofHours(1)).scrubRate(0)
            .scrubEvery(Duration.ofHours(24)).namespaces(List.of()).minFreeDisk(ServerConfig.DiskShare.NONE)
            .untaggedMaxAge(Duration.ZERO).build())
            .withMirror(new ServerConfig.Mirror(List.of(new UpstreamSettings("upstream.test", UPSTREAM.get().url(),
                    UpstreamSettings.Credentials.NONE, Duration.ofHours(6))))), clock);

    @AfterAll
    static void stopUpstream() throws Exception {
        UPSTREAM.close();
    }

    @Test
    void theLeastRecentlyUsedRootGoesWhetherAMirrorsCopyOrABuildsCacheAndAnEvictedCopyIsFetchedAgain()
            throws Exception {
        ReferenceRegistry upstream = UPSTREAM.get();
        Registry node = new Registry(server.port());
        byte[] base = bytes(BASE, 0);
        ReferenceRegistry.Image a = upstream.push("library/a", "1", null, utf8("config a"), base, bytes(LAYER, 1));
        ReferenceRegistry.Image b = upstream.push("library/b", "1", null, utf8("config b"), base, bytes(LAYER, 2));
        ReferenceRegistry.Image c = upstream.push("library/c", "1", null, utf8("config c"), base, bytes(LAYER, 3));

        clock.advance(Duration.ofMinutes(2));
        pull(node, a);
        clock.advance(Duration.ofMinutes(2));
        pull(node, b);
        clock.advance(Duration.ofMinutes(2));
        byte[] own = bytes(LAYER, 4);
        byte[] config = utf8("config own");
        assertEquals(201, node.pushBlob("team/app", config));
        assertEquals(201, node.pushBlob("team/app", own));
        assertEquals(201, node.pushManifest("team/app", "main", OCI, Registry.imageManifest(config, own)));
        clock.advance(Duration.ofMinutes(2));
        // a is pulled again (served from the copy, the upstream not asked): b is now the least recently used.
        long upstreamGets = upstream.requests("GET", "/v2/library/a/");
        pull(node, a);
        assertEquals(upstreamGets, upstream.requests("GET", "/v2/library/a/"), "a served from the copy");
        assertTrue(server.server().lifecycle().status().lastRun() == null
                || server.server().lifecycle().status().lastRun().evictedByBudget() == 0, "under the high mark yet");

        clock.advance(Duration.ofMinutes(2));
        pull(node, c); // past the high mark
        Lifecycle.Run run = awaitEviction();
        assertEquals(1, run.evictedByBudget(), run.toString());
        JsonNode evictions = JSON.readTree(node.get("/api/v1/stats").body()).get("recent_evictions");
        assertEquals("upstream.test/library/b:1", evictions.get(0).get("reference").asText(),
                "the mirror's least recently used copy went, not the newer build cache");
        JsonNode store = JSON.readTree(node.get("/api/v1/store").body());
        assertEquals(BASE + 3 * LAYER + "config a".length() + "config c".length() + "config own".length(),
                store.get("usage").get("bytes").asLong(), "b's own layer and config are gone from the store");

        // What stayed is whole, and served without asking the upstream.
        long gets = upstream.requests("GET", "/v2/");
        assertEquals(200, node.get("/v2/team/app/manifests/main").statusCode());
        assertArrayEquals(own, node.get("/v2/team/app/blobs/" + Registry.sha256(own)).body());
        pull(node, a);
        pull(node, c);
        assertEquals(gets, upstream.requests("GET", "/v2/"), "a and c held");

        // The evicted copy is fetched again, whole, on the next pull.
        String bLayer = "/v2/library/b/blobs/" + Registry.sha256(b.layers().get(1));
        long bGets = upstream.requests("GET", bLayer);
        pull(node, b);
        assertEquals(bGets + 1, awaitRequests(upstream, "GET", bLayer, bGets + 1), "b's layer fetched again");
    }

    /**
     * The upstream's count of such requests once it reaches {@code n} or 5 s have passed:
     * Distribution writes a request's access-log line after its answer, so a client can be done
     * before the line is there.
     */
    private static long awaitRequests(ReferenceRegistry upstream, String method, String path, long n)
            throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        long seen;
        while ((seen = upstream.requests(method, path)) < n && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        return seen;
    }

    /** Pulls {@code image} through the mirror by tag, checking every byte against the upstream's. */
    private static void pull(Registry node, ReferenceRegistry.Image image) throws Exception {
        String at = "/v2/upstream.test/" + image.repository();
        HttpResponse<byte[]> manifest = node.get(at + "/manifests/" + image.tag());
        assertEquals(200, manifest.statusCode(), Registry.utf8(manifest.body()));
        assertArrayEquals(image.manifest(), manifest.body());
        for (byte[] blob : image.blobs()) {
            HttpResponse<byte[]> r = node.get(at + "/blobs/" + Registry.sha256(blob));
            assertEquals(200, r.statusCode());
            assertArrayEquals(blob, r.body());
        }
    }

    private static Lifecycle.Run awaitEviction() throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        List<Lifecycle.Run> seen = new ArrayList<>();
        while (System.nanoTime() < deadline) {
            Lifecycle.Run run = server.server().lifecycle().status().lastRun();
            if (run != null && run.evictedByBudget() > 0) {
                return run;
            }
            if (run != null && !seen.contains(run)) {
                seen.add(run);
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no eviction; runs seen: " + seen);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
