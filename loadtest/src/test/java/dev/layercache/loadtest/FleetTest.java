package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.client.BuildExplanation;
import dev.layercache.client.CacheEntry;
import dev.layercache.client.CacheKey;
import dev.layercache.client.InputChange;
import dev.layercache.client.LayerCacheClient;
import dev.layercache.client.Lookup;
import dev.layercache.client.LookupResult;
import dev.layercache.client.MissReason;
import dev.layercache.client.StepVerdict;
import dev.layercache.loadtest.FleetRun.Publication;
import dev.layercache.loadtest.FleetWorkload.BuildPlan;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.ServerProcess;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fleet simulator against a real layercache server process (and CNCF Distribution), in
 * every protocol: what the simulator expects is what the cache answers, the figures add up, and
 * what the fleet published is on the server afterwards.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FleetTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    /** Small layers and a few of 1-3 MiB, so that bodies stream in more than one piece. */
    private static final SizeMix SMALL_LAYERS = SizeMix.parse("9:1k-64k,1:1m-3m");

    @TempDir
    static Path work;
    private static ServerProcess server;

    @BeforeAll
    static void startServer() throws Exception {
        server = ServerProcess.start(Files.createDirectories(work.resolve("data")), work.resolve("server.log"));
    }

    @AfterAll
    static void stopServer() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    /** One builder: deterministic for the seed, so every lookup's answer is known exactly. */
    private static FleetConfig.Builder oneBuilder(String runId) {
        return FleetConfig.builder().builders(1).projects(2).steps(5).maxBuilds(12)
                .duration(Duration.ofSeconds(60)).warmup(Duration.ZERO).seed(7).sizeMix(SMALL_LAYERS)
                .changeRate(0.3).commitProbability(0.7).runId(runId)
                .grpcTarget("127.0.0.1:" + server.grpcPort()).registry(URI.create("http://127.0.0.1:" + server.port()));
    }

    @Test
    void everyProtocolHitsExactlyWhatTheSimulatorExpects() throws Exception {
        FleetConfig config = oneBuilder("exact").build();
        Map<Protocol, Fleet.Result> results = new EnumMap<>(Protocol.class);
        for (Protocol protocol : Protocol.values()) {
            Fleet.Result r = Fleet.run(config, protocol, null);
            results.put(protocol, r);
            FleetStats s = r.measured();
            String figures = protocol + " " + figures(r);
            assertEquals(0, s.errors.sum(), figures);
            assertEquals(12, s.builds.sum(), figures);
            assertEquals(12 * 5, s.lookups.sum(), figures);
            // With one builder nothing races and nothing is overwritten: the observed hits are
            // exactly the lookups that were not the first of their key.
            assertEquals(0, s.unexpected(), figures);
            assertEquals(0, s.racingLookups.sum() + s.missesConcurrentBuild.sum() + s.missesRefOverwritten.sum(),
                    figures);
            assertEquals(s.lookups.sum() - s.firstLookups.sum(), s.hits.sum(), figures);
            assertEquals(s.hitRateExpected(), s.hitRateObserved(), 1e-9, figures);
            assertTrue(s.hits.sum() > 0 && s.missesNewKey.sum() > 0, figures);
            // Every hit's layer was downloaded (once, on a fresh machine) and not rebuilt.
            assertTrue(s.bytesSaved.sum() > 0, figures);
            assertEquals(s.bytesSaved.sum(), s.bytesDownloaded.sum(), figures);
            // Every new layer was uploaded exactly once.
            assertEquals(sizeOfDistinctLayers(r), s.bytesUploaded.sum(), figures);
            assertEquals(12, s.buildMicros.getTotalCount(), figures);
        }
        // The same workload, whatever the protocol: the same hits.
        long grpcHits = results.get(Protocol.GRPC).measured().hits.sum();
        assertEquals(grpcHits, results.get(Protocol.OCI_BUILDAH).measured().hits.sum());
        assertEquals(grpcHits, results.get(Protocol.OCI_BUILDKIT).measured().hits.sum());

        assertEntriesOnServer(results.get(Protocol.GRPC));
        assertTagsOnRegistry(results.get(Protocol.OCI_BUILDAH), URI.create("http://127.0.0.1:" + server.port()));
        assertCacheRefsOnRegistry(results.get(Protocol.OCI_BUILDKIT), URI.create("http://127.0.0.1:" + server.port()));
    }

    @Test
    void concurrentBuildersMissOnlyWhereTheModelSaysTheyMay() throws Exception {
        for (Protocol protocol : Protocol.values()) {
            // Four builders on two projects: builds of the same commit overlap. A number of builds
            // rather than a duration, so that a slow machine runs the same test.
            FleetConfig config = oneBuilder("busy").builders(4).projects(2).maxBuilds(16).commitProbability(0.5)
                    .build();
            Fleet.Result r = Fleet.run(config, protocol, null);
            FleetStats s = r.measured();
            String figures = protocol + " " + figures(r);
            assertEquals(0, s.errors.sum(), figures);
            assertEquals(0, s.unexpected(), figures);
            assertEquals(16, s.builds.sum(), figures);
            assertTrue(s.hits.sum() > 0, figures);
            // Every miss is a new key, a concurrent build of the same key, an overwritten BuildKit
            // ref, or a lookup that raced a publication: the hit rate falls short of the
            // workload's by exactly those.
            long explained = s.missesNewKey.sum() + s.missesConcurrentBuild.sum() + s.missesRefOverwritten.sum();
            assertTrue(s.misses() >= explained && s.misses() <= explained + s.racingLookups.sum(), figures);
            assertTrue(s.hitRateObserved() <= s.hitRateExpected(), figures);
            if (protocol != Protocol.OCI_BUILDKIT) {
                assertEquals(0, s.missesRefOverwritten.sum(), figures); // a published key stays
            }
        }
    }

    @Test
    void theServerNamesTheChangedStepAsTheRootCause() throws Exception {
        FleetConfig config = oneBuilder("explain").projects(1).maxBuilds(10).commitProbability(1.0).build();
        Fleet.Result r = Fleet.run(config, Protocol.GRPC, null);
        FleetStats s = r.measured();
        String figures = figures(r);
        assertEquals(0, s.errors.sum() + s.unexpected(), figures);
        // The first build's steps are new; later commits change some step (its own reason) and
        // the steps after it follow (a cascade), each as the simulator expected.
        Map<String, Long> reasons = s.missReasons();
        assertEquals(5, reasons.get(MissReason.NEW_STEP.name()), figures);
        assertTrue(reasons.getOrDefault(MissReason.INPUTS_CHANGED.name(), 0L) > 0, figures);
        assertTrue(reasons.getOrDefault(MissReason.PARENT_CHANGED.name(), 0L) > 0, figures);
        assertEquals(0, s.reasonMismatches.sum(), figures);

        // Step 3 changes: ExplainBuild, asked before the build, blames it and only it.
        BuildPlan next = r.run().workload.commitChanging(0, List.of(2));
        try (LayerCacheClient client = LayerCacheClient.builder().target(config.grpcTarget).plaintext().build()) {
            BuildExplanation e = client.explainBuild(config.namespace(Protocol.GRPC, 0),
                    next.steps().stream().map(p -> Lookup.of(p.step())).toList());
            List<StepVerdict> v = e.steps();
            assertTrue(v.get(0).hit() && v.get(1).hit(), e.summary());
            assertEquals(2, e.rootCauseIndex().orElse(-1), e.summary());
            assertEquals(MissReason.INPUTS_CHANGED, v.get(2).miss().orElseThrow().reason(), e.summary());
            assertEquals(List.of("context/step-3/input"), v.get(2).miss().orElseThrow().inputChanges().stream()
                    .filter(c -> c.kind() == InputChange.Kind.MODIFIED).map(InputChange::path).toList());
            for (int i = 3; i < 5; i++) {
                assertEquals(MissReason.PARENT_CHANGED, v.get(i).miss().orElseThrow().reason(), e.summary());
            }
        }
    }

    @Test
    void ociProtocolsWorkAgainstCncfDistribution() throws Exception {
        Path binary = RealTools.require("docker-registry", "the OCI protocols must work against any registry");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path config = work.resolve("distribution.yml");
        Files.writeString(config, "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
                + "storage:\n  filesystem:\n    rootdirectory: " + work.resolve("distribution") + "\n"
                + "  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:" + port + "\n");
        Process registry = new ProcessBuilder(binary.toString(), "serve", config.toString()).redirectErrorStream(true)
                .redirectOutput(work.resolve("distribution.log").toFile()).start();
        try {
            URI base = URI.create("http://127.0.0.1:" + port);
            awaitRegistry(base, registry);
            FleetConfig fleet = oneBuilder("cncf").maxBuilds(8).registry(base).build();
            for (Protocol protocol : List.of(Protocol.OCI_BUILDAH, Protocol.OCI_BUILDKIT)) {
                Fleet.Result r = Fleet.run(fleet, protocol, null);
                FleetStats s = r.measured();
                String figures = protocol + " " + figures(r) + "\n" + Files.readString(work.resolve("distribution.log"));
                assertEquals(0, s.errors.sum() + s.unexpected(), figures);
                assertEquals(s.lookups.sum() - s.firstLookups.sum(), s.hits.sum(), figures);
                assertTrue(s.hits.sum() > 0 && s.bytesSaved.sum() > 0, figures);
                if (protocol == Protocol.OCI_BUILDAH) {
                    assertTagsOnRegistry(r, base);
                } else {
                    assertCacheRefsOnRegistry(r, base);
                }
            }
        } finally {
            registry.destroy();
            if (!registry.waitFor(10, TimeUnit.SECONDS)) {
                registry.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    private static long sizeOfDistinctLayers(Fleet.Result r) {
        Set<CacheKey> seen = new HashSet<>();
        long total = 0;
        for (Publication p : r.run().publications()) {
            if (seen.add(p.key())) {
                total += r.run().workload.layer(p.key()).size();
            }
        }
        return total;
    }

    /** Every published entry is there, with its layer and the step identity it was published with. */
    private static void assertEntriesOnServer(Fleet.Result r) {
        List<Publication> published = r.run().publications();
        assertFalse(published.isEmpty());
        try (LayerCacheClient client = LayerCacheClient.builder().target(r.run().config.grpcTarget).plaintext()
                .build()) {
            for (Publication p : published) {
                LookupResult found = client.getEntry(p.namespace(), p.key());
                assertTrue(found.isHit(), p.toString());
                CacheEntry entry = found.entry().orElseThrow();
                assertEquals(p.layer(), entry.layers().get(0).digest(), p.toString());
                assertTrue(entry.step().isPresent(), p.toString());
            }
        }
    }

    /** Every step buildah pushed has its tag, whose manifest ends with the step's layer. */
    private static void assertTagsOnRegistry(Fleet.Result r, URI base) throws Exception {
        List<Publication> published = r.run().publications();
        assertFalse(published.isEmpty());
        for (Publication p : published) {
            assertEquals(p.key().digest().hex(), p.reference());
            JsonNode manifest = JSON.readTree(get(base, p.namespace(), "manifests/" + p.reference(),
                    BuildahBuilder.OCI_MANIFEST));
            JsonNode layers = manifest.path("layers");
            assertEquals(p.layer().toString(), layers.get(layers.size() - 1).path("digest").asText(), p.toString());
            assertEquals(200, head(base, p.namespace(), "blobs/" + p.layer()), p.toString());
        }
    }

    /** Each project's BuildKit ref lists the keys and layers of its last build. */
    private static void assertCacheRefsOnRegistry(Fleet.Result r, URI base) throws Exception {
        Map<String, List<Publication>> byRepository = new LinkedHashMap<>();
        r.run().publications().forEach(p -> byRepository.computeIfAbsent(p.namespace(), n -> new ArrayList<>()).add(p));
        assertFalse(byRepository.isEmpty());
        int steps = r.run().config.steps;
        for (Map.Entry<String, List<Publication>> e : byRepository.entrySet()) {
            JsonNode index = JSON.readTree(get(base, e.getKey(), "manifests/" + BuildKitBuilder.REF,
                    BuildKitBuilder.OCI_INDEX));
            assertEquals(BuildKitBuilder.OCI_INDEX, index.path("mediaType").asText());
            String config = null;
            for (JsonNode d : index.path("manifests")) {
                if (BuildKitBuilder.CACHE_CONFIG.equals(d.path("mediaType").asText())) {
                    config = d.path("digest").asText();
                }
            }
            JsonNode cacheConfig = JSON.readTree(get(base, e.getKey(), "blobs/" + config, "*/*"));
            Map<String, String> layerOfRecord = new LinkedHashMap<>();
            for (JsonNode record : cacheConfig.path("records")) {
                int layer = record.path("layers").path(0).path("layer").asInt();
                layerOfRecord.put(record.path("digest").asText(),
                        cacheConfig.path("layers").path(layer).path("blob").asText());
            }
            List<Publication> all = e.getValue();
            for (Publication p : all.subList(all.size() - steps, all.size())) {
                assertEquals(p.layer().toString(), layerOfRecord.get(p.key().toString()), p.toString());
                assertEquals(200, head(base, p.namespace(), "blobs/" + p.layer()), p.toString());
            }
        }
    }

    private static byte[] get(URI base, String repository, String path, String accept)
            throws IOException, InterruptedException {
        HttpResponse<byte[]> r = HTTP.send(HttpRequest.newBuilder(base.resolve("/v2/" + repository + "/" + path))
                .header("Accept", accept).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, r.statusCode(), repository + "/" + path + ": " + new String(r.body()));
        return r.body();
    }

    private static int head(URI base, String repository, String path) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(base.resolve("/v2/" + repository + "/" + path))
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding())
                .statusCode();
    }

    private static void awaitRegistry(URI base, Process registry) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            try {
                if (HTTP.send(HttpRequest.newBuilder(base.resolve("/v2/")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            assertTrue(registry.isAlive(), "docker-registry exited: "
                    + Files.readString(work.resolve("distribution.log")));
            Thread.sleep(100);
        }
        throw new AssertionError("docker-registry did not answer within 20 s");
    }

    /** The report row, for assertion messages. */
    private static String figures(Fleet.Result r) {
        Report report = new Report("fleet");
        FleetCommand.addRow(report, r);
        return report.markdown();
    }
}
