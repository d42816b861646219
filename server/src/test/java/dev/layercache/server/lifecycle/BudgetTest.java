package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ConfigLoader;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TestServer;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The budget holds: eviction frees bytes (a blob whose roots went is collected at once, whatever
 * the grace period), never takes a root whose removal frees nothing, keeps the most recently used
 * roots, and starts as soon as a write passes the watermark. Deleting through the API and
 * collecting frees the space at once too.
 */
class BudgetTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";
    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;

    /**
     * The figures of the report that found the budget broken: {@code --max-disk-size 256MiB
     * --lifecycle-interval 5s} (the default two-hour grace), then 1 GiB of tagged images pushed in
     * seconds. Every tag used to be evicted and the disk kept all 1 GiB.
     */
    @Test
    void aBudgetOf256MiBHoldsAgainstAGibibyteOfImagesPushedInSeconds() throws Exception {
        ServerConfig config = ConfigLoader.load(new String[] {"--max-disk-size", "256MiB", "--lifecycle-interval", "5s",
            "--min-free-disk", "0", "--data-dir", dir.resolve("data").toString(), "--http-port", "0",
            "--grpc-port", "0", "--bind-address", "127.0.0.1", "--scrub-rate", "0"}, Map.of());
        try (LayerCacheServer server = LayerCacheServer.start(config)) {
            Registry registry = new Registry(server.httpPort());
            byte[] base = bytes((int) MIB, -1);
            long peak = 0;
            List<String> tags = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                byte[] layer = bytes((int) (15 * MIB), i);
                byte[] config2 = ("{\"build\":" + i + "}").getBytes(StandardCharsets.UTF_8);
                assertEquals(201, registry.pushBlob("team/app", base), "base of image " + i);
                assertEquals(201, registry.pushBlob("team/app", layer), "layer of image " + i);
                assertEquals(201, registry.pushBlob("team/app", config2), "config of image " + i);
                String tag = String.format("build-%02d", i);
                assertEquals(201, registry.pushManifest("team/app", tag, MANIFEST_TYPE,
                        Registry.imageManifest(config2, base, layer)), "manifest of image " + i);
                tags.add(tag);
                if (i >= 5) { // build-05 is what every later build pulls: the most used
                    assertEquals(200, registry.head("/v2/team/app/manifests/build-05"), "after image " + i);
                }
                peak = Math.max(peak, store(registry).get("usage").get("bytes").asLong());
            }
            JsonNode store = awaitStore(registry, s -> s.get("usage").get("bytes").asLong() <= 256 * MIB);
            long used = store.get("usage").get("bytes").asLong();
            assertEquals(256 * MIB, store.get("budget").get("max_disk_bytes").asLong());
            assertTrue(used <= 256 * MIB, "blob bytes " + used + " over the budget");
            assertTrue(filesUnder(dir.resolve("data/blobs")) <= 256 * MIB, "the files are gone too");
            System.out.printf("budget 256 MiB, 1 GiB pushed: peak %d MiB between runs, %d MiB at the end%n",
                    peak / MIB, used / MIB);

            for (String tag : tags.subList(58, 64)) {
                assertEquals(200, registry.head("/v2/team/app/manifests/" + tag), tag + ", among the newest, stays");
            }
            assertEquals(200, registry.head("/v2/team/app/manifests/build-05"), "the most used stays");
            byte[] newest = registry.get("/v2/team/app/blobs/" + Registry.sha256(bytes((int) (15 * MIB), 63))).body();
            assertArrayEquals(bytes((int) (15 * MIB), 63), newest);
            assertEquals(404, registry.head("/v2/team/app/manifests/build-00"), "the least recently used went");
            int present = 0;
            for (String tag : tags) {
                present += registry.head("/v2/team/app/manifests/" + tag) == 200 ? 1 : 0;
            }
            // 15 images of 16 MiB fit under the high watermark, 13 under the low one.
            assertTrue(present >= 12 && present <= 15, present + " of 64 images left");
            PrometheusText metrics = new PrometheusText(Registry.utf8(registry.get("/metrics").body()));
            assertEquals(64 - present, metrics.value("layercache_evictions_total", "kind", "tag"), 0.1);
        }
    }

    /**
     * Roots pushed a minute apart, in a budget of 1 MB (evict above 750 KB, down to 600 KB):
     * <pre>
     *   old        X (200 KB)            unique
     *   shared-old S (300 KB)            everything it holds, "new" holds too
     *   old2       W (200 KB)            unique
     *   new        S + Y (30 KB)
     *   newest     Z (200 KB)            its upload passes the watermark
     * </pre>
     * Eviction must free 330 KB: "old" and "old2" go. "shared-old" is older than "old2" but stays:
     * its removal would free nothing while "new" holds its blobs. X and W are collected at once,
     * though they were pushed well within the grace period.
     */
    @Test
    void evictionFreesBytesAndNeverTakesARootWhoseRemovalFreesNothing() throws Exception {
        TestClock clock = new TestClock();
        TestServer server = withAMegabyteBudget(clock);
        try {
            Registry registry = new Registry(server.port());
            byte[] x = bytes(200_000, 1);
            byte[] s = bytes(300_000, 2);
            byte[] w = bytes(200_000, 3);
            byte[] y = bytes(30_000, 4);
            byte[] z = bytes(200_000, 5);
            byte[] shared = "{\"shared\":true}".getBytes(StandardCharsets.UTF_8);
            pushWith(registry, clock, "old", config("old"), x);
            pushWith(registry, clock, "shared-old", shared, s);
            pushWith(registry, clock, "old2", config("old2"), w);
            pushWith(registry, clock, "new", shared, s, y);
            // A pull of X (a download keeps its own bytes) does not keep X once its root goes.
            assertArrayEquals(x, registry.get("/v2/team/app/blobs/" + Registry.sha256(x)).body());
            pushWith(registry, clock, "newest", config("newest"), z);

            Lifecycle.Run run = EvictionTest.awaitRun(server, r -> r.evictedByBudget() > 0);
            assertEquals(2, run.evictedByBudget(), run.toString());
            assertEquals(4, run.collection().collected(), "X and W with their configs: " + run.collection());
            assertEquals(404, registry.head("/v2/team/app/manifests/old"));
            assertEquals(404, registry.head("/v2/team/app/manifests/old2"));
            assertEquals(200, registry.head("/v2/team/app/manifests/shared-old"), "its removal would free nothing");
            assertEquals(200, registry.head("/v2/team/app/manifests/new"));
            assertEquals(200, registry.head("/v2/team/app/manifests/newest"));
            for (byte[] gone : new byte[][] {x, w}) {
                assertEquals(404, registry.head("/v2/team/app/blobs/" + Registry.sha256(gone)),
                        "released by its root: collected within the grace period");
            }
            for (byte[] kept : new byte[][] {s, y, z}) {
                assertArrayEquals(kept, registry.get("/v2/team/app/blobs/" + Registry.sha256(kept)).body());
            }
            assertTrue(run.bytesAfter() < 600_000, run.toString());
        } finally {
            server.stop();
        }
    }

    /**
     * The race a soak of a CI fleet hit: a builder asks whether a layer exists (yes), then the
     * layer's only root is evicted, then the builder's manifest names the layer. The layer a
     * client was told exists stays through the grace period; its root still goes, for the bytes
     * only it held, and nothing is evicted for bytes that would stay anyway.
     */
    @Test
    void aBlobAClientWasToldExistsOutlivesTheEvictionOfItsRoot() throws Exception {
        TestClock clock = new TestClock();
        TestServer server = withAMegabyteBudget(clock);
        try {
            Registry registry = new Registry(server.port());
            byte[] reused = bytes(200_000, 51);
            byte[] onlyA = bytes(300_000, 52);
            byte[] onlyB = bytes(200_000, 53);
            byte[] next = bytes(100_000, 54);
            pushWith(registry, clock, "a", config("a"), reused, onlyA);
            pushWith(registry, clock, "b", config("b"), onlyB);
            clock.advance(Duration.ofMinutes(1));
            assertEquals(200, registry.head("/v2/team/app/blobs/" + Registry.sha256(reused)), "a builder asks: yes");
            assertEquals(201, registry.pushBlob("team/app", next)); // 800 KB: past the watermark, "a" goes

            Lifecycle.Run run = EvictionTest.awaitRun(server, r -> r.evictedByBudget() > 0);
            assertEquals(1, run.evictedByBudget(), run.toString());
            assertEquals(404, registry.head("/v2/team/app/manifests/a"));
            assertEquals(404, registry.head("/v2/team/app/blobs/" + Registry.sha256(onlyA)), "only a held it");
            assertEquals(200, registry.head("/v2/team/app/manifests/b"), "evicting it too would free nothing more");
            byte[] configC = config("c");
            assertEquals(201, registry.pushBlob("team/app", configC));
            assertEquals(201, registry.pushManifest("team/app", "c", MANIFEST_TYPE,
                    Registry.imageManifest(configC, reused, next)), "the builder's manifest names the layer it was told of");
            assertArrayEquals(reused, registry.get("/v2/team/app/blobs/" + Registry.sha256(reused)).body());
        } finally {
            server.stop();
        }
    }

    /** A multi-platform image is one root: evicting its index frees its platforms' blobs too. */
    @Test
    void evictingAnIndexTakesItsPlatformManifestsAndFreesTheirBlobs() throws Exception {
        TestClock clock = new TestClock();
        TestServer server = withAMegabyteBudget(clock);
        try {
            Registry registry = new Registry(server.port());
            byte[] amd64 = bytes(300_000, 41);
            byte[] arm64 = bytes(300_000, 42);
            String amd64Manifest = pushWith(registry, clock, null, config("amd64"), amd64);
            String arm64Manifest = pushWith(registry, clock, null, config("arm64"), arm64);
            String index = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
                    + platform(amd64Manifest, manifestSize(config("amd64"), amd64), "amd64") + ","
                    + platform(arm64Manifest, manifestSize(config("arm64"), arm64), "arm64") + "]}";
            assertEquals(201, registry.pushManifest("team/app", "multi", "application/vnd.oci.image.index.v1+json",
                    index));
            byte[] other = bytes(250_000, 43);
            pushWith(registry, clock, "other", config("other"), other); // 850 KB: past the watermark

            Lifecycle.Run run = EvictionTest.awaitRun(server, r -> r.evictedByBudget() > 0);
            assertEquals(1, run.evictedByBudget(), run.toString());
            assertEquals(404, registry.head("/v2/team/app/manifests/multi"));
            assertEquals(404, registry.head("/v2/team/app/manifests/" + amd64Manifest), "taken along with its index");
            assertEquals(404, registry.head("/v2/team/app/manifests/" + arm64Manifest));
            assertEquals(404, registry.head("/v2/team/app/blobs/" + Registry.sha256(amd64)));
            assertEquals(404, registry.head("/v2/team/app/blobs/" + Registry.sha256(arm64)));
            assertArrayEquals(other, registry.get("/v2/team/app/blobs/" + Registry.sha256(other)).body());
            assertTrue(run.bytesAfter() < 300_000, run.toString());
        } finally {
            server.stop();
        }
    }

    /** An index's descriptor of a platform's manifest; the registry checks its size. */
    private static String platform(String digest, int size, String architecture) {
        return "{\"mediaType\":\"" + MANIFEST_TYPE + "\",\"digest\":\"" + digest + "\",\"size\":" + size + ","
                + "\"platform\":{\"os\":\"linux\",\"architecture\":\"" + architecture + "\"}}";
    }

    @Test
    void deletingThroughTheApiAndCollectingFreesTheSpaceNow() throws Exception {
        TestClock clock = new TestClock();
        TestServer server = new TestServer(c -> c, clock); // no budget, the default two-hour grace
        server.start();
        try {
            Registry registry = new Registry(server.port());
            byte[] a = bytes(300_000, 11);
            byte[] b = bytes(300_000, 12);
            byte[] loose = bytes(100_000, 13);
            byte[] twice = bytes(100_000, 14);
            String digestA = push(registry, clock, "a", a);
            push(registry, clock, "b", b);
            assertEquals(201, registry.pushBlob("team/app", loose));
            assertEquals(201, registry.pushBlob("team/app", twice));
            assertEquals(201, registry.pushBlob("team/other", twice));

            // Untagging leaves the manifest: a root still, nothing to collect.
            assertEquals(202, delete(registry, "/v2/team/app/manifests/a"));
            assertEquals(0, gc(registry).get("collected").asLong());
            assertEquals(200, registry.head("/v2/team/app/blobs/" + Registry.sha256(a)));

            assertEquals(202, delete(registry, "/v2/team/app/manifests/" + digestA));
            assertEquals(202, delete(registry, "/v2/team/app/blobs/" + Registry.sha256(loose)));
            assertEquals(202, delete(registry, "/v2/team/app/blobs/" + Registry.sha256(twice)));
            JsonNode report = gc(registry);

            assertEquals(3, report.get("collected").asLong(), "a's layer and config, and the loose blob: " + report);
            for (byte[] gone : new byte[][] {a, loose}) {
                String hex = Registry.sha256(gone).substring(7);
                try (Stream<Path> files = Files.walk(server.dataDir().resolve("blobs"))) {
                    assertTrue(files.noneMatch(p -> p.getFileName().toString().equals(hex)), "its file is gone");
                }
            }
            assertArrayEquals(twice, registry.get("/v2/team/other/blobs/" + Registry.sha256(twice)).body(),
                    "deleted from one repository, still pushed to another and in its grace period there");
            assertArrayEquals(b, registry.get("/v2/team/app/blobs/" + Registry.sha256(b)).body());
            assertEquals(200, registry.head("/v2/team/app/manifests/b"));
        } finally {
            server.stop();
        }
    }

    @Test
    void untaggedManifestsNothingNamesExpireAndReferrersStayWithTheirSubject() throws Exception {
        TestClock clock = new TestClock();
        TestServer server = new TestServer(c -> c.withLifecycle(c.lifecycle().withUntaggedMaxAge(Duration.ofHours(24))),
                clock);
        server.start();
        try {
            Registry registry = new Registry(server.port());
            byte[] first = bytes(50_000, 21);
            byte[] second = bytes(50_000, 22);
            byte[] byDigest = bytes(50_000, 23);
            String superseded = push(registry, clock, "buildcache", first);
            String current = push(registry, clock, "buildcache", second); // the ref is rewritten
            String loose = push(registry, clock, null, byDigest);
            byte[] sbom = "{\"sbom\":true}".getBytes(StandardCharsets.UTF_8);
            assertEquals(201, registry.pushBlob("team/app", sbom));
            String referrer = "{\"schemaVersion\":2,\"mediaType\":\"" + MANIFEST_TYPE + "\",\"artifactType\":"
                    + "\"application/spdx+json\",\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","
                    + "\"digest\":\"" + Registry.sha256(sbom) + "\",\"size\":" + sbom.length + "},\"layers\":[],"
                    + "\"subject\":{\"mediaType\":\"" + MANIFEST_TYPE + "\",\"digest\":\"" + current + "\",\"size\":1}}";
            String referrerDigest = Registry.sha256(referrer.getBytes(StandardCharsets.UTF_8));
            assertEquals(201, registry.pushManifest("team/app", referrerDigest, MANIFEST_TYPE, referrer));

            clock.advance(Duration.ofHours(23));
            assertEquals(0, server.server().lifecycle().run().untaggedExpired(), "23 hours: too young");
            clock.advance(Duration.ofHours(2));
            assertEquals(200, registry.head("/v2/team/app/manifests/buildcache"));
            Lifecycle.Run run = server.server().lifecycle().run();

            assertEquals(2, run.untaggedExpired(), "the superseded export and the untagged push: " + run);
            assertEquals(404, registry.head("/v2/team/app/manifests/" + superseded));
            assertEquals(404, registry.head("/v2/team/app/manifests/" + loose));
            assertEquals(404, registry.head("/v2/team/app/blobs/" + Registry.sha256(first)), "collected in the same run");
            assertEquals(200, registry.head("/v2/team/app/manifests/" + current));
            assertEquals(200, registry.head("/v2/team/app/manifests/" + referrerDigest), "its subject is still here");
            assertArrayEquals(second, registry.get("/v2/team/app/blobs/" + Registry.sha256(second)).body());
        } finally {
            server.stop();
        }
    }

    private static byte[] config(String name) {
        return ("{\"image\":\"" + name + "\"}").getBytes(StandardCharsets.UTF_8);
    }

    /**
     * A node with a budget of 1 MB (evicting above 750 KB, down to 600 KB), the default two-hour
     * grace, and an hourly interval: what runs is what a write past the watermark starts.
     */
    private static TestServer withAMegabyteBudget(TestClock clock) throws Exception {
        TestServer server = new TestServer(c -> c.withLifecycle(ServerConfig.Lifecycle.builder()
                .maxDiskBytes(1_000_000).watermarks(75, 60).maxAge(Duration.ZERO).gcGrace(Duration.ofHours(2))
                .uploadTimeout(Duration.ofHours(24)).interval(Duration.ofHours(1)).scrubRate(0)
                .scrubEvery(Duration.ofHours(24)).namespaces(List.of()).minFreeDisk(ServerConfig.DiskShare.NONE)
                .untaggedMaxAge(Duration.ZERO).build()), clock);
        server.start();
        return server;
    }

    /** Pushes an image of {@code layers} (and a config of its own) a minute later; returns its digest. */
    private static String push(Registry registry, TestClock clock, String tag, byte[]... layers) throws Exception {
        return pushWith(registry, clock, tag, config(tag + "-" + Registry.sha256(layers[0])), layers);
    }

    /** The size of the manifest {@link #pushWith} pushes for {@code config} and {@code layers}. */
    private static int manifestSize(byte[] config, byte[]... layers) {
        return Registry.imageManifest(config, layers).getBytes(StandardCharsets.UTF_8).length;
    }

    /** Pushes an image of {@code config} and {@code layers} a minute later; returns its digest. */
    private static String pushWith(Registry registry, TestClock clock, String tag, byte[] config, byte[]... layers)
            throws Exception {
        clock.advance(Duration.ofMinutes(1));
        for (byte[] layer : layers) {
            assertEquals(201, registry.pushBlob("team/app", layer));
        }
        assertEquals(201, registry.pushBlob("team/app", config));
        String manifest = Registry.imageManifest(config, layers);
        String digest = Registry.sha256(manifest.getBytes(StandardCharsets.UTF_8));
        assertEquals(201, registry.pushManifest("team/app", tag == null ? digest : tag, MANIFEST_TYPE, manifest));
        return digest;
    }

    private static int delete(Registry registry, String path) throws Exception {
        return registry.send(HttpRequest.newBuilder(registry.uri(path)).DELETE()).statusCode();
    }

    private static JsonNode gc(Registry registry) throws Exception {
        return JSON.readTree(registry.send(HttpRequest.newBuilder(registry.uri("/api/v1/gc"))
                .POST(HttpRequest.BodyPublishers.noBody())).body());
    }

    static JsonNode store(Registry registry) throws Exception {
        return JSON.readTree(registry.get("/api/v1/store").body());
    }

    /** The store's state once {@code done} holds, within 60 seconds. */
    static JsonNode awaitStore(Registry registry, java.util.function.Predicate<JsonNode> done) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        JsonNode store = store(registry);
        while (!done.test(store) && System.nanoTime() < deadline) {
            Thread.sleep(200);
            store = store(registry);
        }
        return store;
    }

    /**
     * Bytes of the files under {@code folder}, walked while the node may be collecting: a file or
     * folder that goes in the middle of the walk counts as gone.
     */
    static long filesUnder(Path folder) throws Exception {
        long[] total = {0};
        Files.walkFileTree(folder, new java.nio.file.SimpleFileVisitor<>() {
            @Override
            public java.nio.file.FileVisitResult visitFile(Path file, java.nio.file.attribute.BasicFileAttributes a) {
                if (a.isRegularFile()) {
                    total[0] += a.size();
                }
                return java.nio.file.FileVisitResult.CONTINUE;
            }

            @Override
            public java.nio.file.FileVisitResult visitFileFailed(Path file, java.io.IOException e)
                    throws java.io.IOException {
                if (e instanceof java.nio.file.NoSuchFileException) {
                    return java.nio.file.FileVisitResult.CONTINUE; // collected meanwhile
                }
                throw e;
            }
        });
        return total[0];
    }

    static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
