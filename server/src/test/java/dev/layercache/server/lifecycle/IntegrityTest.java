package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Rot and loss on the disk of a real node: found, never served, and the roots that need them dropped. */
class IntegrityTest {
    private static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";

    @RegisterExtension
    final TestServer server = new TestServer();

    @Test
    void theScrubberQuarantinesAFlippedByteAndDropsTheRootsThatNeedIt() throws Exception {
        Registry registry = new Registry(server.port());
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        byte[] rotten = layer(1);
        byte[] healthy = layer(2);
        push(registry, "team/app", "bad", config, rotten);
        push(registry, "team/app", "good", config, healthy);
        Path file = blobFile(Registry.sha256(rotten));
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.seek(12_345);
            int b = raf.read();
            raf.seek(12_345);
            raf.write(b ^ 0x01);
        }

        Scrubber.Report report = server.server().lifecycle().scrub(0);

        assertEquals(1, report.corrupt());
        assertEquals(0, report.missing());
        assertEquals(3, report.blobs());
        assertEquals(404, registry.get("/v2/team/app/blobs/" + Registry.sha256(rotten)).statusCode(),
                "a rotten blob is never served");
        assertEquals(404, registry.get("/v2/team/app/manifests/bad").statusCode(),
                "the image that needs it is a miss, so the build re-runs");
        assertTrue(Files.exists(server.dataDir().resolve("quarantine")
                .resolve(Registry.sha256(rotten).replace(':', '-'))), "moved aside for a look");
        assertEquals(200, registry.get("/v2/team/app/manifests/good").statusCode());
        assertArrayEquals(healthy, registry.get("/v2/team/app/blobs/" + Registry.sha256(healthy)).body());
        assertEquals(1, new com.fasterxml.jackson.databind.ObjectMapper().readTree(
                registry.get("/api/v1/store").body()).get("last_scrub").get("corrupt").asInt());
        assertEquals(1, new dev.layercache.server.testing.PrometheusText(Registry.utf8(registry.get("/metrics").body()))
                .value("layercache_scrub_corrupt_blobs_total"), "counted for Prometheus");
    }

    @Test
    void aBlobWhoseFileVanishedIsAMissAndItsMetadataIsRepaired() throws Exception {
        Registry registry = new Registry(server.port());
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        byte[] lost = layer(3);
        push(registry, "team/app", "lost", config, lost);
        String digest = Registry.sha256(lost);
        Files.delete(blobFile(digest));

        assertEquals(404, registry.head("/v2/team/app/blobs/" + digest), "HEAD never says yes for missing bytes");
        assertEquals(404, registry.get("/v2/team/app/blobs/" + digest).statusCode());
        assertEquals(404, registry.get("/v2/team/app/manifests/lost").statusCode(), "the root that needs it went");
        // Pushing the blob again heals the repository.
        assertEquals(201, registry.pushBlob("team/app", lost));
        assertArrayEquals(lost, registry.get("/v2/team/app/blobs/" + digest).body());
    }

    @Test
    void theStartUpCheckRepairsWhatACrashLeftBetweenRecordsAndFiles() throws Exception {
        Registry registry = new Registry(server.port());
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        byte[] kept = layer(4);
        byte[] lost = layer(5);
        push(registry, "team/app", "kept", config, kept);
        push(registry, "team/app", "lost", config, lost);
        byte[] orphan = layer(6);     // a file renamed into place, its record never written
        byte[] misnamed = layer(7);   // a file whose bytes do not match its name
        String orphanDigest = Registry.sha256(orphan);
        String misnamedDigest = Registry.sha256("something else".getBytes(StandardCharsets.UTF_8));
        server.server().close(); // the node is down; its files change, as a crash could leave them
        Files.delete(blobFile(Registry.sha256(lost)));
        Files.createDirectories(blobFile(orphanDigest).getParent());
        Files.write(blobFile(orphanDigest), orphan);
        Files.createDirectories(blobFile(misnamedDigest).getParent());
        Files.write(blobFile(misnamedDigest), misnamed);
        server.start();
        registry = new Registry(server.port());
        // The check runs in the background once the node is ready (BackgroundStartupCheckTest).
        server.server().lifecycle().status().awaitStartupCheck(java.time.Duration.ofSeconds(60));

        com.fasterxml.jackson.databind.JsonNode check = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(registry.get("/api/v1/store").body()).get("startup_check");
        assertEquals(1, check.get("files_adopted").asInt());
        assertEquals(1, check.get("files_removed").asInt());
        assertFalse(Files.exists(blobFile(misnamedDigest)), "a file whose bytes do not match its name goes");
        // The adopted blob is stored: a mount without a source finds it.
        assertEquals(201, registry.send(java.net.http.HttpRequest.newBuilder(server.uri(
                "/v2/other/app/blobs/uploads/?mount=" + orphanDigest)).POST(
                java.net.http.HttpRequest.BodyPublishers.noBody())).statusCode());
        assertArrayEquals(orphan, registry.get("/v2/other/app/blobs/" + orphanDigest).body());
        assertEquals(404, registry.get("/v2/team/app/manifests/lost").statusCode());
        assertEquals(200, registry.get("/v2/team/app/manifests/kept").statusCode());
        assertArrayEquals(kept, registry.get("/v2/team/app/blobs/" + Registry.sha256(kept)).body());
    }

    private void push(Registry registry, String repo, String tag, byte[] config, byte[] layer) throws Exception {
        assertEquals(201, registry.pushBlob(repo, config));
        assertEquals(201, registry.pushBlob(repo, layer));
        assertEquals(201, registry.pushManifest(repo, tag, MANIFEST_TYPE, Registry.imageManifest(config, layer)));
    }

    private Path blobFile(String digest) {
        String hex = digest.substring("sha256:".length());
        return server.dataDir().resolve("blobs").resolve("sha256").resolve(hex.substring(0, 2)).resolve(hex);
    }

    private static byte[] layer(long seed) {
        byte[] b = new byte[100_000]; // a file: blobs up to 64 KiB live in the metadata store (InlineBlobsTest)
        new Random(seed).nextBytes(b);
        return b;
    }
}
