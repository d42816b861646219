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
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code protect} setting in a cluster: the bucket's own collection, run on demand against
 * real nodes and a real S3 server, never evicts a protected tag, neither by {@code s3-max-size}
 * (it takes the least recently used unprotected tag instead) nor by {@code s3-max-age}, and what
 * a protected tag reaches stays in the bucket, readable from a node that never held it. When the
 * protected tags alone hold more than the low watermark, each run says so once and keeps them.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ClusterProtectTest {
    private static final String MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    private static final String WARNING = "bucket: the roots of protect";

    @TempDir
    Path dir;

    @Test
    void theBudgetEvictsTheOldestUnprotectedTagAndKeepsTheProtectedOneWhole() throws Exception {
        try (ClusterNodes cluster = ClusterNodes.start(dir, 2, "--protect", "*/app:main", "--gc-grace", "1s",
                "--s3-max-size", "400KB", "--disk-high-watermark", "90", "--disk-low-watermark", "80");
             S3ObjectStore bucket = S3ObjectStore.open(cluster.s3().settings(""), S3ObjectStore.RequestListener.NONE)) {
            Registry n0 = new Registry(cluster.node(0).port());
            Registry n1 = new Registry(cluster.node(1).port());
            // Pushed a second and more apart, so that their last uses (the tag objects' times in
            // the bucket) are in this order: main, the protected one, is the least recently used.
            String[] tags = {"main", "a", "b"};
            byte[][] layers = new byte[tags.length][];
            byte[][] configs = new byte[tags.length][];
            String[] manifests = new String[tags.length];
            for (int i = 0; i < tags.length; i++) {
                layers[i] = random(150_000, 40 + i);
                configs[i] = ("{\"tag\":\"" + tags[i] + "\"}").getBytes(StandardCharsets.UTF_8);
                assertEquals(201, n0.pushBlob("team/app", configs[i]));
                assertEquals(201, n0.pushBlob("team/app", layers[i]));
                manifests[i] = Registry.imageManifest(configs[i], layers[i]);
                assertEquals(201, n0.pushManifest("team/app", tags[i], MANIFEST, manifests[i]));
                Thread.sleep(1100);
            }

            // Three images of 150 kB in a 400 kB budget (high 360 kB, low 320 kB): one goes.
            JsonNode run = collect(cluster, 0);
            assertEquals(1, run.path("roots_evicted").asInt(), run.toString());
            assertEquals(1, run.path("roots_protected").asInt(), run.toString());
            assertEquals(404, n0.get("/v2/team/app/manifests/a").statusCode(), "a, the oldest unprotected tag, went");
            assertEquals(200, n0.get("/v2/team/app/manifests/b").statusCode());
            // The second run deletes what only "a" reached; nothing of main's is even pending.
            Thread.sleep(1200);
            JsonNode second = collect(cluster, 0);
            assertEquals(2, second.path("deleted").asInt(), "a's layer and config: " + second);
            assertFalse(has(bucket, layers[1]));
            assertFalse(has(bucket, configs[1]));
            assertTrue(has(bucket, layers[0]), "main's layer stays in the bucket");
            assertTrue(has(bucket, configs[0]), "main's config stays in the bucket");

            // Node 1 never held main: it reads it from the bucket, byte for byte, as node 0 does.
            for (Registry node : new Registry[] {n1, n0}) {
                HttpResponse<byte[]> manifest = node.get("/v2/team/app/manifests/main");
                assertEquals(200, manifest.statusCode(), cluster.logs());
                assertArrayEquals(manifests[0].getBytes(StandardCharsets.UTF_8), manifest.body());
                for (byte[] blob : new byte[][] {configs[0], layers[0]}) {
                    HttpResponse<byte[]> got = node.get("/v2/team/app/blobs/" + Registry.sha256(blob));
                    assertEquals(200, got.statusCode());
                    assertArrayEquals(blob, got.body());
                }
            }
            assertEquals(0, count(cluster, 0, WARNING), "main alone is under the low watermark");
        }
    }

    @Test
    void protectedTagsOutliveTheAgeLimitAndAWarningSaysWhenTheyAloneExceedTheBudget() throws Exception {
        try (ClusterNodes cluster = ClusterNodes.start(dir, 2, "--protect", "*:main", "--gc-grace", "1s",
                "--s3-max-age", "4s", "--s3-max-size", "200KB", "--disk-high-watermark", "90",
                "--disk-low-watermark", "80")) {
            Registry n0 = new Registry(cluster.node(0).port());
            Registry n1 = new Registry(cluster.node(1).port());
            byte[] one = random(100_000, 50);
            byte[] two = random(100_000, 51);
            byte[] old = random(50_000, 52);
            byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
            push(n0, "keep/one", "main", config, one);
            push(n0, "keep/two", "main", config, two);
            push(n0, "keep/one", "v1", config, old);
            Thread.sleep(4500); // every root is past s3-max-age, none was used since

            JsonNode run = collect(cluster, 0);
            assertEquals(1, run.path("roots_evicted").asInt(), "only v1, by age: " + run);
            assertEquals(2, run.path("roots_protected").asInt(), run.toString());
            assertEquals(404, n1.get("/v2/keep/one/manifests/v1").statusCode(), "unprotected, past the age");
            for (String repo : new String[] {"keep/one", "keep/two"}) {
                assertEquals(200, n1.get("/v2/" + repo + "/manifests/main").statusCode(), repo + cluster.logs());
            }
            HttpResponse<byte[]> layer = n1.get("/v2/keep/two/blobs/" + Registry.sha256(two));
            assertEquals(200, layer.statusCode());
            assertArrayEquals(two, layer.body());
            // 200 kB protected in a 200 kB budget (low 160 kB): kept, and one warning per run.
            assertEquals(1, count(cluster, 0, WARNING), cluster.logs());
            collect(cluster, 0);
            assertEquals(count(cluster, 0, "bucket collection: "), count(cluster, 0, WARNING), cluster.logs());
            assertEquals(200, n0.get("/v2/keep/one/manifests/main").statusCode());
        }
    }

    private static void push(Registry node, String repo, String tag, byte[] config, byte[] layer) throws Exception {
        assertEquals(201, node.pushBlob(repo, config));
        assertEquals(201, node.pushBlob(repo, layer));
        assertEquals(201, node.pushManifest(repo, tag, MANIFEST, Registry.imageManifest(config, layer)));
    }

    /** Runs the bucket's collection on {@code node}, which takes the lease and keeps it. */
    private static JsonNode collect(ClusterNodes cluster, int node) throws Exception {
        Registry r = new Registry(cluster.node(node).port());
        HttpResponse<byte[]> response = r.send(HttpRequest.newBuilder(r.uri("/api/v1/gc?scope=bucket"))
                .POST(HttpRequest.BodyPublishers.noBody()));
        assertEquals(200, response.statusCode(), Registry.utf8(response.body()) + cluster.logs());
        JsonNode run = new ObjectMapper().readTree(response.body());
        assertTrue(run.path("ran").asBoolean(), run.toString());
        return run;
    }

    /** How many lines of {@code node}'s log contain {@code text}. */
    private static long count(ClusterNodes cluster, int node, String text) throws Exception {
        return cluster.node(node).log().lines().filter(l -> l.contains(text)).count();
    }

    private static boolean has(ObjectStore bucket, byte[] blob) throws Exception {
        String hex = Registry.sha256(blob).substring("sha256:".length());
        return !bucket.list("blobs/sha256/" + hex, null, 1).isEmpty();
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }
}
