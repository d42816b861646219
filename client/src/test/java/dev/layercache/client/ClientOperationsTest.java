package dev.layercache.client;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Every operation of {@link LayerCacheClient} against a real node over TCP. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ClientOperationsTest {
    @TempDir
    static Path data;

    @TempDir
    Path work;

    static Node node;
    static LayerCacheClient client;
    static final List<TransferEvent> events = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        node = Node.start(data);
        client = node.client(new ClientListener() {
            @Override
            public void onTransfer(TransferEvent event) {
                events.add(event);
            }
        });
    }

    @AfterAll
    static void stop() {
        client.close();
        node.close();
    }

    static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    static Digest upload(String ns, byte[] content) throws IOException {
        Digest d = Digest.sha256(content);
        client.uploadBlob(ns, d, content.length, BlobSource.ofBytes(content));
        return d;
    }

    @Test
    void entriesHitMissExplainedReplacedDeleted() throws Exception {
        String ns = "ops/entries";
        byte[] layer = random(10_000, 1);
        Digest layerDigest = upload(ns, layer);

        StepInput input = StepInput.of("package.json", 0644, Digest.sha256("{}".getBytes(UTF_8)));
        Step step = Step.builder("ops:Dockerfile#1").instruction("COPY package.json /app/").input(input).build();

        LookupResult miss = client.getEntry(ns, Lookup.of(step));
        assertFalse(miss.isHit());
        assertEquals(MissReason.NEW_STEP, miss.miss().orElseThrow().reason());
        assertEquals("ops:Dockerfile#1", miss.miss().orElseThrow().stepId());
        assertEquals(MissReason.UNSPECIFIED, client.getEntry(ns, step.key()).miss().orElseThrow().reason());

        CacheEntry stored = client.putEntry(ns, CacheEntry.builder(step)
                .layer(new Layer(layerDigest, layer.length, Layer.OCI_LAYER_GZIP, Optional.of(layerDigest)))
                .attribute("config", "{\"Env\":[]}").build());
        assertTrue(stored.createdAt().isPresent());

        LookupResult hit = client.getEntry(ns, Lookup.of(step));
        assertTrue(hit.isHit());
        CacheEntry e = hit.entry().orElseThrow();
        assertEquals(step.key(), e.key());
        assertEquals(List.of(new Layer(layerDigest, layer.length, Layer.OCI_LAYER_GZIP, Optional.of(layerDigest))),
                e.layers());
        assertEquals(Map.of("config", "{\"Env\":[]}"), e.attributes());
        assertEquals("COPY package.json /app/", e.step().orElseThrow().instruction());
        assertTrue(client.getEntry(ns, step.key()).isHit(), "a bare key hits too");

        // The same step with a changed input: its own change, so INPUTS_CHANGED with the difference.
        StepInput changed = StepInput.of("package.json", 0644, Digest.sha256("{\"a\":1}".getBytes(UTF_8)));
        Step step2 = Step.builder("ops:Dockerfile#1").instruction("COPY package.json /app/").input(changed).build();
        MissExplanation m = client.getEntry(ns, Lookup.of(step2)).miss().orElseThrow();
        assertEquals(MissReason.INPUTS_CHANGED, m.reason());
        assertEquals(Optional.of(step.key()), m.previousKey());
        assertEquals(1, m.inputChanges().size());
        assertEquals(InputChange.Kind.MODIFIED, m.inputChanges().get(0).kind());
        assertEquals("package.json", m.inputChanges().get(0).path());
        assertEquals(Optional.of(input.digest()), m.inputChanges().get(0).previousDigest());
        assertTrue(m.describe().startsWith("INPUTS_CHANGED: package.json modified"), m.describe());

        // Batch: one hit, one miss, in order.
        List<LookupResult> batch = client.batchGetEntries(ns, List.of(Lookup.of(step2), Lookup.of(step)));
        assertEquals(2, batch.size());
        assertFalse(batch.get(0).isHit());
        assertEquals(MissReason.INPUTS_CHANGED, batch.get(0).miss().orElseThrow().reason());
        assertTrue(batch.get(1).isHit());

        // Re-publishing replaces the entry.
        client.putEntry(ns, CacheEntry.builder(step).layer(Layer.of(layerDigest, layer.length, "x/y")).build());
        assertEquals("x/y", client.getEntry(ns, step.key()).entry().orElseThrow().layers().get(0).mediaType());

        // Delete: the key is gone, and a lookup says EVICTED.
        assertTrue(client.deleteEntry(ns, step.key()));
        assertFalse(client.deleteEntry(ns, step.key()));
        assertEquals(MissReason.EVICTED, client.getEntry(ns, Lookup.of(step)).miss().orElseThrow().reason());
    }

    @Test
    void putEntryWithMissingLayersListsThem() throws Exception {
        String ns = "ops/missing";
        Digest present = upload(ns, random(100, 2));
        Digest absent = Digest.sha256(random(100, 3));
        CacheKey key = CacheKey.compute(Optional.empty(), "RUN x", List.of());
        LayerCacheException e = assertThrows(LayerCacheException.class, () -> client.putEntry(ns,
                CacheEntry.builder(key).layer(Layer.of(present, 100, Layer.OCI_LAYER_GZIP))
                        .layer(Layer.of(absent, 100, Layer.OCI_LAYER_GZIP)).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.code());
        assertEquals(List.of(absent), e.missingBlobs());
        assertTrue(e.getMessage().contains(absent.toString()), e.getMessage());
    }

    @Test
    void invalidArgumentsNameTheField() {
        LayerCacheException e = assertThrows(LayerCacheException.class,
                () -> client.statBlob("Not A Namespace", Digest.sha256(new byte[1])));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertEquals(1, e.fieldViolations().size(), e.fieldViolations().toString());
        assertTrue(e.fieldViolations().containsKey("namespace"), e.fieldViolations().toString());
    }

    @Test
    void explainBuildFindsTheRootCause() throws Exception {
        String ns = "ops/explain";
        Digest blob = upload(ns, random(64, 4));
        List<Step> first = chain("a", "b", "c");
        for (Step s : first) {
            client.putEntry(ns, CacheEntry.builder(s).layer(Layer.of(blob, 64, Layer.OCI_LAYER_GZIP)).build());
        }
        BuildExplanation allHit = client.explainBuild(ns, first.stream().map(Lookup::of).toList());
        assertEquals(3, allHit.hits());
        assertTrue(allHit.rootCauseIndex().isEmpty());

        List<Step> second = chain("a", "B", "c");
        BuildExplanation x = client.explainBuild(ns, second.stream().map(Lookup::of).toList());
        assertTrue(x.steps().get(0).hit());
        assertEquals(MissReason.INPUTS_CHANGED, x.steps().get(1).miss().orElseThrow().reason());
        assertTrue(x.steps().get(1).miss().orElseThrow().instructionChanged());
        assertEquals(MissReason.PARENT_CHANGED, x.steps().get(2).miss().orElseThrow().reason());
        assertEquals(1, x.rootCauseIndex().getAsInt());
        assertFalse(x.summary().isEmpty());
        String table = x.render();
        assertTrue(table.contains("INPUTS_CHANGED") && table.contains("root cause"), table);
    }

    static List<Step> chain(String... instructions) {
        List<Step> steps = new ArrayList<>();
        Optional<CacheKey> parent = Optional.empty();
        for (int i = 0; i < instructions.length; i++) {
            Step s = Step.builder("chain#" + (i + 1)).parent(parent).instruction("RUN " + instructions[i]).build();
            steps.add(s);
            parent = Optional.of(s.key());
        }
        return steps;
    }

    @Test
    void blobsFindStatUploadDownload() throws Exception {
        String ns = "ops/blobs";
        byte[] content = random(3 * 1024 * 1024 + 17, 5);
        Digest d = Digest.sha256(content);
        assertEquals(List.of(d), client.findMissingBlobs(ns, List.of(d, d)));
        assertEquals(OptionalLong.empty(), client.statBlob(ns, d));

        events.clear();
        assertTrue(client.uploadBlob(ns, d, content.length, BlobSource.ofBytes(content)));
        assertTrue(events.stream().anyMatch(e -> e.kind() == TransferEvent.Kind.COMPLETED && e.digest().equals(d)));
        assertFalse(client.uploadBlob(ns, d, content.length, BlobSource.ofBytes(content)), "already present");
        assertTrue(events.stream().anyMatch(e -> e.kind() == TransferEvent.Kind.ALREADY_PRESENT));
        assertEquals(List.of(), client.findMissingBlobs(ns, List.of(d)));
        assertEquals(OptionalLong.of(content.length), client.statBlob(ns, d));
        assertEquals(OptionalLong.empty(), client.statBlob("ops/other", d), "blobs are per namespace");

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertEquals(content.length, client.downloadBlob(ns, d, out));
        assertArrayEquals(content, out.toByteArray());

        Path file = work.resolve("sub/dir/blob");
        assertEquals(content.length, client.downloadBlob(ns, d, file));
        assertArrayEquals(content, Files.readAllBytes(file));
        try (var files = Files.list(file.getParent())) {
            assertEquals(List.of(file), files.toList(), "no temporary file is left");
        }

        Digest unknown = Digest.sha256(random(10, 6));
        LayerCacheException e = assertThrows(LayerCacheException.class,
                () -> client.downloadBlob(ns, unknown, work.resolve("unknown")));
        assertEquals(Status.Code.NOT_FOUND, e.code());
        assertFalse(Files.exists(work.resolve("unknown")));

        // An empty blob.
        byte[] empty = new byte[0];
        Digest emptyDigest = Digest.sha256(empty);
        client.uploadBlob(ns, emptyDigest, 0, BlobSource.ofBytes(empty));
        ByteArrayOutputStream none = new ByteArrayOutputStream();
        assertEquals(0, client.downloadBlob(ns, emptyDigest, none));
    }

    /**
     * An upload on the client's own channel sends every message from one array: the thread that
     * uploads 32 MiB in 1 MiB messages allocates far less than the 32 MiB that an array per message
     * took (each a humongous object for G1), and the server, which verifies the digest, takes it.
     */
    @Test
    void anUploadSendsItsMessagesFromOneArray() throws Exception {
        byte[] content = random(32 << 20, 11);
        Digest d = Digest.sha256(content);
        upload("ops/warm", random(4 << 20, 12)); // the call path loaded and its first allocations made
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        assertTrue(client.uploadBlob("ops/one-array", d, content.length, BlobSource.ofBytes(content)));
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertTrue(allocated < 8 << 20, "the uploading thread allocated " + allocated + " bytes for 32 MiB");
        assertEquals(content.length, client.statBlob("ops/one-array", d).orElseThrow(), "stored whole");
    }

    @Test
    void uploadFromAFileAndFromAStreamSupplier() throws Exception {
        String ns = "ops/sources";
        byte[] content = random(2_500_000, 7);
        Path file = Files.write(work.resolve("layer.tar.gz"), content);
        Digest d = client.uploadFile(ns, file);
        assertEquals(Digest.sha256(content), d);

        byte[] other = random(1_500_000, 8);
        Digest od = Digest.sha256(other);
        assertTrue(client.uploadBlob(ns, od, other.length,
                BlobSource.ofStreams(() -> new java.io.ByteArrayInputStream(other))));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        client.downloadBlob(ns, od, out);
        assertArrayEquals(other, out.toByteArray());
    }

    @Test
    void wrongBytesAreRefusedAndStoreNothing() throws Exception {
        String ns = "ops/wrong";
        byte[] content = random(500_000, 9);
        Digest claimed = Digest.sha256(random(500_000, 10));
        LayerCacheException e = assertThrows(LayerCacheException.class,
                () -> client.uploadBlob(ns, claimed, content.length, BlobSource.ofBytes(content)));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertEquals(OptionalLong.empty(), client.statBlob(ns, claimed));

        IOException shortSource = assertThrows(IOException.class,
                () -> client.uploadBlob(ns, Digest.sha256(content), content.length + 10, BlobSource.ofBytes(content)));
        assertTrue(shortSource.getMessage().contains("ended"), shortSource.getMessage());
    }

    @Test
    void parallelUploadsAndDownloadsOfManyBlobs() throws Exception {
        String ns = "ops/parallel";
        List<BlobUpload> uploads = new ArrayList<>();
        Map<Digest, byte[]> contents = new java.util.LinkedHashMap<>();
        for (int i = 0; i < 24; i++) {
            // small ones go in batches, large ones stream
            byte[] c = random(i % 3 == 0 ? 1_200_000 + i : 1000 + i * 37, 100 + i);
            Path f = Files.write(work.resolve("blob-" + i), c);
            uploads.add(BlobUpload.ofFile(f));
            contents.put(Digest.sha256(c), c);
        }
        upload(ns, contents.values().iterator().next()); // one already there
        TransferSummary up = client.uploadBlobs(ns, uploads);
        assertEquals(23, up.transferred(), up.toString());
        assertEquals(1, up.skipped(), up.toString());
        assertEquals(List.of(), client.findMissingBlobs(ns, contents.keySet()));

        TransferSummary again = client.uploadBlobs(ns, uploads);
        assertEquals(0, again.transferred());
        assertEquals(24, again.skipped());

        Map<Digest, Path> targets = new java.util.LinkedHashMap<>();
        for (Digest d : contents.keySet()) {
            targets.put(d, work.resolve("down").resolve(d.hex()));
        }
        TransferSummary down = client.downloadBlobs(ns, targets, false);
        assertEquals(24, down.transferred());
        for (Map.Entry<Digest, byte[]> c : contents.entrySet()) {
            assertArrayEquals(c.getValue(), Files.readAllBytes(targets.get(c.getKey())));
        }
        assertEquals(24, client.downloadBlobs(ns, targets, false).skipped(), "files already there are skipped");
    }

    @Test
    void manifestsByTagAndDigest() throws Exception {
        String ns = "ops/manifests";
        byte[] config = "{\"architecture\":\"amd64\",\"os\":\"linux\"}".getBytes(UTF_8);
        byte[] layer = random(2048, 11);
        Digest configDigest = upload(ns, config);
        Digest layerDigest = upload(ns, layer);
        byte[] manifest = ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\""
                + configDigest + "\",\"size\":" + config.length + "},\"layers\":[{\"mediaType\":"
                + "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" + layerDigest + "\",\"size\":"
                + layer.length + "}]}").getBytes(UTF_8);
        Digest md = client.putManifest(ns, "v1", "application/vnd.oci.image.manifest.v1+json", manifest);
        assertEquals(Digest.sha256(manifest), md);
        Manifest byTag = client.getManifest(ns, "v1").orElseThrow();
        assertArrayEquals(manifest, byTag.content());
        assertEquals(md, byTag.digest());
        assertEquals("application/vnd.oci.image.manifest.v1+json", byTag.mediaType());
        assertEquals(byTag, client.getManifest(ns, md.toString()).orElseThrow());
        assertTrue(client.getManifest(ns, "v2").isEmpty());

        // The OCI API serves it too.
        var registry = new dev.layercache.server.testing.Registry(node.httpPort());
        var http = registry.get("/v2/" + ns + "/manifests/v1");
        assertEquals(200, http.statusCode());
        assertArrayEquals(manifest, http.body());

        // A manifest referencing a blob the namespace lacks is refused with the digest.
        Digest absent = Digest.sha256(random(10, 12));
        byte[] bad = new String(manifest, UTF_8).replace(layerDigest.toString(), absent.toString()).getBytes(UTF_8);
        LayerCacheException e = assertThrows(LayerCacheException.class,
                () -> client.putManifest(ns, "bad", "application/vnd.oci.image.manifest.v1+json", bad));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.code());
        assertEquals(List.of(absent), e.missingBlobs());
    }

    @Test
    void severalTargetsAndDnsTargetsReachTheNode() throws Exception {
        byte[] content = random(1000, 13);
        Digest d = upload("ops/targets", content);
        try (LayerCacheClient many = LayerCacheClient.builder()
                .target(node.target() + ",localhost:" + node.grpcPort()).plaintext().build();
             LayerCacheClient dns = LayerCacheClient.builder()
                     .target("dns:///localhost:" + node.grpcPort()).plaintext().build()) {
            for (int i = 0; i < 4; i++) {
                assertEquals(OptionalLong.of(1000), many.statBlob("ops/targets", d));
                assertEquals(OptionalLong.of(1000), dns.statBlob("ops/targets", d));
            }
        }
    }

    @Test
    void bearerTokenIsSentAndTlsMismatchIsExplained() {
        try (LayerCacheClient withToken = LayerCacheClient.builder().target(node.target()).plaintext()
                .bearerToken("s3cret-token").build()) {
            assertEquals(OptionalLong.empty(), withToken.statBlob("ops/token", Digest.sha256(new byte[1])));
        }
        try (LayerCacheClient tls = LayerCacheClient.builder().target(node.target())
                .retryPolicy(RetryPolicy.none()).build()) {
            LayerCacheException e = assertThrows(LayerCacheException.class,
                    () -> tls.statBlob("ops/token", Digest.sha256(new byte[1])));
            assertEquals(Status.Code.UNAVAILABLE, e.code());
        }
    }
}
