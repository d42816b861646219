package dev.layercache.server.mirror;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Chromium;
import dev.layercache.server.testing.DashboardStats;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.LazyUpstream;
import dev.layercache.server.testing.ReferenceRegistry;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What a node mirroring a real upstream (Debian's CNCF Distribution) shows in {@code /metrics} and
 * {@code /api/v1/stats} (docs/metrics.md, docs/mirror.md "Seen"): its lookups as
 * {@code surface="mirror"}, its requests to the upstream by operation and outcome, its stale
 * serves; and that a pull through the mirror is no lookup of the build cache. Every count is a
 * difference across the requests of one test, exact, and the upstream's own access log says the
 * requests counted are the requests it saw.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class MirrorMetricsHttpTest {
    private static final String OCI = "application/vnd.oci.image.manifest.v1+json";
    private static final String UPSTREAM = "upstream.test";
    private static final Duration INTERVAL = Duration.ofMinutes(5);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TestClock clock = new TestClock();
    private static final LazyUpstream REGISTRY = new LazyUpstream("layercache-upstream");

    @RegisterExtension
    static final TestServer server = new TestServer(config -> config.withMirror(new ServerConfig.Mirror(List.of(
            new UpstreamSettings(UPSTREAM, upstream().url(), UpstreamSettings.Credentials.NONE, INTERVAL),
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
    void aColdPullMissesAndFetchesAWarmOneHitsAndAsksNothingNeitherIsABuildCacheLookup() throws Exception {
        ReferenceRegistry.Image image = upstream().push("library/cold", "1", null, bytes("config cold"),
                random(200_000, 1), random(3_000, 2));
        long blobBytes = 0;
        for (byte[] blob : image.blobs()) {
            blobBytes += blob.length;
        }
        Snapshot before = snapshot();
        JsonNode statsBefore = stats();

        pull("/v2/upstream.test/library/cold", "1", image, "");
        Snapshot cold = settled(before, 4);
        assertEquals(1, cold.since(before, "layercache_lookups_total", "surface", "mirror", "kind", "tag", "result", "miss"));
        assertEquals(3, cold.since(before, "layercache_lookups_total", "surface", "mirror", "kind", "blob", "result", "miss"));
        assertEquals(0, cold.since(before, "layercache_lookups_total", "surface", "mirror", "result", "hit"));
        assertEquals(1, cold.since(before, "layercache_upstream_requests_total", "upstream", UPSTREAM,
                "operation", "get_manifest", "outcome", "ok"));
        assertEquals(3, cold.since(before, "layercache_upstream_requests_total", "upstream", UPSTREAM,
                "operation", "get_blob", "outcome", "ok"));
        assertEquals(4, cold.since(before, "layercache_upstream_requests_total"), "nothing else asked");
        assertEquals(4, cold.since(before, "layercache_upstream_request_duration_seconds_count", "upstream", UPSTREAM));
        // What the upstream saw is what was counted.
        assertEquals(1, upstream().requests("GET", "/v2/library/cold/manifests/"));
        assertEquals(3, upstream().requests("GET", "/v2/library/cold/blobs/"));
        // Per namespace: the copy's (upstream.test/library/cold at depth 1), which the fetches created.
        assertEquals(4, cold.since(before, "layercache_namespace_lookups_total", "namespace", UPSTREAM,
                "surface", "mirror", "result", "miss"));
        assertEquals(blobBytes + image.manifest().length,
                cold.since(before, "layercache_served_bytes_total", "surface", "mirror"));
        assertNoBuildCacheLookups(before, cold);

        // Warm, by path, by ?ns= and by digest: held here, the upstream not asked.
        pull("/v2/upstream.test/library/cold", "1", image, "");
        pull("/v2/library/cold", "1", image, "?ns=upstream.test");
        assertEquals(200, get("/v2/upstream.test/library/cold/manifests/" + image.manifestDigest(), OCI).status());
        Snapshot warm = settled(cold, 9);
        assertEquals(2, warm.since(cold, "layercache_lookups_total", "surface", "mirror", "kind", "tag", "result", "hit"));
        assertEquals(1, warm.since(cold, "layercache_lookups_total", "surface", "mirror", "kind", "manifest", "result", "hit"));
        assertEquals(6, warm.since(cold, "layercache_lookups_total", "surface", "mirror", "kind", "blob", "result", "hit"));
        assertEquals(0, warm.since(cold, "layercache_lookups_total", "surface", "mirror", "result", "miss"));
        assertEquals(0, warm.since(cold, "layercache_upstream_requests_total"), "a warm pull asks the upstream nothing");
        assertEquals(9, warm.since(cold, "layercache_namespace_lookups_total", "namespace", UPSTREAM,
                "surface", "mirror", "result", "hit"));
        assertNoBuildCacheLookups(cold, warm);

        // The stats: the mirror's section counts all of it, the build cache's headline none of it.
        JsonNode statsAfter = stats();
        JsonNode mirror = statsAfter.path("mirror");
        assertTrue(mirror.isObject(), "a mirroring node's stats have a mirror section: " + statsAfter);
        assertEquals(13, delta(statsBefore, statsAfter, "/mirror/windows/24h/lookups"));
        assertEquals(9, delta(statsBefore, statsAfter, "/mirror/windows/24h/hits"));
        assertEquals(4, delta(statsBefore, statsAfter, "/mirror/windows/24h/upstream_requests"));
        assertEquals(0, delta(statsBefore, statsAfter, "/mirror/windows/24h/upstream_errors"));
        assertEquals(UPSTREAM, mirror.path("upstreams").path(0).path("upstream").asText());
        assertEquals("docker.io", mirror.path("upstreams").path(1).path("upstream").asText());
        assertEquals(13, delta(statsBefore, statsAfter, "/mirror/upstreams/0/windows/24h/lookups"));
        assertEquals(0, delta(statsBefore, statsAfter, "/windows/24h/lookups"), "not in the headline hit rate");
        assertEquals(0, delta(statsBefore, statsAfter, "/windows/24h/existence_checks"));
    }

    @Test
    void aTagRevalidatedAfterTheIntervalIsAHitWithOneHead() throws Exception {
        ReferenceRegistry.Image image = upstream().push("library/fresh", "1", null, bytes("config fresh"),
                random(1_000, 3));
        assertEquals(200, get("/v2/upstream.test/library/fresh/manifests/1", OCI).status());
        clock.advance(INTERVAL.plusSeconds(1));
        Snapshot before = snapshot();
        Http.Reply again = get("/v2/upstream.test/library/fresh/manifests/1", OCI);
        assertEquals(200, again.status());
        assertEquals(image.manifestDigest(), again.header("Docker-Content-Digest"));
        Snapshot after = settled(before, 1);
        assertEquals(1, after.since(before, "layercache_lookups_total", "surface", "mirror", "kind", "tag", "result", "hit"));
        assertEquals(0, after.since(before, "layercache_lookups_total", "surface", "mirror", "result", "miss"));
        assertEquals(1, after.since(before, "layercache_upstream_requests_total", "upstream", UPSTREAM,
                "operation", "head_manifest", "outcome", "ok"));
        assertEquals(1, after.since(before, "layercache_upstream_requests_total"));
        assertEquals(1, upstream().requests("HEAD", "/v2/library/fresh/manifests/1"));
    }

    @Test
    void theUpstreamStoppedCopiesServedStaleAreCountedAndTheRestAreUnreachable() throws Exception {
        ReferenceRegistry.Image image = upstream().push("library/stale", "1", null, bytes("config stale"),
                random(10_000, 4));
        ReferenceRegistry.Image never = upstream().push("library/stale", "never", null, bytes("config never"),
                random(10_000, 5));
        assertEquals(200, get("/v2/upstream.test/library/stale/manifests/1", OCI).status());
        JsonNode statsBefore = stats();
        upstream().stop();
        try {
            clock.advance(INTERVAL.plusMinutes(1));
            Snapshot before = snapshot();
            Http.Reply stale = get("/v2/upstream.test/library/stale/manifests/1", OCI);
            assertEquals(200, stale.status(), stale.text());
            assertNotNull(stale.header("Warning"));
            assertEquals(503, get("/v2/upstream.test/library/stale/manifests/never", OCI).status());
            assertEquals(503, get("/v2/upstream.test/library/stale/blobs/" + Registry.sha256(never.config()), null)
                    .status());
            Snapshot after = settled(before, 3);
            assertEquals(1, after.since(before, "layercache_mirror_stale_total", "upstream", UPSTREAM));
            assertEquals(0, after.since(before, "layercache_mirror_stale_total", "upstream", "docker.io"));
            // The stale serve is a hit (the copy held here served, nothing fetched); the others missed.
            assertEquals(1, after.since(before, "layercache_lookups_total", "surface", "mirror", "kind", "tag", "result", "hit"));
            assertEquals(1, after.since(before, "layercache_lookups_total", "surface", "mirror", "kind", "tag", "result", "miss"));
            assertEquals(1, after.since(before, "layercache_lookups_total", "surface", "mirror", "kind", "blob", "result", "miss"));
            assertEquals(1, after.since(before, "layercache_upstream_requests_total", "upstream", UPSTREAM,
                    "operation", "head_manifest", "outcome", "unreachable"));
            assertEquals(1, after.since(before, "layercache_upstream_requests_total", "upstream", UPSTREAM,
                    "operation", "get_manifest", "outcome", "unreachable"));
            assertEquals(1, after.since(before, "layercache_upstream_requests_total", "upstream", UPSTREAM,
                    "operation", "get_blob", "outcome", "unreachable"));
            assertEquals(3, after.since(before, "layercache_upstream_requests_total"));
            assertNoBuildCacheLookups(before, after);
            JsonNode statsAfter = stats();
            assertEquals(1, delta(statsBefore, statsAfter, "/mirror/windows/24h/stale"));
            assertEquals(3, delta(statsBefore, statsAfter, "/mirror/windows/24h/upstream_errors"));
        } finally {
            upstream().restart();
        }
        assertEquals(image.manifestDigest(), get("/v2/upstream.test/library/stale/manifests/1", OCI)
                .header("Docker-Content-Digest"));
    }

    @Test
    void whatTheUpstreamDoesNotHaveIsNotFoundAndNoError() throws Exception {
        JsonNode statsBefore = stats();
        Snapshot before = snapshot();
        assertEquals(404, get("/v2/upstream.test/library/nowhere/manifests/1", OCI).status());
        assertEquals(404, get("/v2/upstream.test/library/nowhere/blobs/sha256:" + "0".repeat(64), null).status());
        Snapshot after = settled(before, 2);
        assertEquals(1, after.since(before, "layercache_upstream_requests_total", "upstream", UPSTREAM,
                "operation", "get_manifest", "outcome", "not_found"));
        assertEquals(1, after.since(before, "layercache_upstream_requests_total", "upstream", UPSTREAM,
                "operation", "get_blob", "outcome", "not_found"));
        assertEquals(2, after.since(before, "layercache_upstream_requests_total"));
        assertEquals(1, after.since(before, "layercache_lookups_total", "surface", "mirror", "kind", "tag", "result", "miss"));
        assertEquals(1, after.since(before, "layercache_lookups_total", "surface", "mirror", "kind", "blob", "result", "miss"));
        assertNoBuildCacheLookups(before, after);
        JsonNode statsAfter = stats();
        assertEquals(2, delta(statsBefore, statsAfter, "/mirror/windows/24h/upstream_requests"));
        assertEquals(0, delta(statsBefore, statsAfter, "/mirror/windows/24h/upstream_errors"), "a 404 is an answer");
    }

    /** The other side: a pull of a repository of this node is still the build cache's lookup. */
    @Test
    void aLocalRepositoryBesideTheMirrorIsStillCountedAsTheBuildCaches() throws Exception {
        Registry local = new Registry(server.port());
        byte[] config = bytes("local config");
        byte[] layer = random(500, 6);
        assertEquals(201, local.pushBlob("team/local", config));
        assertEquals(201, local.pushBlob("team/local", layer));
        Snapshot beforePush = snapshot();
        assertEquals(201, local.pushManifest("team/local", "1", OCI, Registry.imageManifest(config, layer)));
        // The manifest's PUT is counted once its answer is written, which may be after the client
        // read it: wait for it, or the pulls below would count it too.
        Snapshot before = settled(beforePush, 1);
        assertEquals(200, get("/v2/team/local/manifests/1", OCI).status());
        assertEquals(200, get("/v2/team/local/blobs/" + Registry.sha256(layer), null).status());
        Snapshot after = settled(before, 2);
        assertEquals(1, after.since(before, "layercache_lookups_total", "surface", "oci", "kind", "tag", "result", "hit"));
        assertEquals(1, after.since(before, "layercache_lookups_total", "surface", "oci", "kind", "blob", "result", "hit"));
        assertEquals(0, after.since(before, "layercache_lookups_total", "surface", "mirror"));
    }

    /** Only the series that mean something on the mirror's surface exist. */
    @Test
    void theMirrorSurfaceHasLookupsAndServedBytesOnly() throws Exception {
        PrometheusText m = snapshot().text;
        List<String> mirrorSeries = new ArrayList<>();
        for (PrometheusText.Sample s : m.samples()) {
            if ("mirror".equals(s.labels().get("surface"))) {
                mirrorSeries.add(s.name());
            }
        }
        assertTrue(!mirrorSeries.isEmpty());
        for (String name : mirrorSeries) {
            assertTrue(name.equals("layercache_lookups_total") || name.equals("layercache_namespace_lookups_total")
                    || name.equals("layercache_served_bytes_total"), name + " has a mirror series");
        }
        assertEquals(6, m.samples().stream().filter(s -> s.name().equals("layercache_lookups_total")
                && "mirror".equals(s.labels().get("surface"))).count(), "tag, manifest, blob times hit, miss");
    }

    /** The dashboard's Mirror section, in a real browser: shown on a mirroring node, every number the API's. */
    @Test
    void theDashboardShowsTheMirrorAsTheStatsSayIt() throws Exception {
        ReferenceRegistry.Image image = upstream().push("library/page", "1", null, bytes("config page"),
                random(4_000, 7));
        pull("/v2/upstream.test/library/page", "1", image, "");
        pull("/v2/upstream.test/library/page", "1", image, "");
        try (Chromium browser = Chromium.start()) {
            browser.navigate("http://127.0.0.1:" + server.port() + "/ui/");
            browser.waitFor("Number(document.body.dataset.renders || 0) >= 1", Duration.ofSeconds(20));
            assertEquals(false, browser.evaluate("document.getElementById('mirror-card').hidden").asBoolean());
            List<String> wrong = List.of();
            for (int attempt = 0; attempt < 3; attempt++) {
                String renders = browser.evaluate("document.body.dataset.renders").asText();
                JsonNode stats = stats();
                List<String[]> shown = DashboardStats.shownStats(browser).stream()
                        .filter(s -> s[0].startsWith("mirror.")).toList();
                // All upstreams and each of the two: lookups, three hit rates, stale, requests, errors, bytes.
                assertEquals(3 * 8, shown.size(), "the mirror's numbers on the page");
                wrong = DashboardStats.mismatches(stats, shown, java.util.Set.of());
                if (wrong.isEmpty()) {
                    break;
                }
                browser.waitFor("document.body.dataset.renders !== '" + renders + "'", Duration.ofSeconds(20));
            }
            assertTrue(wrong.isEmpty(), "the page's mirror numbers differ from the JSON:\n" + String.join("\n", wrong));
            assertTrue(browser.uncaughtExceptions().isEmpty(), "page errors: " + browser.uncaughtExceptions());
            browser.screenshot(java.nio.file.Path.of("target", "screenshots", "dashboard-mirror.png"));
        }
    }

    // ------------------------------------------------------------------ helpers

    /** The manifest by {@code tag} and every blob of {@code image} through {@code repository}, checked byte for byte. */
    private static void pull(String repository, String tag, ReferenceRegistry.Image image, String query) throws Exception {
        Http.Reply m = get(repository + "/manifests/" + tag + query, OCI);
        assertEquals(200, m.status(), m.text());
        assertEquals(image.manifestDigest(), m.header("Docker-Content-Digest"));
        for (byte[] blob : image.blobs()) {
            Http.Reply b = get(repository + "/blobs/" + Registry.sha256(blob) + query, null);
            assertEquals(200, b.status(), b.text());
            assertEquals(blob.length, b.body().length);
        }
    }

    /**
     * Lookups of the build cache are counted when a request completes, after its answer: once the
     * latency histogram has all of them, any OCI lookup they were going to count would be there.
     */
    private static void assertNoBuildCacheLookups(Snapshot before, Snapshot after) {
        assertEquals(0, after.since(before, "layercache_lookups_total", "surface", "oci"), "no OCI lookup");
        assertEquals(0, after.since(before, "layercache_existence_checks_total", "surface", "oci"));
        assertEquals(0, after.since(before, "layercache_served_bytes_total", "surface", "oci"));
    }

    private record Snapshot(PrometheusText text) {
        long since(Snapshot before, String name, String... labels) {
            return Math.round(text.value(name, labels) - before.text.value(name, labels));
        }

        /** Manifest and blob requests completed (the scrapes and the stats are requests too: not these). */
        long registryRequests() {
            return Math.round(text.samples().stream()
                    .filter(s -> s.name().equals("layercache_request_duration_seconds_count")
                            && "oci".equals(s.labels().get("surface"))
                            && s.labels().getOrDefault("operation", "").matches("(manifest|blob)_.*"))
                    .mapToDouble(PrometheusText.Sample::value).sum());
        }
    }

    private static Snapshot snapshot() throws IOException {
        Http.Reply r = Http.exchange(server.port(), "GET", "/metrics", List.of(), null);
        assertEquals(200, r.status());
        return new Snapshot(new PrometheusText(r.text()));
    }

    /** The metrics once the {@code requests} OCI requests since {@code before} have all completed. */
    private static Snapshot settled(Snapshot before, int requests) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            Snapshot now = snapshot();
            long done = now.registryRequests() - before.registryRequests();
            if (done >= requests || System.nanoTime() > deadline) {
                assertEquals(requests, done, "registry requests completed");
                return now;
            }
            Thread.sleep(20);
        }
    }

    private static JsonNode stats() throws IOException {
        Http.Reply r = Http.exchange(server.port(), "GET", "/api/v1/stats", List.of(), null);
        assertEquals(200, r.status());
        return JSON.readTree(r.body());
    }

    private static long delta(JsonNode before, JsonNode after, String pointer) {
        JsonNode a = after.at(pointer);
        assertTrue(a.isNumber(), pointer + " in " + after);
        return a.asLong() - before.at(pointer).asLong();
    }

    private static Http.Reply get(String path, String accept) throws IOException {
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
