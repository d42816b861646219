package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TestServer;
import java.io.InputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The disk budget on a real node: least recently used roots go first, no remaining root ever
 * loses a blob, a download in progress survives the eviction of its blob, collection keeps what
 * is young, and upload sessions expire.
 */
class EvictionTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int LAYER = 100_000;
    private static final int BASE = 20_000;
    private static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";

    private final TestClock clock = new TestClock();

    /**
     * 400 KB budget: eviction starts above 300 KB and stops below 240 KB; a minute's grace; upload
     * sessions expire 30 minutes after they start, with no idle limit (that one has its own test,
     * {@code UploadSessionBoundsTest}).
     */
    @RegisterExtension
    final TestServer server = new TestServer(c -> c.withLifecycle(ServerConfig.Lifecycle.builder()
            .maxDiskBytes(400_000).watermarks(75, 60).maxAge(Duration.ZERO).gcGrace(Duration.ofMinutes(1))
            .uploadTimeout(Duration.ofMinutes(30)).interval(Duration.ofHours(1)).scrubRate(0)
            .scrubEvery(Duration.ofHours(24)).namespaces(java.util.List.of()).minFreeDisk(ServerConfig.DiskShare.NONE)
            .untaggedMaxAge(Duration.ZERO).build()).withLimits(ServerConfig.Limits.DEFAULT.withUploads(
                    ServerConfig.Limits.DEFAULT_MAX_UPLOADS, Duration.ZERO)), clock);

    @Test
    void theLeastRecentlyUsedRootGoesAndEveryOtherRootKeepsItsBlobs() throws Exception {
        Registry registry = new Registry(server.port());
        byte[] base = bytes(BASE, 0);
        byte[][] layers = {bytes(LAYER, 1), bytes(LAYER, 2), bytes(LAYER, 3)};
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < 3; i++) {
            clock.advance(Duration.ofMinutes(1));
            if (i == 2) {
                clock.advance(Duration.ofMinutes(10));
                // t1 is used again: t2 is now the least recently used
                assertEquals(200, registry.get("/v2/team/app/manifests/t1").statusCode());
                clock.advance(Duration.ofMinutes(1));
            }
            assertEquals(201, registry.pushBlob("team/app", base));
            assertEquals(201, registry.pushBlob("team/app", config));
            assertEquals(201, registry.pushBlob("team/app", layers[i]));
            assertEquals(201, registry.pushManifest("team/app", "t" + (i + 1), MANIFEST_TYPE,
                    Registry.imageManifest(config, base, layers[i])));
        }

        // The third layer took the store past its high watermark (300 KB): a run started at once,
        // without waiting for the hourly interval.
        Lifecycle.Run run = awaitRun(server, r -> r.evictedByBudget() > 0);

        assertEquals(1, run.evictedByBudget(), "one image (120 KB) brings 322 KB under the 240 KB low mark");
        assertTrue(run.bytesBefore() > 300_000 && run.bytesAfter() < 240_000, run.toString());
        assertEquals(404, registry.get("/v2/team/app/manifests/t2").statusCode());
        assertEquals(404, registry.head("/v2/team/app/blobs/" + Registry.sha256(layers[1])), "its own layer is collected");
        for (int keep : new int[] {0, 2}) {
            assertEquals(200, registry.get("/v2/team/app/manifests/t" + (keep + 1)).statusCode());
            for (byte[] blob : new byte[][] {base, config, layers[keep]}) {
                HttpResponse<byte[]> r = registry.get("/v2/team/app/blobs/" + Registry.sha256(blob));
                assertEquals(200, r.statusCode(), "a remaining root keeps every blob");
                assertArrayEquals(blob, r.body());
            }
        }
        // The eviction is a capacity miss for whoever asks again, and on the dashboard's list.
        PrometheusText metrics = new PrometheusText(Registry.utf8(registry.get("/metrics").body()));
        assertEquals(1, metrics.value("layercache_capacity_misses_total", "surface", "oci", "kind", "tag"));
        assertEquals(1, metrics.value("layercache_evictions_total", "kind", "tag"));
        JsonNode evictions = JSON.readTree(registry.get("/api/v1/stats").body()).get("recent_evictions");
        assertEquals("team/app:t2", evictions.get(0).get("reference").asText());
        JsonNode store = JSON.readTree(registry.get("/api/v1/store").body());
        assertEquals(400_000, store.get("budget").get("max_disk_bytes").asLong());
        assertEquals(1, store.get("last_run").get("evicted_by_budget").asInt());
        assertEquals(BASE + 2 + 2 * LAYER, store.get("usage").get("bytes").asLong());
    }

    @Test
    void aDownloadInProgressSurvivesTheEvictionOfItsBlob() throws Exception {
        Registry registry = new Registry(server.port());
        byte[] big = bytes(8 << 20, 9); // over the budget by itself
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        assertEquals(201, registry.pushBlob("team/big", big));
        // Past the watermark: a run starts, finds no root (the blob is in its grace period, pushed
        // before its manifest), and leaves it; the next write does not start another at once.
        Lifecycle.Run futile = awaitRun(server, r -> true);
        assertEquals(0, futile.evictedByBudget());
        assertEquals(200, registry.head("/v2/team/big/blobs/" + Registry.sha256(big)));
        assertEquals(201, registry.pushBlob("team/big", config));
        assertEquals(201, registry.pushManifest("team/big", "only", MANIFEST_TYPE, Registry.imageManifest(config, big)));
        clock.advance(Duration.ofMinutes(5));

        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<InputStream> download = http.send(HttpRequest.newBuilder(
                server.uri("/v2/team/big/blobs/" + Registry.sha256(big))).build(), HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, download.statusCode());
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        try (InputStream in = download.body()) {
            byte[] first = in.readNBytes(64 << 10);
            sha.update(first);
            clock.advance(Duration.ofMinutes(1)); // past the moment the GET told us it exists

            Lifecycle.Run run = server.server().lifecycle().run();
            assertEquals(1, run.evictedByBudget());
            assertEquals(404, registry.head("/v2/team/big/blobs/" + Registry.sha256(big)), "gone for new requests");

            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                sha.update(buf, 0, n);
            }
        }
        assertEquals(Registry.sha256(big), "sha256:" + HexFormat.of().formatHex(sha.digest()),
                "the download that had started got every byte");
    }

    @Test
    void collectionKeepsBlobsWithinTheGracePeriodAndListsWhatADryRunWouldTake() throws Exception {
        Registry registry = new Registry(server.port());
        byte[] orphan = bytes(1000, 5);
        assertEquals(201, registry.pushBlob("team/tmp", orphan)); // pushed, no manifest yet
        String digest = Registry.sha256(orphan);

        // With a grace of an hour, a blob pushed a minute ago stays.
        clock.advance(Duration.ofMinutes(1));
        Collector.Report kept = server.server().lifecycle().collector().collect(Duration.ofHours(1), false);
        assertEquals(0, kept.collected());
        assertEquals(1, kept.keptInGrace());
        assertEquals(200, registry.head("/v2/team/tmp/blobs/" + digest));

        // That HEAD told a client the blob exists; past the node's grace (a minute), it is garbage.
        clock.advance(Duration.ofMinutes(2));
        HttpResponse<byte[]> dry = registry.send(HttpRequest.newBuilder(server.uri("/api/v1/gc?dry_run=true"))
                .POST(HttpRequest.BodyPublishers.noBody()));
        assertEquals(200, dry.statusCode());
        JsonNode report = JSON.readTree(dry.body());
        assertTrue(report.get("dry_run").asBoolean());
        assertEquals(digest, report.get("digests").get(0).asText());
        assertEquals(200, registry.head("/v2/team/tmp/blobs/" + digest), "a dry run removes nothing");
        clock.advance(Duration.ofMinutes(2)); // that HEAD's grace is over too

        HttpResponse<byte[]> real = registry.send(HttpRequest.newBuilder(server.uri("/api/v1/gc"))
                .POST(HttpRequest.BodyPublishers.noBody()));
        assertEquals(1, JSON.readTree(real.body()).get("collected").asLong());
        assertEquals(404, registry.head("/v2/team/tmp/blobs/" + digest));
        try (Stream<java.nio.file.Path> files = Files.walk(server.dataDir().resolve("blobs"))) {
            assertFalse(files.anyMatch(p -> p.getFileName().toString().equals(digest.substring(7))),
                    "the file is gone too");
        }
    }

    @Test
    void uploadSessionsExpire() throws Exception {
        Registry registry = new Registry(server.port());
        HttpResponse<byte[]> started = registry.send(HttpRequest.newBuilder(server.uri("/v2/team/app/blobs/uploads/"))
                .POST(HttpRequest.BodyPublishers.noBody()));
        String location = started.headers().firstValue("Location").orElseThrow();
        assertEquals(202, registry.send(HttpRequest.newBuilder(server.uri(location))
                .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(bytes(5000, 7)))).statusCode());
        String id = location.substring(location.lastIndexOf('/') + 1);
        assertTrue(Files.exists(server.dataDir().resolve("uploads").resolve(id)));

        clock.advance(Duration.ofMinutes(20));
        assertEquals(0, server.server().lifecycle().run().uploadsExpired(), "20 minutes is within the 30-minute timeout");
        clock.advance(Duration.ofMinutes(15));
        assertEquals(1, server.server().lifecycle().run().uploadsExpired());
        assertEquals(404, registry.get(location).statusCode());
        assertFalse(Files.exists(server.dataDir().resolve("uploads").resolve(id)));
    }

    /** The first lifecycle run (automatic or not) that {@code wanted} accepts, within 20 seconds. */
    static Lifecycle.Run awaitRun(TestServer server, java.util.function.Predicate<Lifecycle.Run> wanted)
            throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < deadline) {
            Lifecycle.Run run = server.server().lifecycle().status().lastRun();
            if (run != null && wanted.test(run)) {
                return run;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no such lifecycle run; the last was " + server.server().lifecycle().status().lastRun());
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
