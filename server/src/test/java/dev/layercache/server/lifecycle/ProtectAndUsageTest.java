package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TestServer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The {@code protect} setting and exact per-namespace usage on a real node with a small budget:
 * a protected tag outlives younger unprotected ones when the budget evicts, even when it alone is
 * over the budget; each namespace's bytes count a blob its roots share once, shown in
 * {@code /api/v1/store} and in {@code layercache_namespace_store_bytes}.
 */
class ProtectAndUsageTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int LAYER = 100_000;
    private static final int BASE = 20_000;
    private static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";

    private final TestClock clock = new TestClock();

    /** 400 KB budget: eviction starts above 300 KB and stops below 240 KB; cache:main refs protected. */
    @RegisterExtension
    final TestServer server = new TestServer(c -> c.withLifecycle(ServerConfig.Lifecycle.builder()
            .maxDiskBytes(400_000).watermarks(75, 60).maxAge(Duration.ZERO).gcGrace(Duration.ofMinutes(1))
            .interval(Duration.ofHours(1)).scrubRate(0).minFreeDisk(ServerConfig.DiskShare.NONE)
            .untaggedMaxAge(Duration.ZERO).protect(List.of("*/cache:main", "team/*:release-*")).build()), clock);

    private final byte[] config = "{}".getBytes(StandardCharsets.UTF_8);

    @Test
    void aProtectedTagOutlivesYoungerOnesWhenTheBudgetEvicts() throws Exception {
        Registry registry = new Registry(server.port());
        byte[] base = bytes(BASE, 0);
        byte[][] layers = {bytes(LAYER, 1), bytes(LAYER, 2), bytes(LAYER, 3)};
        String[] refs = {"team/cache:main", "team/app:t1", "team/app:t2"};
        for (int i = 0; i < 3; i++) {
            clock.advance(Duration.ofMinutes(5));
            String repo = refs[i].split(":")[0];
            assertEquals(201, registry.pushBlob(repo, base));
            assertEquals(201, registry.pushBlob(repo, config));
            assertEquals(201, registry.pushBlob(repo, layers[i]));
            assertEquals(201, registry.pushManifest(repo, refs[i].split(":")[1], MANIFEST_TYPE,
                    Registry.imageManifest(config, base, layers[i])));
        }
        // The third layer took the store past 300 KB: the least recently used root that is not
        // protected goes (team/app:t1), not the oldest one (team/cache:main).
        Lifecycle.Run run = EvictionTest.awaitRun(server, r -> r.evictedByBudget() > 0);
        assertEquals(1, run.evictedByBudget(), run.toString());
        assertEquals(200, registry.get("/v2/team/cache/manifests/main").statusCode(), "protected");
        assertEquals(404, registry.get("/v2/team/app/manifests/t1").statusCode(), "the oldest unprotected root");
        assertEquals(200, registry.get("/v2/team/app/manifests/t2").statusCode());
        assertEquals(200, registry.head("/v2/team/cache/blobs/" + Registry.sha256(layers[0])));

        server.server().lifecycle().run();
        JsonNode protect = JSON.readTree(registry.get("/api/v1/store").body()).path("protect");
        assertEquals(List.of("*/cache:main", "team/*:release-*"),
                List.of(protect.path("patterns").get(0).asText(), protect.path("patterns").get(1).asText()));
        assertEquals(1, protect.path("roots").asLong(), protect.toString());
        assertEquals(BASE + config.length + LAYER, protect.path("bytes").asLong(), protect.toString());
    }

    @Test
    void protectedRootsAloneOverTheBudgetAreKept() throws Exception {
        Registry registry = new Registry(server.port());
        byte[] big = bytes(350_000, 7);
        assertEquals(201, registry.pushBlob("team/x", config));
        assertEquals(201, registry.pushBlob("team/x", big));
        assertEquals(201, registry.pushManifest("team/x", "release-1", MANIFEST_TYPE,
                Registry.imageManifest(config, big)));
        clock.advance(Duration.ofMinutes(10));
        Lifecycle.Run run = server.server().lifecycle().run();
        assertTrue(run.bytesAfter() > 300_000, "over the high watermark: " + run);
        assertEquals(0, run.evictedByBudget(), "a protected root is never evicted");
        assertEquals(200, registry.get("/v2/team/x/manifests/release-1").statusCode());
        assertEquals(200, registry.head("/v2/team/x/blobs/" + Registry.sha256(big)));
    }

    @Test
    void aNamespacesBytesCountABlobItsRootsShareOnce() throws Exception {
        Registry registry = new Registry(server.port());
        byte[] shared = bytes(30_000, 10);
        byte[] a1 = bytes(40_000, 11);
        byte[] a2 = bytes(45_000, 12);
        for (byte[] b : new byte[][] {config, shared, a1, a2}) {
            assertEquals(201, registry.pushBlob("alpha/app", b));
        }
        // Two roots of alpha share config and the shared layer; beta's root shares them too.
        assertEquals(201, registry.pushManifest("alpha/app", "v1", MANIFEST_TYPE, Registry.imageManifest(config, shared, a1)));
        assertEquals(201, registry.pushManifest("alpha/app", "v2", MANIFEST_TYPE, Registry.imageManifest(config, shared, a2)));
        for (byte[] b : new byte[][] {config, shared}) {
            assertEquals(201, registry.pushBlob("beta/app", b));
        }
        assertEquals(201, registry.pushManifest("beta/app", "v1", MANIFEST_TYPE, Registry.imageManifest(config, shared)));

        server.server().lifecycle().run();
        JsonNode namespaces = JSON.readTree(registry.get("/api/v1/store").body()).path("namespaces");
        assertTrue(namespaces.path("at").isTextual(), namespaces.toString());
        JsonNode alpha = row(namespaces, "alpha");
        JsonNode beta = row(namespaces, "beta");
        long alphaBytes = config.length + shared.length + a1.length + a2.length;
        assertEquals(alphaBytes, alpha.path("bytes").asLong(), "each blob once, not once per root: " + namespaces);
        assertEquals(4, alpha.path("blobs").asLong());
        assertEquals(2, alpha.path("roots").asLong());
        assertEquals(config.length + shared.length, beta.path("bytes").asLong(), "a blob shared with alpha counts here too");
        assertEquals("alpha", namespaces.path("usage").get(0).path("namespace").asText(), "largest first");

        PrometheusText metrics = new PrometheusText(Registry.utf8(registry.get("/metrics").body()));
        assertEquals(alphaBytes, metrics.value("layercache_namespace_store_bytes", "namespace", "alpha"));
        assertEquals(config.length + shared.length, metrics.value("layercache_namespace_store_bytes", "namespace", "beta"));
    }

    private static JsonNode row(JsonNode namespaces, String name) {
        for (JsonNode r : namespaces.path("usage")) {
            if (r.path("namespace").asText().equals(name)) {
                return r;
            }
        }
        throw new AssertionError("no namespace " + name + " in " + namespaces);
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
