package dev.layercache.server.process;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.layercache.api.v1.BatchUpdateBlobsRequest;
import dev.layercache.api.v1.BlobData;
import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.api.v1.GetEntryRequest;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.api.v1.PutEntryRequest;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.ServerProcess;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A push storm from several clients, both surfaces, while the server is killed with
 * {@code kill -9} at random moments, round after round on the same data. After every restart,
 * everything acknowledged in any round so far is there and verifies: blobs byte for byte, tags
 * to their manifests, cache entries with their layers. And the small-blobs storm of issue 24:
 * eight clients pushing fresh 4 KiB blobs (POST, then PUT with the body) when the server dies.
 */
class CrashStormTest {
    private static final String MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    private static final int ROUNDS = 5;
    private static final int CLIENTS = 4;

    @TempDir
    Path dir;

    private final Map<String, byte[]> blobs = new ConcurrentHashMap<>();
    private final Map<String, String> tags = new ConcurrentHashMap<>();
    private final Map<String, String> entries = new ConcurrentHashMap<>();

    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void everythingAcknowledgedSurvivesEveryKill() throws Exception {
        Path data = dir.resolve("data");
        Random random = new Random(2026);
        AtomicInteger seq = new AtomicInteger();
        for (int round = 1; round <= ROUNDS; round++) {
            try (ServerProcess server = ServerProcess.start(data, dir.resolve("round" + round + ".log"))) {
                verifyAll(server, round);
                AtomicBoolean stop = new AtomicBoolean();
                ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
                ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort())
                        .usePlaintext().build();
                for (int c = 0; c < CLIENTS; c++) {
                    long seed = random.nextLong();
                    clients.submit(() -> storm(server, channel, new Random(seed), seq, stop));
                }
                // Kill at a random moment, but only once this round has acknowledged something of
                // each kind: on a loaded machine a fixed delay may pass before the first push lands.
                int tagsBefore = tags.size();
                int entriesBefore = entries.size();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while ((tags.size() == tagsBefore || entries.size() == entriesBefore) && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                Thread.sleep(random.nextInt(1500));
                server.kill9();
                stop.set(true);
                clients.shutdown();
                assertTrue(clients.awaitTermination(1, TimeUnit.MINUTES));
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
        try (ServerProcess server = ServerProcess.start(data, dir.resolve("last.log"))) {
            verifyAll(server, ROUNDS + 1);
        }
        assertTrue(tags.size() >= ROUNDS && entries.size() >= ROUNDS,
                "the storm acknowledged " + tags.size() + " tags and " + entries.size() + " entries");
    }

    /**
     * Eight clients push fresh 4 KiB blobs as the loadtest's small-blobs workload does (POST, then
     * PUT with the body and ?digest=) and the server is killed while they do, twice. After each
     * restart every acknowledged blob is served with its exact bytes; a blob whose PUT was in
     * flight is absent or whole, never partial; and no file is made for one (they are kept in the
     * metadata store, in the batch of their records).
     */
    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void smallBlobsAcknowledgedByEightClientsSurviveKill() throws Exception {
        Path data = dir.resolve("data");
        Map<String, byte[]> acknowledged = new ConcurrentHashMap<>();
        Map<String, byte[]> inFlight = new ConcurrentHashMap<>();
        Random random = new Random(24);
        int clientsCount = 8;
        for (int round = 1; round <= 2; round++) {
            try (ServerProcess server = ServerProcess.start(data, dir.resolve("small" + round + ".log"))) {
                verifySmall(server, data, acknowledged, inFlight, round);
                AtomicBoolean stop = new AtomicBoolean();
                ExecutorService clients = Executors.newFixedThreadPool(clientsCount);
                for (int c = 0; c < clientsCount; c++) {
                    long seed = random.nextLong();
                    clients.submit(() -> pushSmall(server, new Random(seed), acknowledged, inFlight, stop));
                }
                // Kill while the clients are in full flow: after this round acknowledged some hundreds.
                int before = acknowledged.size();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (acknowledged.size() < before + 200 && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                Thread.sleep(random.nextInt(300));
                server.kill9();
                stop.set(true);
                clients.shutdown();
                assertTrue(clients.awaitTermination(1, TimeUnit.MINUTES));
                assertTrue(acknowledged.size() >= before + 200,
                        "round " + round + " acknowledged only " + (acknowledged.size() - before) + " blobs");
            }
        }
        try (ServerProcess server = ServerProcess.start(data, dir.resolve("small-last.log"))) {
            verifySmall(server, data, acknowledged, inFlight, 3);
        }
    }

    /** One client of the small-blobs storm: records a blob in flight before its PUT, acknowledged after a 201. */
    private static Void pushSmall(ServerProcess server, Random r, Map<String, byte[]> acknowledged,
                                  Map<String, byte[]> inFlight, AtomicBoolean stop) {
        Registry registry = new Registry(server.port());
        try {
            while (!stop.get()) {
                byte[] blob = bytes(r, 4096);
                String digest = Registry.sha256(blob);
                HttpResponse<byte[]> started = registry.send(HttpRequest.newBuilder(
                        registry.uri("/v2/storm/small/blobs/uploads/")).POST(HttpRequest.BodyPublishers.noBody()));
                if (started.statusCode() != 202) {
                    return null;
                }
                String location = started.headers().firstValue("Location").orElseThrow();
                URI put = registry.uri(location + (location.contains("?") ? "&" : "?") + "digest=" + digest);
                inFlight.put(digest, blob);
                HttpResponse<byte[]> done = registry.send(HttpRequest.newBuilder(put)
                        .PUT(HttpRequest.BodyPublishers.ofByteArray(blob))
                        .header("Content-Type", "application/octet-stream"));
                if (done.statusCode() != 201) {
                    return null;
                }
                acknowledged.put(digest, blob);
                inFlight.remove(digest);
            }
        } catch (Exception serverGone) {
            // the kill: what was not acknowledged stays in flight
        }
        return null;
    }

    private static void verifySmall(ServerProcess server, Path data, Map<String, byte[]> acknowledged,
                                    Map<String, byte[]> inFlight, int round) throws Exception {
        Registry registry = new Registry(server.port());
        List<String> wrong = new ArrayList<>();
        for (Map.Entry<String, byte[]> b : acknowledged.entrySet()) {
            HttpResponse<byte[]> got = registry.get("/v2/storm/small/blobs/" + b.getKey());
            if (got.statusCode() != 200 || !java.util.Arrays.equals(b.getValue(), got.body())) {
                wrong.add("acknowledged blob " + b.getKey() + ": " + got.statusCode() + ", " + got.body().length + " bytes");
            }
        }
        for (Map.Entry<String, byte[]> b : inFlight.entrySet()) {
            HttpResponse<byte[]> got = registry.get("/v2/storm/small/blobs/" + b.getKey());
            if (got.statusCode() == 200 ? !java.util.Arrays.equals(b.getValue(), got.body()) : got.statusCode() != 404) {
                wrong.add("blob in flight at the kill " + b.getKey() + ": " + got.statusCode() + ", partial");
            }
        }
        // Nothing partial under a blob's name either, whether or not any record points at it.
        List<Path> files;
        try (Stream<Path> walk = Files.walk(data)) {
            files = walk.filter(p -> p.toString().contains("/blobs/sha256/") && Files.isRegularFile(p)).toList();
        }
        for (Path f : files) {
            String expected = "sha256:" + f.getFileName();
            if (!Registry.sha256(Files.readAllBytes(f)).equals(expected)) {
                wrong.add("file " + f + " does not hash to its name");
            }
        }
        assertTrue(wrong.isEmpty(), "after kill " + (round - 1) + " (" + acknowledged.size() + " acknowledged, "
                + inFlight.size() + " in flight), lost or partial:\n" + String.join("\n", wrong) + "\n" + server.log());
        // 4 KiB blobs live in the metadata store, written in the batch of their records (InlineBlobBackend):
        // the byte-exact reads above are what shows them kept; no file is made for one.
        assertTrue(files.isEmpty(), files.size() + " blob files for blobs small enough to be kept inline");
    }

    /** Pushes until the server dies; records only what the server acknowledged. */
    private Void storm(ServerProcess server, ManagedChannel channel, Random r, AtomicInteger seq, AtomicBoolean stop) {
        Registry registry = new Registry(server.port());
        EntryCacheGrpc.EntryCacheBlockingStub entryStub = EntryCacheGrpc.newBlockingStub(channel);
        BlobsGrpc.BlobsBlockingStub blobStub = BlobsGrpc.newBlockingStub(channel);
        try {
            while (!stop.get()) {
                int n = seq.incrementAndGet();
                byte[] layer = bytes(r, 1_000 + r.nextInt(300_000));
                byte[] config = ("{\"n\":" + n + "}").getBytes(StandardCharsets.UTF_8);
                if (registry.pushBlob("storm/oci", layer) != 201 || registry.pushBlob("storm/oci", config) != 201) {
                    return null;
                }
                blobs.put("storm/oci " + Registry.sha256(layer), layer);
                blobs.put("storm/oci " + Registry.sha256(config), config);
                String manifest = Registry.imageManifest(config, layer);
                if (registry.pushManifest("storm/oci", "t" + n, MANIFEST, manifest) != 201) {
                    return null;
                }
                tags.put("t" + n, Registry.sha256(manifest.getBytes(StandardCharsets.UTF_8)));

                byte[] small = bytes(r, 100 + r.nextInt(50_000));
                String digest = Registry.sha256(small);
                var stored = blobStub.withDeadlineAfter(10, TimeUnit.SECONDS).batchUpdateBlobs(
                        BatchUpdateBlobsRequest.newBuilder().setNamespace("storm/grpc").addBlobs(BlobData.newBuilder()
                                .setDigest(digest).setData(ByteString.copyFrom(small))).build());
                if (stored.getBlobs(0).getStatus().getCode() != 0) {
                    return null;
                }
                blobs.put("storm/grpc " + digest, small);
                String key = Registry.sha256(("key " + n).getBytes(StandardCharsets.UTF_8));
                entryStub.withDeadlineAfter(10, TimeUnit.SECONDS).putEntry(PutEntryRequest.newBuilder()
                        .setNamespace("storm/grpc").setEntry(Entry.newBuilder().setKey(key).addLayers(
                                LayerDescriptor.newBuilder().setDigest(digest).setSize(small.length)
                                        .setMediaType("application/vnd.oci.image.layer.v1.tar"))).build());
                entries.put(key, digest);
            }
        } catch (Exception serverGone) {
            // the kill: whatever was not acknowledged does not count
        }
        return null;
    }

    private void verifyAll(ServerProcess server, int round) throws Exception {
        Registry registry = new Registry(server.port());
        List<String> wrong = new ArrayList<>();
        for (Map.Entry<String, byte[]> b : blobs.entrySet()) {
            String[] repoAndDigest = b.getKey().split(" ");
            HttpResponse<byte[]> got = registry.get("/v2/" + repoAndDigest[0] + "/blobs/" + repoAndDigest[1]);
            if (got.statusCode() != 200 || !Registry.sha256(got.body()).equals(repoAndDigest[1])) {
                wrong.add("blob " + b.getKey() + ": " + got.statusCode());
            } else {
                assertArrayEquals(b.getValue(), got.body());
            }
        }
        for (Map.Entry<String, String> t : tags.entrySet()) {
            HttpResponse<byte[]> got = registry.get("/v2/storm/oci/manifests/" + t.getKey());
            if (got.statusCode() != 200 || !Registry.sha256(got.body()).equals(t.getValue())) {
                wrong.add("tag " + t.getKey() + ": " + got.statusCode());
            }
        }
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        try {
            EntryCacheGrpc.EntryCacheBlockingStub stub = EntryCacheGrpc.newBlockingStub(channel);
            for (Map.Entry<String, String> e : entries.entrySet()) {
                try {
                    Entry entry = stub.withDeadlineAfter(10, TimeUnit.SECONDS).getEntry(GetEntryRequest.newBuilder()
                            .setNamespace("storm/grpc").setKey(e.getKey()).build()).getEntry();
                    assertEquals(e.getValue(), entry.getLayers(0).getDigest());
                } catch (io.grpc.StatusRuntimeException missing) {
                    wrong.add("entry " + e.getKey() + ": " + missing.getStatus());
                }
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        assertTrue(wrong.isEmpty(), "after kill " + (round - 1) + ", acknowledged but lost:\n" + String.join("\n", wrong)
                + "\n" + server.log());
    }

    private static byte[] bytes(Random r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }
}
