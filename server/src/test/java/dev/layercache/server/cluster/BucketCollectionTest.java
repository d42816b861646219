package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.storage.ObjectStore;
import dev.layercache.server.storage.S3ObjectStore;
import dev.layercache.server.testing.ClusterNodes;
import dev.layercache.server.testing.Registry;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bucket's own collection, run on demand ({@code POST /api/v1/gc?scope=bucket}) against real
 * nodes and a real S3 server: unreferenced blobs go in two steps a grace period apart, a blob
 * published against in between is revived, what a root still reaches always stays, and the age
 * limit and budget evict the least recently used roots cluster-wide.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class BucketCollectionTest {
    private static final String MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void onlyTheLeaseHolderCollects() throws Exception {
        try (ClusterNodes cluster = ClusterNodes.start(dir, 2)) {
            assertTrue(collect(cluster, 0).path("ran").asBoolean());
            assertFalse(collect(cluster, 1).path("ran").asBoolean(), "node 0 holds the lease");
            assertTrue(collect(cluster, 0).path("ran").asBoolean(), "the holder renews its lease");
        }
    }

    @Test
    void unreferencedBlobsGoInTwoStepsAndARootNeverBreaks() throws Exception {
        try (ClusterNodes cluster = ClusterNodes.start(dir, 2, "--gc-grace", "2s");
             S3ObjectStore bucket = S3ObjectStore.open(cluster.s3().settings(""), S3ObjectStore.RequestListener.NONE)) {
            Registry n0 = new Registry(cluster.node(0).port());
            Registry n1 = new Registry(cluster.node(1).port());
            byte[] shared = random(50_000, 1);
            byte[] onlyOld = random(60_000, 2);
            byte[] onlyNew = random(70_000, 3);
            byte[] orphan = random(80_000, 4);
            byte[] configOld = "{\"v\":\"old\"}".getBytes(StandardCharsets.UTF_8);
            byte[] configNew = "{\"v\":\"new\"}".getBytes(StandardCharsets.UTF_8);
            for (byte[] b : new byte[][] {shared, onlyOld, onlyNew, orphan, configOld, configNew}) {
                assertEquals(201, n0.pushBlob("gc/app", b));
            }
            String oldManifest = Registry.imageManifest(configOld, shared, onlyOld);
            assertEquals(201, n0.pushManifest("gc/app", "old", MANIFEST, oldManifest));
            assertEquals(201, n0.pushManifest("gc/app", "new", MANIFEST, Registry.imageManifest(configNew, shared, onlyNew)));
            // The old image goes (by digest: manifest and tag); the orphan was never referenced.
            assertEquals(202, n1.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + cluster.node(1).port()
                    + "/v2/gc/app/manifests/" + Registry.sha256(oldManifest.getBytes(StandardCharsets.UTF_8)))).DELETE())
                    .statusCode());

            Thread.sleep(2500); // past the grace of every blob
            JsonNode first = collect(cluster, 0);
            assertTrue(first.path("ran").asBoolean(), first.toString());
            assertEquals(0, first.path("deleted").asInt(), "the first run only marks: " + first);
            assertEquals(3, first.path("marked_pending").asInt(), "onlyOld, configOld and the orphan: " + first);

            // A publication against the orphan revives it before the second run.
            byte[] configRevived = "{\"v\":\"revived\"}".getBytes(StandardCharsets.UTF_8);
            assertEquals(201, n0.pushBlob("gc/app", configRevived));
            assertEquals(201, n0.pushManifest("gc/app", "revived", MANIFEST, Registry.imageManifest(configRevived, orphan)));

            Thread.sleep(2500);
            JsonNode second = collect(cluster, 0);
            assertEquals(2, second.path("deleted").asInt(), "onlyOld and configOld: " + second);
            Set<String> left = blobsIn(bucket);
            assertFalse(left.contains(Registry.sha256(onlyOld)), left.toString());
            assertFalse(left.contains(Registry.sha256(configOld)), left.toString());
            for (byte[] kept : new byte[][] {shared, onlyNew, orphan, configNew, configRevived}) {
                assertTrue(left.contains(Registry.sha256(kept)), "still referenced: " + Registry.sha256(kept));
            }
            // Every remaining root is whole on every node, including one that never held its blobs.
            for (Registry node : new Registry[] {n0, n1}) {
                for (String tag : new String[] {"new", "revived"}) {
                    JsonNode m = JSON.readTree(node.get("/v2/gc/app/manifests/" + tag).body());
                    for (JsonNode layer : m.path("layers")) {
                        assertEquals(200, node.get("/v2/gc/app/blobs/" + layer.path("digest").asText()).statusCode());
                    }
                }
            }
            assertEquals(404, n1.head("/v2/gc/app/blobs/" + Registry.sha256(onlyOld)),
                    "a node that never held the collected blob knows it is gone");
        }
    }

    @Test
    void theAgeLimitAndTheBudgetEvictTheLeastRecentlyUsedRootsClusterWide() throws Exception {
        try (ClusterNodes cluster = ClusterNodes.start(dir, 2, "--gc-grace", "1s", "--s3-max-age", "6s",
                "--s3-max-size", "400KB", "--disk-high-watermark", "90", "--disk-low-watermark", "80")) {
            Registry n0 = new Registry(cluster.node(0).port());
            Registry n1 = new Registry(cluster.node(1).port());
            byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
            assertEquals(201, n0.pushBlob("age/app", config));
            String[] tags = {"a", "b", "c"};
            for (int i = 0; i < tags.length; i++) {
                byte[] layer = random(150_000, 10 + i);
                assertEquals(201, n0.pushBlob("age/app", layer));
                assertEquals(201, n0.pushManifest("age/app", tags[i], MANIFEST, Registry.imageManifest(config, layer)));
            }
            // Three images of 150 kB in a 400 kB budget (high 360 kB): the least recently used goes.
            // "a" is pulled through node 1 from now on; "b" and "c" are left alone.
            long until = System.currentTimeMillis() + 3000;
            while (System.currentTimeMillis() < until) {
                assertEquals(200, n1.get("/v2/age/app/manifests/a").statusCode());
                Thread.sleep(300);
            }
            JsonNode budget = collect(cluster, 0);
            assertEquals(1, budget.path("roots_evicted").asInt(), budget.toString());
            assertEquals(404, n0.get("/v2/age/app/manifests/b").statusCode(), "b was the least recently used");
            assertEquals(200, n0.get("/v2/age/app/manifests/a").statusCode());
            assertEquals(200, n0.get("/v2/age/app/manifests/c").statusCode());

            // Past the age limit only what is still used stays.
            until = System.currentTimeMillis() + 7000;
            while (System.currentTimeMillis() < until) {
                assertEquals(200, n1.get("/v2/age/app/manifests/a").statusCode());
                Thread.sleep(300);
            }
            JsonNode age = collect(cluster, 0);
            assertTrue(age.path("roots_evicted").asInt() >= 1, age.toString());
            assertEquals(404, n1.get("/v2/age/app/manifests/c").statusCode(), "c went unused for longer than 6 s");
            assertEquals(200, n1.get("/v2/age/app/manifests/a").statusCode(), "a is in use on node 1");
        }
    }

    /**
     * What grows with traffic and nothing else removes leaves the bucket: tombstones past
     * {@code history-max-records} per repository, access marks of roots deleted through the API,
     * and directory records of upload sessions older than {@code upload-timeout}.
     */
    @Test
    void historyMarksOfRootsGoneAndOldUploadRecordsLeaveTheBucket() throws Exception {
        try (ClusterNodes cluster = ClusterNodes.start(dir, 1, "--history-max-records", "2", "--upload-timeout", "3s");
             S3ObjectStore bucket = S3ObjectStore.open(cluster.s3().settings(""), S3ObjectStore.RequestListener.NONE)) {
            Registry n0 = new Registry(cluster.node(0).port());
            byte[] config = "{\"history\":1}".getBytes(StandardCharsets.UTF_8);
            byte[] layer = random(10_000, 30);
            assertEquals(201, n0.pushBlob("hist/app", config));
            assertEquals(201, n0.pushBlob("hist/app", layer));
            for (int i = 0; i < 5; i++) {
                assertEquals(201, n0.pushManifest("hist/app", "t" + i, MANIFEST, Registry.imageManifest(config, layer)));
                assertEquals(200, n0.get("/v2/hist/app/manifests/t" + i).statusCode()); // an access mark
            }
            awaitObjects(bucket, "access/tags/hist/app!", 5);
            for (int i = 0; i < 5; i++) {
                assertEquals(202, n0.send(HttpRequest.newBuilder(n0.uri("/v2/hist/app/manifests/t" + i)).DELETE())
                        .statusCode());
            }
            assertEquals(5, bucket.list("meta/tombstones/hist/app!", null, 100).size(), "a tombstone per tag");
            assertEquals(202, n0.send(HttpRequest.newBuilder(n0.uri("/v2/hist/app/blobs/uploads/"))
                    .POST(HttpRequest.BodyPublishers.noBody())).statusCode()); // an upload its client abandons
            assertEquals(1, bucket.list("uploads/", null, 100).size());
            Thread.sleep(3500); // past the upload timeout

            JsonNode run = collect(cluster, 0);

            assertEquals(2, bucket.list("meta/tombstones/hist/app!", null, 100).size(), "at most 2 per repository");
            assertEquals(List.of(), bucket.list("access/tags/hist/app!", null, 100), "marks of deleted tags");
            assertEquals(List.of(), bucket.list("uploads/", null, 100), "the abandoned session's record");
            // The upload record may have gone with its session already: the node expires its own too.
            assertTrue(run.path("history_pruned").asInt() >= 3 + 5, run.toString());
        }
    }

    private static void awaitObjects(ObjectStore bucket, String prefix, int count) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (bucket.list(prefix, null, 1000).size() < count && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertEquals(count, bucket.list(prefix, null, 1000).size(), prefix);
    }

    /** Runs the bucket's collection on {@code node}, which takes the lease (always node 0 here: it keeps it). */
    private static JsonNode collect(ClusterNodes cluster, int node) throws Exception {
        Registry r = new Registry(cluster.node(node).port());
        HttpResponse<byte[]> response = r.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                + cluster.node(node).port() + "/api/v1/gc?scope=bucket")).POST(HttpRequest.BodyPublishers.noBody()));
        assertEquals(200, response.statusCode(), new String(response.body(), StandardCharsets.UTF_8) + cluster.logs());
        return JSON.readTree(response.body());
    }

    private static Set<String> blobsIn(ObjectStore bucket) throws Exception {
        Set<String> out = new TreeSet<>();
        for (String key : bucket.list("blobs/", null, 10_000)) {
            out.add(key.substring("blobs/".length()).replace('/', ':'));
        }
        return out;
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }
}
