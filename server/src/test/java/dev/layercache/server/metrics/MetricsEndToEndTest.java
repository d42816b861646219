package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.DeleteEntryRequest;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.api.v1.FindMissingBlobsRequest;
import dev.layercache.api.v1.GetEntryRequest;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.api.v1.PutEntryRequest;
import dev.layercache.api.v1.StepIdentity;
import dev.layercache.api.v1.WriteBlobRequest;
import dev.layercache.api.v1.WriteBlobResponse;
import dev.layercache.api.v1.WriteHeader;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A scripted workload through both surfaces of a real node, then every counter checked against
 * what the workload did: in {@code /metrics} and in {@code /api/v1/stats}.
 */
class MetricsEndToEndTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    final TestServer server = new TestServer(c -> c.withMetrics(new ServerConfig.Metrics(true, 1, 3)));

    private Registry registry;
    private ManagedChannel channel;

    @BeforeEach
    void connect() {
        registry = new Registry(server.port());
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void everyLookupByteAndUploadOfAWorkloadIsCounted() throws Throwable {
        byte[] config = "{\"architecture\":\"amd64\"}".getBytes(StandardCharsets.UTF_8);
        byte[] layer = new byte[40_000];
        new java.util.Random(7).nextBytes(layer);
        String layerDigest = Registry.sha256(layer);
        String unknown = Registry.sha256("nobody pushed this".getBytes(StandardCharsets.UTF_8));

        // OCI: push, then hits and misses of each kind.
        assertEquals(201, registry.pushBlob("team/app", config));
        assertEquals(201, registry.pushBlob("team/app", layer));
        String manifest = Registry.imageManifest(config, layer);
        assertEquals(201, registry.pushManifest("team/app", "v1", "application/vnd.oci.image.manifest.v1+json",
                manifest));
        String manifestDigest = Registry.sha256(manifest.getBytes(StandardCharsets.UTF_8));
        assertEquals(200, registry.get("/v2/team/app/manifests/v1").statusCode());                 // tag hit
        assertEquals(200, registry.head("/v2/team/app/manifests/v1"));                             // tag hit
        assertEquals(200, registry.get("/v2/team/app/manifests/" + manifestDigest).statusCode());  // manifest hit
        assertEquals(404, registry.get("/v2/team/app/manifests/nope").statusCode());               // tag miss
        assertEquals(200, registry.head("/v2/team/app/blobs/" + layerDigest));                     // check hit, saved
        assertEquals(200, registry.get("/v2/team/app/blobs/" + layerDigest).statusCode());         // blob hit, served
        assertEquals(404, registry.head("/v2/team/app/blobs/" + unknown));                         // check miss
        assertEquals(404, registry.get("/v2/team/app/blobs/" + unknown).statusCode());             // blob miss
        // A tag the cache held and lost: a miss, and a capacity miss.
        assertEquals(202, registry.send(HttpRequest.newBuilder(server.uri("/v2/team/app/manifests/v1")).DELETE())
                .statusCode());
        assertEquals(404, registry.get("/v2/team/app/manifests/v1").statusCode());                 // tag miss, capacity
        // Uploads that end otherwise than committed.
        assertEquals(400, registry.send(HttpRequest.newBuilder(server.uri("/v2/team/app/blobs/uploads/?digest=" + unknown))
                .POST(HttpRequest.BodyPublishers.ofString("wrong bytes"))).statusCode());
        HttpResponse<byte[]> started = registry.send(HttpRequest.newBuilder(server.uri("/v2/team/app/blobs/uploads/"))
                .POST(HttpRequest.BodyPublishers.noBody()));
        assertEquals(202, started.statusCode());
        String location = started.headers().firstValue("Location").orElseThrow();
        assertEquals(204, registry.send(HttpRequest.newBuilder(server.uri(location)).DELETE()).statusCode());
        // A mount saves the whole blob.
        assertEquals(201, registry.send(HttpRequest.newBuilder(server.uri("/v2/libs/lib/blobs/uploads/?mount="
                + layerDigest + "&from=team/app")).POST(HttpRequest.BodyPublishers.noBody())).statusCode());

        // gRPC: entries with each miss reason, FindMissingBlobs, an upload of a blob already here.
        EntryCacheGrpc.EntryCacheBlockingStub entries = EntryCacheGrpc.newBlockingStub(channel)
                .withDeadlineAfter(30, TimeUnit.SECONDS);
        String k1 = Registry.sha256("key 1".getBytes(StandardCharsets.UTF_8));
        String k2 = Registry.sha256("key 2".getBytes(StandardCharsets.UTF_8));
        String parent = Registry.sha256("parent".getBytes(StandardCharsets.UTF_8));
        StepIdentity step3 = StepIdentity.newBuilder().setStepId("app#3").setParentKey(parent).build();
        entries.putEntry(PutEntryRequest.newBuilder().setNamespace("team/app").setEntry(Entry.newBuilder().setKey(k1)
                .setStep(step3).addLayers(LayerDescriptor.newBuilder().setDigest(layerDigest).setSize(layer.length)
                        .setMediaType("application/vnd.oci.image.layer.v1.tar+gzip"))).build());
        entries.getEntry(GetEntryRequest.newBuilder().setNamespace("team/app").setKey(k1).setStep(step3).build()); // hit
        assertMiss(() -> entries.getEntry(GetEntryRequest.newBuilder().setNamespace("team/app").setKey(k2)
                .setStep(step3).build()));                                                  // inputs changed (root cause)
        assertMiss(() -> entries.getEntry(GetEntryRequest.newBuilder().setNamespace("team/app").setKey(k2)
                .setStep(StepIdentity.newBuilder().setStepId("app#9").setParentKey(parent)).build())); // new step
        assertMiss(() -> entries.getEntry(GetEntryRequest.newBuilder().setNamespace("team/app").setKey(k2).build())); // unknown
        entries.deleteEntry(DeleteEntryRequest.newBuilder().setNamespace("team/app").setKey(k1).build());
        assertMiss(() -> entries.getEntry(GetEntryRequest.newBuilder().setNamespace("team/app").setKey(k1)
                .setStep(step3).build()));                                                  // evicted, capacity
        BlobsGrpc.BlobsBlockingStub blobs = BlobsGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
        assertEquals(1, blobs.findMissingBlobs(FindMissingBlobsRequest.newBuilder().setNamespace("team/app")
                .addDigests(layerDigest).addDigests(unknown).build()).getMissingCount());   // 2 checks: 1 present
        assertTrue(writeBlob("team/app", layerDigest, layer).getAlreadyExisted());
        // A namespace beyond the cap of 3 (team, libs, third) counts as "other". A miss takes a
        // slot only in a namespace that holds a repository: an entry makes third/x and fourth/x.
        for (String ns : new String[] {"third/x", "fourth/x"}) {
            entries.putEntry(PutEntryRequest.newBuilder().setNamespace(ns).setEntry(Entry.newBuilder()
                    .setKey(k1)).build());
        }
        assertEquals(404, registry.get("/v2/third/x/blobs/" + unknown).statusCode());
        assertEquals(404, registry.get("/v2/fourth/x/blobs/" + unknown).statusCode());
        assertEquals(404, registry.head("/v2/third/x/blobs/" + unknown));
        assertEquals(404, registry.head("/v2/fourth/x/blobs/" + unknown));

        server.server().metrics().refreshStore();
        eventually(() -> {
            PrometheusText m = scrape();
            assertEquals(2, m.value("layercache_lookups_total", "surface", "oci", "kind", "tag", "result", "hit"));
            assertEquals(2, m.value("layercache_lookups_total", "surface", "oci", "kind", "tag", "result", "miss"));
            assertEquals(1, m.value("layercache_lookups_total", "surface", "oci", "kind", "manifest", "result", "hit"));
            assertEquals(1, m.value("layercache_lookups_total", "surface", "oci", "kind", "blob", "result", "hit"));
            assertEquals(3, m.value("layercache_lookups_total", "surface", "oci", "kind", "blob", "result", "miss"));
            assertEquals(1, m.value("layercache_lookups_total", "surface", "grpc", "kind", "entry", "result", "hit"));
            assertEquals(4, m.value("layercache_lookups_total", "surface", "grpc", "kind", "entry", "result", "miss"));
            assertEquals(0, m.value("layercache_lookups_total", "surface", "grpc", "kind", "blob"),
                    "FindMissingBlobs is an existence check");
            // Existence checks: blob HEADs and FindMissingBlobs digests, apart from the lookups.
            assertEquals(1, m.value("layercache_existence_checks_total", "surface", "oci", "result", "hit"));
            assertEquals(3, m.value("layercache_existence_checks_total", "surface", "oci", "result", "miss"));
            assertEquals(1, m.value("layercache_existence_checks_total", "surface", "grpc", "result", "hit"));
            assertEquals(1, m.value("layercache_existence_checks_total", "surface", "grpc", "result", "miss"));
            assertEquals(4, m.value("layercache_namespace_existence_checks_total", "namespace", "team"));
            assertEquals(1, m.value("layercache_namespace_existence_checks_total", "namespace", "third"));
            assertEquals(1, m.value("layercache_namespace_existence_checks_total", "namespace", "other"));
            assertEquals(1, m.value("layercache_capacity_misses_total", "surface", "oci", "kind", "tag"));
            assertEquals(1, m.value("layercache_capacity_misses_total", "surface", "grpc", "kind", "entry"));
            assertEquals(1, m.value("layercache_entry_misses_total", "reason", "inputs_changed"));
            assertEquals(1, m.value("layercache_entry_misses_total", "reason", "new_step"));
            assertEquals(1, m.value("layercache_entry_misses_total", "reason", "unknown"));
            assertEquals(1, m.value("layercache_entry_misses_total", "reason", "evicted"));
            assertEquals(0, m.value("layercache_entry_misses_total", "reason", "cascade"));
            assertEquals(layer.length, m.value("layercache_saved_bytes_total", "surface", "oci", "reason", "head_hit"));
            assertEquals(layer.length, m.value("layercache_saved_bytes_total", "surface", "oci", "reason", "mount"));
            assertEquals(layer.length, m.value("layercache_saved_bytes_total", "surface", "grpc", "reason", "find_missing"));
            assertEquals(layer.length, m.value("layercache_saved_bytes_total", "surface", "grpc", "reason",
                    "already_present"));
            assertTrue(m.value("layercache_served_bytes_total", "surface", "oci") >= layer.length + 2 * manifest.length());
            assertTrue(m.value("layercache_received_bytes_total", "surface", "oci") >= layer.length + config.length);
            assertEquals(2, m.value("layercache_uploads_total", "surface", "oci", "outcome", "committed"));
            assertEquals(1, m.value("layercache_uploads_total", "surface", "oci", "outcome", "digest_mismatch"));
            assertEquals(1, m.value("layercache_uploads_total", "surface", "oci", "outcome", "aborted"));
            assertEquals(1, m.value("layercache_uploads_total", "surface", "grpc", "outcome", "already_present"));
            assertEquals(0, m.value("layercache_uploads_in_progress"));
            assertEquals(2, m.value("layercache_store_blobs"));
            assertEquals(layer.length + config.length, m.value("layercache_store_bytes"));
            assertEquals(0, m.value("layercache_store_roots", "kind", "tag"));
            assertEquals(1, m.value("layercache_store_roots", "kind", "manifest"));
            assertEquals(2, m.value("layercache_store_roots", "kind", "entry"), "the entries of third/x, fourth/x");
            // Per namespace, with the cap: team, other and third have labels, fourth does not.
            assertEquals(2, m.value("layercache_namespace_lookups_total", "namespace", "team", "kind", "tag",
                    "result", "hit"));
            assertEquals(1, m.value("layercache_namespace_lookups_total", "namespace", "third"));
            assertEquals(1, m.value("layercache_namespace_lookups_total", "namespace", "other"),
                    "fourth/x counts under other (the cap is 3: team, libs, third)");
            assertTrue(m.value("layercache_request_duration_seconds_count", "surface", "oci",
                    "operation", "manifest_get", "status", "200") >= 2);
            assertEquals(1, m.value("layercache_request_duration_seconds_count", "surface", "grpc",
                    "operation", "FindMissingBlobs", "status", "OK"));
            assertEquals(4, m.value("layercache_request_duration_seconds_count", "surface", "grpc",
                    "operation", "GetEntry", "status", "NOT_FOUND"));
            assertTrue(m.has("jvm_memory_used_bytes") && m.has("process_cpu_usage"), "JVM and process metrics");

            JsonNode stats = stats();
            long hits = (long) m.value("layercache_lookups_total", "result", "hit");
            long misses = (long) m.value("layercache_lookups_total", "result", "miss");
            for (String window : new String[] {"5m", "1h", "24h"}) {
                JsonNode w = stats.get("windows").get(window);
                assertEquals(hits, w.get("hits").asLong(), window);
                assertEquals(misses, w.get("misses").asLong(), window);
                assertEquals(hits / (double) (hits + misses), w.get("hit_rate").asDouble(), 1e-9, window);
                assertEquals(2, w.get("capacity_misses").asLong(), window);
                assertEquals(4L * layer.length, w.get("saved_bytes").asLong(), window);
                assertEquals(6, w.get("existence_checks").asLong(), window);
                assertEquals(2, w.get("existence_check_hits").asLong(), window);
            }
            assertEquals("team", stats.get("namespaces").get(0).get("namespace").asText(), "busiest namespace first");
            assertEquals(1, stats.get("entry_misses").get("inputs_changed").asLong());
            JsonNode causes = stats.get("root_causes");
            assertEquals(2, causes.size(), "app#3 (inputs changed) and app#9 (new step)");
            assertEquals(layer.length + config.length, stats.get("store").get("bytes").asLong());
            assertEquals(1, stats.get("store").get("roots").get("manifest").asLong());
            assertEquals(2, stats.get("store").get("roots").get("entry").asLong());
            long historyHits = 0;
            for (JsonNode minute : stats.get("history")) {
                historyHits += minute.get("hits").asLong();
            }
            assertEquals(hits, historyHits, "the last hour's minutes add up to the hits");
            assertEquals(60, stats.get("history").size());
        });
    }

    @Test
    void anEmptyWindowHasNoHitRate() throws Exception {
        JsonNode w = stats().get("windows").get("5m");
        assertEquals(0, w.get("lookups").asLong());
        assertTrue(w.get("hit_rate").isNull());
        assertEquals(0, w.get("existence_checks").asLong());
        assertEquals(0, w.get("existence_check_hits").asLong());
    }

    @Test
    void prometheusGetsOpenMetricsWhenItAsksForIt() throws Exception {
        HttpResponse<byte[]> r = registry.send(HttpRequest.newBuilder(server.uri("/metrics"))
                .header("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"));
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("Content-Type").orElseThrow().startsWith("application/openmetrics-text"));
        assertTrue(Registry.utf8(r.body()).trim().endsWith("# EOF"));
        HttpResponse<byte[]> plain = registry.get("/metrics");
        assertTrue(plain.headers().firstValue("Content-Type").orElseThrow().startsWith("text/plain; version=0.0.4"));
    }

    private static void assertMiss(org.junit.jupiter.api.function.Executable lookup) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, lookup);
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    }

    private WriteBlobResponse writeBlob(String namespace, String digest, byte[] data) throws Exception {
        CompletableFuture<WriteBlobResponse> result = new CompletableFuture<>();
        StreamObserver<WriteBlobRequest> requests = BlobsGrpc.newStub(channel).writeBlob(new StreamObserver<>() {
            @Override
            public void onNext(WriteBlobResponse value) {
                result.complete(value);
            }

            @Override
            public void onError(Throwable t) {
                result.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
            }
        });
        requests.onNext(WriteBlobRequest.newBuilder().setHeader(WriteHeader.newBuilder().setNamespace(namespace)
                .setDigest(digest).setSize(data.length).setUploadId(UUID.randomUUID().toString()))
                .setData(ByteString.copyFrom(data)).setFinishWrite(true).build());
        requests.onCompleted();
        return result.get(30, TimeUnit.SECONDS);
    }

    private PrometheusText scrape() throws Exception {
        HttpResponse<byte[]> r = registry.get("/metrics");
        assertEquals(200, r.statusCode());
        return new PrometheusText(Registry.utf8(r.body()));
    }

    private JsonNode stats() throws Exception {
        HttpResponse<byte[]> r = registry.get("/api/v1/stats");
        assertEquals(200, r.statusCode());
        assertEquals("application/json", r.headers().firstValue("Content-Type").orElseThrow());
        return JSON.readTree(r.body());
    }

    /** Counting happens once a response is written: retry the checks for a moment. */
    static void eventually(org.junit.jupiter.api.function.Executable checks) throws Throwable {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try {
                checks.execute();
                return;
            } catch (AssertionError e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(100);
            }
        }
    }
}
