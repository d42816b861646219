package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TestServer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A namespace's own budget and age, on a node with neither: only that namespace is trimmed. */
class NamespaceLimitsTest {
    private static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";
    private final TestClock clock = new TestClock();

    /** team/ci: 250 KB (evict above 187.5 KB, down to under 150 KB); scratch: unused for 10 minutes. */
    @RegisterExtension
    final TestServer server = new TestServer(c -> c.withLifecycle(ServerConfig.Lifecycle.builder()
            .maxDiskBytes(0).watermarks(75, 60).maxAge(Duration.ZERO).gcGrace(Duration.ZERO)
            .uploadTimeout(Duration.ofHours(24)).interval(Duration.ofHours(1)).scrubRate(0)
            .scrubEvery(Duration.ofHours(24)).minFreeDisk(ServerConfig.DiskShare.NONE).untaggedMaxAge(Duration.ZERO)
            .namespaces(List.of(new ServerConfig.NamespaceLimit("team/ci", 250_000, null),
                    new ServerConfig.NamespaceLimit("scratch", 0, Duration.ofMinutes(10)))).build()), clock);

    @Test
    void onlyTheNamespaceOverItsOwnLimitsLosesRoots() throws Exception {
        Registry registry = new Registry(server.port());
        for (int i = 1; i <= 3; i++) {
            clock.advance(Duration.ofMinutes(1));
            push(registry, "team/ci/app", "ci" + i, i);
            push(registry, "team/main", "main" + i, 10 + i);
        }
        push(registry, "scratch/tmp", "old", 20);
        clock.advance(Duration.ofMinutes(11));
        push(registry, "scratch/tmp", "new", 21);

        Lifecycle.Run run = server.server().lifecycle().run();

        assertEquals(1, run.evictedByAge(), "scratch/tmp:old, unused for 11 minutes");
        assertEquals(2, run.evictedByBudget(), "team/ci holds 3 x 100 KB against 250 KB: the two oldest go");
        assertEquals(404, registry.head("/v2/team/ci/app/manifests/ci1"));
        assertEquals(404, registry.head("/v2/team/ci/app/manifests/ci2"));
        assertEquals(200, registry.head("/v2/team/ci/app/manifests/ci3"));
        for (int i = 1; i <= 3; i++) {
            assertEquals(200, registry.head("/v2/team/main/manifests/main" + i), "team/main has no limits");
        }
        assertEquals(404, registry.head("/v2/scratch/tmp/manifests/old"));
        assertEquals(200, registry.head("/v2/scratch/tmp/manifests/new"));
    }

    private static void push(Registry registry, String repo, String tag, long seed) throws Exception {
        byte[] layer = new byte[100_000];
        new Random(seed).nextBytes(layer);
        byte[] config = ("{\"seed\":" + seed + "}").getBytes(StandardCharsets.UTF_8);
        assertEquals(201, registry.pushBlob(repo, layer));
        assertEquals(201, registry.pushBlob(repo, config));
        assertEquals(201, registry.pushManifest(repo, tag, MANIFEST_TYPE, Registry.imageManifest(config, layer)));
    }
}
