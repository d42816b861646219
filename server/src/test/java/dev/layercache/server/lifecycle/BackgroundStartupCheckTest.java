package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.FindMissingBlobsRequest;
import dev.layercache.api.v1.ReadBlobRequest;
import dev.layercache.api.v1.StatBlobRequest;
import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Registry;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real node is ready before its start-up check has looked at anything, and answers right
 * meanwhile: a blob whose file was deleted while the node was down is a miss on every surface,
 * and no manifest may name it; the check then repairs the store as it did when it ran first.
 * The check is held at its start by its hook (a latch), not by a sleep.
 */
@Timeout(120)
class BackgroundStartupCheckTest {
    private static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;
    private LayerCacheServer server;
    private ManagedChannel channel;
    private final CountDownLatch release = new CountDownLatch(1);

    @AfterEach
    void stop() throws InterruptedException {
        release.countDown();
        if (channel != null) {
            channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
        if (server != null) {
            server.close();
        }
    }

    @Test
    void theNodeIsReadyBeforeTheCheckAndNeverServesABlobWhoseFileIsGone() throws Exception {
        Path data = dir.resolve("data");
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        byte[] kept = layer(1);
        byte[] lost = layer(2);
        byte[] orphan = layer(3); // a file renamed into place whose record was never written
        String lostDigest = Registry.sha256(lost);
        String orphanDigest = Registry.sha256(orphan);

        server = LayerCacheServer.start(ServerConfig.forTesting(data));
        Registry before = new Registry(server.httpPort());
        push(before, "team/app", "kept", config, kept);
        push(before, "team/app", "lost", config, lost);
        server.close();
        Files.delete(blobFile(data, lostDigest));
        Files.createDirectories(blobFile(data, orphanDigest).getParent());
        Files.write(blobFile(data, orphanDigest), orphan);

        CountDownLatch held = new CountDownLatch(1);
        server = LayerCacheServer.start(ServerConfig.forTesting(data), Clock.systemUTC(), () -> {
            held.countDown();
            release.await();
        });
        assertTrue(held.await(60, TimeUnit.SECONDS), "the check began");
        Registry registry = new Registry(server.httpPort());
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        BlobsGrpc.BlobsBlockingStub grpc = BlobsGrpc.newBlockingStub(channel);

        // Held: ready, and saying the check runs.
        var readyz = registry.get("/readyz");
        assertEquals(200, readyz.statusCode());
        assertEquals("ready; start-up check running", Registry.utf8(readyz.body()).trim());
        JsonNode running = store(registry).get("startup_check");
        assertTrue(running.get("running").asBoolean(), running.toString());
        assertNotNull(running.get("began"));
        assertTrue(server.lifecycle().status().startupCheckRunning());

        assertLostEverywhere(registry, grpc, lostDigest);
        assertArrayEquals(kept, registry.get("/v2/team/app/blobs/" + Registry.sha256(kept)).body());
        assertEquals(kept.length, grpc.statBlob(StatBlobRequest.newBuilder().setNamespace("team/app")
                .setDigest(Registry.sha256(kept)).build()).getSize());
        // A manifest may not name the lost blob: its record is not proof of its bytes.
        assertEquals(400, registry.pushManifest("team/app", "again", MANIFEST_TYPE,
                Registry.imageManifest(config, lost)), "MANIFEST_BLOB_UNKNOWN");
        assertTrue(server.lifecycle().status().startupCheckRunning(), "still held: the answers were not the check's");

        release.countDown();
        StartupCheck.Report report = server.lifecycle().status().awaitStartupCheck(Duration.ofSeconds(60));
        assertNotNull(report, "the check ended with a report");
        assertEquals(1, report.recordsWithoutFile(), "the check forgot the record whose file is gone");
        assertEquals(1, report.filesAdopted(), "and adopted the file without a record");
        assertEquals(0, report.filesRemoved());
        assertFalse(server.lifecycle().status().startupCheckRunning());
        assertEquals("ready", Registry.utf8(registry.get("/readyz").body()).trim());
        JsonNode done = store(registry).get("startup_check");
        assertFalse(done.get("running").asBoolean(), done.toString());
        assertEquals(1, done.get("records_without_file").asInt());
        assertEquals(1, done.get("files_adopted").asInt());

        assertLostEverywhere(registry, grpc, lostDigest);
        assertEquals(404, registry.get("/v2/team/app/manifests/lost").statusCode(), "the root that needs it went");
        assertEquals(200, registry.get("/v2/team/app/manifests/kept").statusCode());
        assertEquals(201, registry.send(java.net.http.HttpRequest.newBuilder(registry.uri(
                "/v2/other/app/blobs/uploads/?mount=" + orphanDigest)).POST(
                java.net.http.HttpRequest.BodyPublishers.noBody())).statusCode(), "the adopted file is stored");
        assertArrayEquals(orphan, registry.get("/v2/other/app/blobs/" + orphanDigest).body());
        // Pushing the blob again heals the repository.
        assertEquals(201, registry.pushBlob("team/app", lost));
        assertArrayEquals(lost, registry.get("/v2/team/app/blobs/" + lostDigest).body());
    }

    /** {@code digest} is a miss for HEAD, GET, and gRPC's StatBlob, ReadBlob and FindMissingBlobs. */
    private static void assertLostEverywhere(Registry registry, BlobsGrpc.BlobsBlockingStub grpc, String digest)
            throws Exception {
        assertEquals(404, registry.head("/v2/team/app/blobs/" + digest), "HEAD never says yes for missing bytes");
        assertEquals(404, registry.get("/v2/team/app/blobs/" + digest).statusCode(), "nor GET");
        StatusRuntimeException stat = assertThrows(StatusRuntimeException.class, () -> grpc.statBlob(
                StatBlobRequest.newBuilder().setNamespace("team/app").setDigest(digest).build()));
        assertEquals(Status.Code.NOT_FOUND, stat.getStatus().getCode());
        StatusRuntimeException read = assertThrows(StatusRuntimeException.class, () -> grpc.readBlob(
                ReadBlobRequest.newBuilder().setNamespace("team/app").setDigest(digest).build()).next());
        assertEquals(Status.Code.NOT_FOUND, read.getStatus().getCode());
        assertEquals(List.of(digest), grpc.findMissingBlobs(FindMissingBlobsRequest.newBuilder()
                .setNamespace("team/app").addDigests(digest).build()).getMissingList(), "a client must upload it");
    }

    private static JsonNode store(Registry registry) throws Exception {
        var r = registry.get("/api/v1/store");
        assertEquals(200, r.statusCode());
        return JSON.readTree(r.body());
    }

    private static void push(Registry registry, String repo, String tag, byte[] config, byte[] layer)
            throws Exception {
        assertEquals(201, registry.pushBlob(repo, config));
        assertEquals(201, registry.pushBlob(repo, layer));
        assertEquals(201, registry.pushManifest(repo, tag, MANIFEST_TYPE, Registry.imageManifest(config, layer)));
    }

    private static Path blobFile(Path data, String digest) {
        String hex = digest.substring("sha256:".length());
        return data.resolve("blobs").resolve("sha256").resolve(hex.substring(0, 2)).resolve(hex);
    }

    private static byte[] layer(long seed) {
        byte[] b = new byte[100_000]; // a file: blobs up to 64 KiB live in the metadata store (InlineBlobsTest)
        new Random(seed).nextBytes(b);
        return b;
    }
}
