package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ConfigLoader;
import dev.layercache.server.testing.SmallDisk;
import dev.layercache.server.testing.Registry;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node started with no budget settings on a small real file system (a 64 MiB tmpfs the test
 * mounts, so a full disk would really fail writes with ENOSPC): it takes pushes of four times the
 * file system's size, every one succeeds, and its blobs stay within the default budget (60% of
 * the file system) the whole time.
 */
class DefaultBudgetTest {
    private static final long MIB = 1 << 20;
    private static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";

    @TempDir
    Path dir;

    @Test
    void aNodeWithNoBudgetSettingsNeverFillsItsDisk() throws Exception {
        try (SmallDisk small = SmallDisk.mount(dir.resolve("small-disk"), 64)) {
            Path mount = small.path();
            // Only where to keep data and where to listen: every lifecycle setting is its default.
            try (LayerCacheServer server = LayerCacheServer.start(ConfigLoader.load(new String[] {
                "--data-dir", mount.resolve("data").toString(), "--http-port", "0", "--grpc-port", "0",
                "--bind-address", "127.0.0.1"}, Map.of()))) {
                FileStore disk = Files.getFileStore(mount);
                long budget = disk.getTotalSpace() / 100 * 60;
                Registry registry = new Registry(server.httpPort());
                JsonNode store = BudgetTest.store(registry);
                assertEquals(budget, store.get("budget").get("max_disk_bytes").asLong(), store.toString());
                assertEquals("60%", store.get("budget").get("max_disk_size").asText());

                long pushed = 0;
                long peak = 0;
                for (int i = 0; i < 64; i++) {
                    byte[] layer = BudgetTest.bytes((int) (4 * MIB), 100 + i);
                    byte[] config = ("{\"image\":" + i + "}").getBytes(StandardCharsets.UTF_8);
                    assertEquals(201, registry.pushBlob("ci/app", layer), "layer " + i + " of a full disk?");
                    assertEquals(201, registry.pushBlob("ci/app", config), "config " + i);
                    assertEquals(201, registry.pushManifest("ci/app", "build-" + i, MANIFEST_TYPE,
                            Registry.imageManifest(config, layer)), "manifest " + i);
                    pushed += layer.length;
                    peak = Math.max(peak, BudgetTest.filesUnder(mount.resolve("data/blobs")));
                }
                assertTrue(pushed >= 4 * disk.getTotalSpace(), "four times the file system was pushed");

                store = BudgetTest.awaitStore(registry, s -> s.get("usage").get("bytes").asLong() <= budget);
                assertTrue(store.get("usage").get("bytes").asLong() <= budget, store.toString());
                assertTrue(BudgetTest.filesUnder(mount.resolve("data/blobs")) <= budget);
                // Between two runs usage may pass the budget by what a run takes to start: never the disk.
                assertTrue(peak < disk.getTotalSpace() - 8 * MIB, "peak " + peak + " of " + disk.getTotalSpace());
                System.out.printf("default budget on a 64 MiB tmpfs: %d MiB; 256 MiB pushed, peak %d MiB of"
                        + " blob files%n", budget / MIB, peak / MIB);
                assertArrayEquals(BudgetTest.bytes((int) (4 * MIB), 163),
                        registry.get("/v2/ci/app/blobs/" + Registry.sha256(BudgetTest.bytes((int) (4 * MIB), 163)))
                                .body(), "the newest image is whole");
            }
        }
    }

    /**
     * With no size budget, only the free-space floor (here half of a 64 MiB tmpfs): as the disk
     * nears the floor, eviction frees even a blob a client was just told exists (a failed build
     * beats a full disk), which a size budget alone keeps for its asked grace.
     */
    @Test
    void nearTheFreeSpaceFloorEvenAskedBlobsGo() throws Exception {
        try (SmallDisk small = SmallDisk.mount(dir.resolve("floor-disk"), 64)) {
            Path mount = small.path();
            try (LayerCacheServer server = LayerCacheServer.start(ConfigLoader.load(new String[] {
                "--data-dir", mount.resolve("data").toString(), "--http-port", "0", "--grpc-port", "0",
                "--bind-address", "127.0.0.1", "--max-disk-size", "0", "--min-free-disk", "50%"}, Map.of()))) {
                Registry registry = new Registry(server.httpPort());
                byte[] first = BudgetTest.bytes((int) (8 * MIB), 200);
                push(registry, "floor/app", "first", first);
                Thread.sleep(5); // the first image is the least recently used
                assertEquals(200, registry.head("/v2/floor/app/blobs/" + Registry.sha256(first)), "a client asks");
                for (int i = 1; i <= 3; i++) {
                    Thread.sleep(5);
                    push(registry, "floor/app", "next-" + i, BudgetTest.bytes((int) (8 * MIB), 200 + i));
                }
                JsonNode store = BudgetTest.awaitStore(registry,
                        s -> !s.path("last_run").isNull() && s.path("last_run").path("evicted_by_budget").asInt() > 0);
                assertTrue(store.path("budget").path("limited_by_free_space").asBoolean(), store.toString());
                assertEquals(404, registry.head("/v2/floor/app/manifests/first"), store.toString());
                assertEquals(404, registry.head("/v2/floor/app/blobs/" + Registry.sha256(first)),
                        "asked for, and freed all the same: the disk comes first");
                assertEquals(200, registry.head("/v2/floor/app/manifests/next-3"));
                assertTrue(Files.getFileStore(mount).getUsableSpace() >= 24 * MIB,
                        "the floor holds: " + Files.getFileStore(mount).getUsableSpace());
            }
        }
    }

    private static void push(Registry registry, String repo, String tag, byte[] layer) throws Exception {
        byte[] config = ("{\"tag\":\"" + tag + "\"}").getBytes(StandardCharsets.UTF_8);
        assertEquals(201, registry.pushBlob(repo, layer));
        assertEquals(201, registry.pushBlob(repo, config));
        assertEquals(201, registry.pushManifest(repo, tag, MANIFEST_TYPE, Registry.imageManifest(config, layer)));
    }
}
