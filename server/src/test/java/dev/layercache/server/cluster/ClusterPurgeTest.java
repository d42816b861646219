package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.storage.ObjectStore;
import dev.layercache.server.storage.S3ObjectStore;
import dev.layercache.server.testing.ClusterNodes;
import dev.layercache.server.testing.Registry;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.IntSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A namespace purged through node 0 of two nodes on a real S3 server: its records and the blobs
 * only it used leave the bucket, a blob another namespace uses stays, and node 1, which had read
 * the namespace (so holds copies of its manifest by digest, its links and its blob bytes), stops
 * serving it within a few probes.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ClusterPurgeTest {
    private static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";

    @TempDir
    static Path dir;
    static ClusterNodes cluster;

    @BeforeAll
    static void start() throws Exception {
        cluster = ClusterNodes.start(dir, 2);
    }

    @AfterAll
    static void stop() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    private static Registry node(int i) {
        return new Registry(cluster.node(i).port());
    }

    @Test
    void aPurgeThroughOneNodeLeavesTheBucketAndIsSeenByTheOther() throws Exception {
        byte[] own = bytes(200_000, 1);
        byte[] shared = bytes(100_000, 2);
        byte[] config = "{\"team\":\"app\"}".getBytes(StandardCharsets.UTF_8);
        byte[] otherConfig = "{\"other\":\"app\"}".getBytes(StandardCharsets.UTF_8);
        for (byte[] b : new byte[][] {config, own, shared}) {
            assertEquals(201, node(0).pushBlob("team/app", b), cluster.logs());
        }
        String manifest = Registry.imageManifest(config, own, shared);
        String manifestDigest = Registry.sha256(manifest.getBytes(StandardCharsets.UTF_8));
        assertEquals(201, node(0).pushManifest("team/app", "v1", MANIFEST_TYPE, manifest));
        for (byte[] b : new byte[][] {otherConfig, shared}) {
            assertEquals(201, node(0).pushBlob("other/app", b));
        }
        assertEquals(201, node(0).pushManifest("other/app", "v1", MANIFEST_TYPE,
                Registry.imageManifest(otherConfig, shared)));
        // Node 1 reads the namespace: it now holds the manifest, the links and the bytes itself.
        assertEquals(200, node(1).get("/v2/team/app/manifests/" + manifestDigest).statusCode());
        assertEquals(200, node(1).get("/v2/team/app/blobs/" + Registry.sha256(own)).statusCode());

        try (S3ObjectStore bucket = S3ObjectStore.open(cluster.s3().settings(""), S3ObjectStore.RequestListener.NONE)) {
            assertTrue(has(bucket, "blobs/", own), "pushed through to the bucket");
            JsonNode dry = purge(0, "team/app", true);
            assertEquals(2, dry.path("blobs").asLong(), "config and own, not shared: " + dry);
            assertTrue(has(bucket, "blobs/", own), "a dry run deletes nothing");
            assertFalse(bucket.list("meta/tags/team/app!", null, 10).isEmpty());

            JsonNode done = purge(0, "team/app", false);
            assertEquals(List.of("team/app"), List.of(done.path("repositories").get(0).asText()), done.toString());
            assertEquals(1, done.path("tags").asLong(), done.toString());
            assertEquals(1, done.path("manifests").asLong());
            assertEquals(2, done.path("blobs").asLong());
            assertEquals(own.length + config.length, done.path("bytes").asLong());

            for (String prefix : new String[] {"meta/tags/team/app!", "meta/manifests/team/app!",
                "meta/links/team/app!", "meta/repositories/team/app"}) {
                assertEquals(List.of(), bucket.list(prefix, null, 10), prefix);
            }
            assertFalse(has(bucket, "blobs/", own), "the bytes only team/app used left the bucket");
            assertFalse(has(bucket, "blobs/", config));
            assertFalse(has(bucket, "meta/blobs/", own), "and their records");
            assertTrue(has(bucket, "blobs/", shared), "other/app's layer stays");
            assertEquals(1, bucket.list(BucketPurge.NOTICES, null, 10).size(), "the notice to the other nodes");
            assertEquals(List.of(), bucket.list("gc/sweeping/", null, 10), "no claim left behind");
            assertEquals(List.of(), bucket.list("gc/pending/", null, 10), "no mark left behind");
        }

        assertEquals(404, node(0).get("/v2/team/app/manifests/" + manifestDigest).statusCode());
        assertEquals(404, node(1).get("/v2/team/app/manifests/v1").statusCode(), "tags are read from the bucket");
        awaitStatus(404, () -> status(1, "/v2/team/app/manifests/" + manifestDigest),
                "node 1 drops its copy of the manifest");
        awaitStatus(404, () -> status(1, "/v2/team/app/blobs/" + Registry.sha256(own)),
                "node 1 drops its link and bytes");
        assertEquals(200, node(1).get("/v2/other/app/blobs/" + Registry.sha256(shared)).statusCode());
        assertEquals(200, node(1).get("/v2/other/app/manifests/v1").statusCode());
        String catalog = Registry.utf8(node(1).get("/v2/_catalog").body());
        assertFalse(catalog.contains("\"team/app\""), catalog);
    }

    private static JsonNode purge(int node, String prefix, boolean dryRun) throws Exception {
        HttpResponse<byte[]> r = node(node).send(HttpRequest.newBuilder(node(node).uri("/api/v1/namespaces/" + prefix
                + (dryRun ? "?dry_run=true" : ""))).DELETE());
        assertEquals(200, r.statusCode(), Registry.utf8(r.body()) + cluster.logs());
        return new ObjectMapper().readTree(r.body());
    }

    private static int status(int node, String path) {
        try {
            return node(node).get(path).statusCode();
        } catch (Exception e) {
            return -1;
        }
    }

    private static void awaitStatus(int expected, IntSupplier status, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        int last = status.getAsInt();
        while (last != expected && System.nanoTime() < deadline) {
            Thread.sleep(200);
            last = status.getAsInt();
        }
        assertEquals(expected, last, what + cluster.logs());
    }

    private static boolean has(ObjectStore bucket, String prefix, byte[] blob) throws Exception {
        String digest = Registry.sha256(blob);
        String key = prefix.equals("blobs/") ? "blobs/sha256/" + digest.substring("sha256:".length())
                : "meta/blobs/" + digest;
        return !bucket.list(key, null, 1).isEmpty();
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
