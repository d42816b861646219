package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.BlobBytesIndex;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.LinkIndex;
import dev.layercache.server.metadata.RepositoryIndex;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.metadata.UploadIndex;
import dev.layercache.server.storage.DataLayout;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Small blobs on a node alone live in the metadata store, in the batch of their record
 * (InlineBlobBackend): served over HTTP like any blob, re-hashed by the scrubber, removed with
 * their record, and a store written before, with small blobs as files, still serves them.
 */
class InlineBlobsTest {
    @RegisterExtension
    final TestServer server = new TestServer();

    @Test
    void aSmallBlobIsNoFileAndIsServedWholeByHeadAndByRange() throws Exception {
        Registry registry = new Registry(server.port());
        byte[] small = bytes(60_000, 1);
        byte[] large = bytes(100_000, 2);
        String d = Registry.sha256(small);
        assertEquals(201, registry.pushBlob("team/app", small));
        assertEquals(201, registry.pushBlob("team/app", large));
        assertFalse(Files.exists(blobFile(d)), "a blob up to 64 KiB is kept in the metadata store");
        assertTrue(Files.exists(blobFile(Registry.sha256(large))), "a larger blob is still a file");
        // POST, then PUT ?digest= with the body, as the small-blobs workload does: no upload file
        // is made either (the bytes wait on the heap and go into the metadata store).
        byte[] viaSession = bytes(4096, 7);
        HttpResponse<byte[]> started = registry.send(HttpRequest.newBuilder(registry.uri("/v2/team/app/blobs/uploads/"))
                .POST(HttpRequest.BodyPublishers.noBody()));
        assertEquals(202, started.statusCode());
        try (var uploads = Files.list(server.dataDir().resolve("uploads"))) {
            assertEquals(0, uploads.count(), "a session with no bytes has no file yet");
        }
        String location = started.headers().firstValue("Location").orElseThrow();
        assertEquals(201, registry.send(HttpRequest.newBuilder(registry.uri(location + (location.contains("?") ? "&" : "?")
                + "digest=" + Registry.sha256(viaSession))).PUT(HttpRequest.BodyPublishers.ofByteArray(viaSession))
                .header("Content-Type", "application/octet-stream")).statusCode());
        assertFalse(Files.exists(blobFile(Registry.sha256(viaSession))));
        assertArrayEquals(viaSession, registry.get("/v2/team/app/blobs/" + Registry.sha256(viaSession)).body());

        assertEquals(200, registry.head("/v2/team/app/blobs/" + d));
        HttpResponse<byte[]> head = registry.send(HttpRequest.newBuilder(registry.uri("/v2/team/app/blobs/" + d))
                .method("HEAD", HttpRequest.BodyPublishers.noBody()));
        assertEquals("60000", head.headers().firstValue("Content-Length").orElseThrow());
        HttpResponse<byte[]> get = registry.get("/v2/team/app/blobs/" + d);
        assertEquals(200, get.statusCode());
        assertArrayEquals(small, get.body());
        assertEquals(d, get.headers().firstValue("Docker-Content-Digest").orElseThrow());
        HttpResponse<byte[]> range = registry.send(HttpRequest.newBuilder(registry.uri("/v2/team/app/blobs/" + d))
                .header("Range", "bytes=100-199").GET());
        assertEquals(206, range.statusCode());
        assertArrayEquals(Arrays.copyOfRange(small, 100, 200), range.body());
        assertEquals("bytes 100-199/60000", range.headers().firstValue("Content-Range").orElseThrow());
        HttpResponse<byte[]> tail = registry.send(HttpRequest.newBuilder(registry.uri("/v2/team/app/blobs/" + d))
                .header("Range", "bytes=-10").GET());
        assertArrayEquals(Arrays.copyOfRange(small, small.length - 10, small.length), tail.body());
        assertArrayEquals(large, registry.get("/v2/team/app/blobs/" + Registry.sha256(large)).body());
        // A second push of the same bytes keeps one copy, and a mount links it.
        assertEquals(201, registry.pushBlob("team/app", small));
        assertEquals(201, registry.pushBlob("team/other", small));
        assertArrayEquals(small, registry.get("/v2/team/other/blobs/" + d).body());
    }

    @Test
    void anInlineCommitRemovesItsSessionRecordInTheSameWrite() throws Exception {
        Registry registry = new Registry(server.port());
        // One session committed at once, one started before a restart (its record from the
        // previous process) and committed after it: neither record outlives its commit.
        String fresh = startSession(registry);
        String restored = startSession(registry);
        server.restart();
        registry = new Registry(server.port());
        for (String location : new String[] {fresh, restored}) {
            byte[] body = bytes(4096, location.hashCode());
            assertEquals(201, registry.send(HttpRequest.newBuilder(registry.uri(location + (location.contains("?") ? "&" : "?")
                    + "digest=" + Registry.sha256(body))).PUT(HttpRequest.BodyPublishers.ofByteArray(body))
                    .header("Content-Type", "application/octet-stream")).statusCode());
            assertFalse(Files.exists(blobFile(Registry.sha256(body))));
        }
        withStore(kv -> assertEquals(List.of(), new UploadIndex(kv).all(), "no session record is left"));
    }

    private static String startSession(Registry registry) throws Exception {
        HttpResponse<byte[]> started = registry.send(HttpRequest.newBuilder(registry.uri("/v2/team/app/blobs/uploads/"))
                .POST(HttpRequest.BodyPublishers.noBody()));
        assertEquals(202, started.statusCode());
        return started.headers().firstValue("Location").orElseThrow();
    }

    @Test
    void theScrubberQuarantinesInlineBytesThatDoNotMatchTheirDigest() throws Exception {
        Registry registry = new Registry(server.port());
        byte[] small = bytes(4096, 3);
        byte[] healthy = bytes(4096, 4);
        assertEquals(201, registry.pushBlob("team/app", small));
        assertEquals(201, registry.pushBlob("team/app", healthy));
        Digest d = Digest.parse(Registry.sha256(small));
        // RocksDB checksums its blocks: rot on the disk is an error on read, never other bytes.
        // What can still happen is wrong bytes written under a digest (a bug): written here directly.
        byte[] wrong = small.clone();
        wrong[17] ^= 1;
        withStore(kv -> {
            KeyValueStore.Batch batch = kv.batch();
            new BlobBytesIndex(kv).put(batch, d, wrong, wrong.length);
            batch.commit(true);
        });
        registry = new Registry(server.port());

        Scrubber.Report report = server.server().lifecycle().scrub(0);

        assertEquals(1, report.corrupt());
        assertEquals(0, report.missing());
        assertEquals(2, report.blobs());
        assertEquals(404, registry.get("/v2/team/app/blobs/" + d).statusCode(), "never served again");
        assertArrayEquals(wrong, Files.readAllBytes(server.dataDir().resolve("quarantine")
                .resolve(d.toString().replace(':', '-'))), "set aside for a look, as a file would be");
        assertArrayEquals(healthy, registry.get("/v2/team/app/blobs/" + Registry.sha256(healthy)).body());
        withStore(kv -> assertNull(new BlobBytesIndex(kv).get(d), "the bytes went with the record"));
    }

    @Test
    void collectionRemovesAnInlineBlobsBytesWithItsRecord() throws Exception {
        Registry registry = new Registry(server.port());
        byte[] small = bytes(1000, 5);
        Digest d = Digest.parse(Registry.sha256(small));
        assertEquals(201, registry.pushBlob("team/app", small));
        withStore(kv -> assertNotNull(new BlobBytesIndex(kv).get(d)));
        registry = new Registry(server.port());
        assertEquals(202, registry.send(HttpRequest.newBuilder(registry.uri("/v2/team/app/blobs/" + d)).DELETE())
                .statusCode());

        Collector.Report report = server.server().lifecycle().collector().collect(Duration.ofHours(1), false);

        assertEquals(1, report.collected(), "a blob its only repository let go of is collected, grace or not");
        withStore(kv -> {
            assertNull(new BlobBytesIndex(kv).get(d), "its bytes are gone");
            assertEquals(-1, new BlobIndex(kv).size(d), "with its record");
        });
        registry = new Registry(server.port());
        assertEquals(201, registry.pushBlob("team/app", small), "pushed again, stored again");
        assertArrayEquals(small, registry.get("/v2/team/app/blobs/" + d).body());
    }

    @Test
    void aStoreWithSmallBlobsAsFilesStillServesThemAndChecksThemAtStart() throws Exception {
        byte[] old = bytes(4096, 6);
        Digest d = Digest.parse(Registry.sha256(old));
        server.server().close();
        // As an earlier version left it: the blob's file, its record and its link.
        Path file = blobFile(d.toString());
        Files.createDirectories(file.getParent());
        Files.write(file, old);
        try (RocksKeyValueStore kv = new RocksKeyValueStore(new DataLayout(server.dataDir()).metadata())) {
            KeyValueStore.Batch batch = kv.batch();
            new BlobIndex(kv).put(batch, d, old.length, System.currentTimeMillis());
            new LinkIndex(kv).put(batch, RepositoryName.parse("team/app"), d, old.length);
            new RepositoryIndex(kv).put(batch, RepositoryName.parse("team/app"));
            batch.commit(true);
        }
        server.start();
        Registry registry = new Registry(server.port());
        server.server().lifecycle().status().awaitStartupCheck(Duration.ofSeconds(60));
        var check = new ObjectMapper().readTree(registry.get("/api/v1/store").body()).get("startup_check");
        assertEquals(0, check.get("records_without_file").asInt(), "the file blob is not taken for lost");
        assertEquals(1, check.get("records").asInt());

        assertEquals(200, registry.head("/v2/team/app/blobs/" + d));
        assertArrayEquals(old, registry.get("/v2/team/app/blobs/" + d).body());
        assertEquals(0, server.server().lifecycle().scrub(0).corrupt());
        // Deleted and collected: the file goes.
        registry.send(HttpRequest.newBuilder(registry.uri("/v2/team/app/blobs/" + d)).DELETE());
        assertEquals(1, server.server().lifecycle().collector().collect(Duration.ofHours(1), false).collected());
        assertFalse(Files.exists(file));
    }

    /** Runs {@code action} on the node's metadata store with the node stopped, then starts it again. */
    private void withStore(Consumer<RocksKeyValueStore> action) throws Exception {
        server.server().close();
        try (RocksKeyValueStore kv = new RocksKeyValueStore(new DataLayout(server.dataDir()).metadata())) {
            action.accept(kv);
        }
        server.start();
    }

    private Path blobFile(String digest) {
        String hex = digest.substring("sha256:".length());
        return server.dataDir().resolve("blobs").resolve("sha256").resolve(hex.substring(0, 2)).resolve(hex);
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
