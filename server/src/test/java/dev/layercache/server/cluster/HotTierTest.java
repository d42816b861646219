package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.ClusterNodes;
import dev.layercache.server.testing.Registry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node's own disk is a hot tier in front of the bucket: the lifecycle keeps it within
 * {@code max-disk-size} by evicting local copies only, and what it evicted is fetched back from
 * the bucket on the next request, never lost.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class HotTierTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void theLocalTierStaysInItsBudgetAndEvictedCopiesComeBackFromTheBucket() throws Exception {
        try (ClusterNodes cluster = ClusterNodes.start(dir, 2, "--max-disk-size", "400KB", "--gc-grace", "0s")) {
            Registry n0 = new Registry(cluster.node(0).port());
            Registry n1 = new Registry(cluster.node(1).port());
            byte[] config = "{\"tier\":true}".getBytes(StandardCharsets.UTF_8);
            assertEquals(201, n0.pushBlob("hot/app", config));
            List<byte[]> layers = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                byte[] layer = new byte[100_000];
                new Random(i).nextBytes(layer);
                layers.add(layer);
                assertEquals(201, n0.pushBlob("hot/app", layer));
                assertEquals(201, n0.pushManifest("hot/app", "v" + i, "application/vnd.oci.image.manifest.v1+json",
                        Registry.imageManifest(config, layer)));
            }
            // 600 kB went through node 0; its lifecycle (every second) brings its disk under 400 kB.
            long deadline = System.currentTimeMillis() + 30_000;
            JsonNode store = JSON.readTree(n0.get("/api/v1/store").body());
            while (store.path("usage").path("bytes").asLong() > 400_000 && System.currentTimeMillis() < deadline) {
                Thread.sleep(250);
                store = JSON.readTree(n0.get("/api/v1/store").body());
            }
            assertTrue(store.path("usage").path("bytes").asLong() <= 400_000, "node 0's own disk: " + store);
            assertTrue(store.path("last_run").path("evicted_by_budget").asInt() > 0
                    || store.path("last_gc").path("collected").asInt() > 0, store.toString());

            // Everything is still there, through the node that evicted its copies and through the other.
            for (Registry node : new Registry[] {n0, n1}) {
                for (int i = 0; i < layers.size(); i++) {
                    assertEquals(200, node.get("/v2/hot/app/manifests/v" + i).statusCode(), "tag v" + i);
                    assertArrayEquals(layers.get(i),
                            node.get("/v2/hot/app/blobs/" + Registry.sha256(layers.get(i))).body(), "layer " + i);
                }
            }
        }
    }
}
