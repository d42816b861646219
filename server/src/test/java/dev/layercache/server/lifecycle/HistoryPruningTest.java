package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.api.v1.PutEntryRequest;
import dev.layercache.api.v1.StepIdentity;
import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.server.analysis.Layers;
import dev.layercache.server.buildkit.BuildsApi;
import dev.layercache.server.buildkit.RealExport;
import dev.layercache.server.buildkit.TwoStageBuild;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.manifest.BuildKitCache;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TestServer;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Metadata that only traffic writes stays bounded: tombstones, step publications, build records
 * and kept cache exports by age and by count per repository, last uses of roots deleted through
 * the API, cached analyses of manifests that are gone. Checked in the node's own RocksDB after it stops.
 */
class HistoryPruningTest {
    private static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";

    @Test
    void historyIsPrunedByAgeAndCountAndRecordsOfRootsGoneGo() throws Exception {
        TestClock clock = new TestClock();
        TestServer server = new TestServer(c -> c.withLifecycle(c.lifecycle()
                .withHistory(new ServerConfig.History(Duration.ofDays(1), 3))), clock);
        server.start();
        String analysed;
        try {
            Registry registry = new Registry(server.port());
            byte[] config = "{\"history\":true}".getBytes(StandardCharsets.UTF_8);
            byte[] layer = new Layers().dir("app").file("app/main", "hello\n").gzip();
            // Five tags of hist/a and two of hist/b go: seven tombstones, a minute apart.
            for (String repo : new String[] {"hist/a", "hist/b"}) {
                assertEquals(201, registry.pushBlob(repo, config));
                assertEquals(201, registry.pushBlob(repo, layer));
                for (int i = 0; i < (repo.equals("hist/a") ? 5 : 2); i++) {
                    clock.advance(Duration.ofMinutes(1));
                    assertEquals(201, registry.pushManifest(repo, "t" + i, MANIFEST_TYPE,
                            Registry.imageManifest(config, layer)));
                    assertEquals(202, delete(registry, "/v2/" + repo + "/manifests/t" + i));
                }
            }
            // Five step identities published in hist/steps, a minute apart.
            ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
            try {
                EntryCacheGrpc.EntryCacheBlockingStub entries = EntryCacheGrpc.newBlockingStub(channel);
                assertEquals(201, registry.pushBlob("hist/steps", layer));
                for (int i = 0; i < 5; i++) {
                    clock.advance(Duration.ofMinutes(1));
                    entries.putEntry(PutEntryRequest.newBuilder().setNamespace("hist/steps").setEntry(Entry.newBuilder()
                            .setKey(Registry.sha256(("key " + i).getBytes(StandardCharsets.UTF_8)))
                            .addLayers(LayerDescriptor.newBuilder().setDigest(Registry.sha256(layer))
                                    .setSize(layer.length).setMediaType("application/vnd.oci.image.layer.v1.tar+gzip"))
                            .setStep(StepIdentity.newBuilder().setStepId("step-" + i).setInstruction("RUN " + i)))
                            .build());
                }
            } finally {
                channel.shutdownNow();
            }
            // An image that is read, analysed, then deleted: its last uses and its analysis are orphans.
            byte[] ownConfig = "{\"image\":\"hist/c\"}".getBytes(StandardCharsets.UTF_8);
            assertEquals(201, registry.pushBlob("hist/c", ownConfig));
            assertEquals(201, registry.pushBlob("hist/c", layer));
            String manifest = Registry.imageManifest(ownConfig, layer);
            assertEquals(201, registry.pushManifest("hist/c", "v1", MANIFEST_TYPE, manifest));
            assertEquals(200, registry.get("/v2/hist/c/manifests/v1").statusCode());
            assertEquals(200, registry.get("/api/v1/analysis/hist/c/v1").statusCode());
            analysed = Registry.sha256(manifest.getBytes(StandardCharsets.UTF_8));
            server.server().lifecycle().run(); // writes the last uses, prunes the tombstones past 3 per repository
            assertEquals(202, delete(registry, "/v2/hist/c/manifests/" + analysed));

            MetadataPruner.Report pruned = server.server().lifecycle().run().history();
            assertEquals(new MetadataPruner.Report(0, 0, 2, 1, 0), pruned,
                    "the deleted image's last uses (its tag, its manifest) and its analysis");
        } finally {
            server.stopKeepingData();
        }
        try (RocksKeyValueStore kv = new RocksKeyValueStore(server.dataDir().resolve("metadata"))) {
            assertEquals(List.of("hist/a\0t2", "hist/a\0t3", "hist/a\0t4", "hist/b\0t0", "hist/b\0t1", "hist/c\0v1"),
                    keys(kv, Table.TOMBSTONES), "the newest three of each repository");
            assertEquals(List.of("hist/steps\0step-2", "hist/steps\0step-3", "hist/steps\0step-4"),
                    keys(kv, Table.STEPS));
            assertEquals(List.of(), keys(kv, Table.ANALYSES), "the analysed manifest is gone");
            for (String key : keys(kv, Table.ACCESS)) {
                assertNull(key.startsWith("TAG\0hist/a") || key.contains(analysed) ? key : null,
                        "no last use of a root that is gone");
            }
            assertNotNull(kv.get(Table.ACCESS, Keys.of("ENTRY", "hist/steps",
                    Registry.sha256("key 4".getBytes(StandardCharsets.UTF_8)))), "a live root keeps its last use");
        }

        // A day later, the node's history is empty: every tombstone and publication is too old.
        server.start();
        try {
            clock.advance(Duration.ofDays(2));
            server.server().lifecycle().run();
        } finally {
            server.stopKeepingData();
        }
        try (RocksKeyValueStore kv = new RocksKeyValueStore(server.dataDir().resolve("metadata"))) {
            assertEquals(List.of(), keys(kv, Table.TOMBSTONES));
            assertEquals(List.of(), keys(kv, Table.STEPS));
        } finally {
            server.stop();
        }
    }

    /**
     * Build records and the kept cache exports are bounded per repository like the rest of the
     * history: the newest {@code history-max-records} survive a lifecycle run, and an export older
     * than {@code history-max-age} is forgotten, so that the next push of its ref is a first export.
     */
    @Test
    void buildRecordsAndCacheExportsArePrunedByCountAndAge() throws Exception {
        TestClock clock = new TestClock();
        TestServer server = new TestServer(c -> c.withLifecycle(c.lifecycle()
                .withHistory(new ServerConfig.History(Duration.ofDays(1), 3))), clock);
        server.start();
        try {
            int port = server.port();
            // Five refs of hist/builds, one export each, a minute apart; two of hist/kept.
            for (int i = 0; i < 5; i++) {
                clock.advance(Duration.ofMinutes(1));
                assertEquals(201, export().push(port, "hist/builds", "c" + i).status());
                BuildsApi.awaitBuild(port, "hist/builds", i + 1);
            }
            for (int i = 0; i < 2; i++) {
                clock.advance(Duration.ofMinutes(1));
                assertEquals(201, export().push(port, "hist/kept", "c" + i).status());
                BuildsApi.awaitBuild(port, "hist/kept", i + 1);
            }

            MetadataPruner.Report pruned = server.server().lifecycle().run().history();

            assertEquals(2 + 2, pruned.builds(), "the two oldest build records and exports of hist/builds");
            assertEquals(List.of("c4", "c3", "c2"), references(port, "hist/builds"), "the newest three");
            assertEquals(List.of("c1", "c0"), references(port, "hist/kept"), "under the bound: all kept");
            // c0's export went with its record: its next push is a first export; c4's is compared.
            clock.advance(Duration.ofMinutes(1));
            assertEquals(201, export().push(port, "hist/builds", "c0").status());
            assertEquals("first_export", BuildsApi.awaitBuild(port, "hist/builds", 4).path("status").asText());
            clock.advance(Duration.ofMinutes(1));
            assertEquals(201, export().push(port, "hist/builds", "c4").status());
            JsonNode compared = BuildsApi.awaitBuild(port, "hist/builds", 5);
            assertEquals("compared", compared.path("status").asText(), compared.toString());
            assertEquals(8, compared.path("reused").asInt());

            // Two days later every record and export is older than a day: all forgotten.
            clock.advance(Duration.ofDays(2));
            server.server().lifecycle().run();
            assertEquals(List.of(), references(port, "hist/builds"));
            assertEquals(List.of(), references(port, "hist/kept"));
            assertEquals(201, export().push(port, "hist/builds", "c4").status());
            assertEquals("first_export", BuildsApi.awaitBuild(port, "hist/builds", 1).path("status").asText(),
                    "its export was older than history-max-age");
        } finally {
            server.stop();
        }
    }

    /** {@code TwoStageBuild} in mode=max, an image-manifest export: 8 steps. */
    private static RealExport export() {
        return RealExport.of(TwoStageBuild.export(true, "v1", "make"), BuildKitCache.Shape.IMAGE_MANIFEST);
    }

    private static List<String> references(int port, String repo) throws Exception {
        List<String> out = new ArrayList<>();
        BuildsApi.builds(port, repo).forEach(b -> out.add(b.path("reference").asText()));
        return out;
    }

    private static int delete(Registry registry, String path) throws Exception {
        return registry.send(HttpRequest.newBuilder(registry.uri(path)).DELETE()).statusCode();
    }

    private static List<String> keys(RocksKeyValueStore kv, Table table) {
        List<String> out = new ArrayList<>();
        kv.forEach(table, e -> out.add(Keys.string(e.key())));
        return out;
    }
}
