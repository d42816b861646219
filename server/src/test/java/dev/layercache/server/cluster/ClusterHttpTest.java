package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.ClusterNodes;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.Registry;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three nodes sharing one bucket, driven over the OCI API: whatever one node acknowledges, every
 * node serves at once; an upload whose requests land on three different nodes completes; tags
 * are last-writer-wins; bucket requests are counted.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ClusterHttpTest {
    @TempDir
    static Path dir;
    static ClusterNodes cluster;

    @BeforeAll
    static void start() throws Exception {
        cluster = ClusterNodes.start(dir, 3);
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
    void blobAndManifestPushedThroughOneNodeAreServedByEveryNode() throws Exception {
        byte[] layer = random(3 << 20, 1);
        byte[] config = "{\"architecture\":\"amd64\",\"os\":\"linux\"}".getBytes(StandardCharsets.UTF_8);
        assertEquals(201, node(0).pushBlob("team/app", layer), cluster.logs());
        assertEquals(201, node(0).pushBlob("team/app", config));
        String manifest = Registry.imageManifest(config, layer);
        assertEquals(201, node(0).pushManifest("team/app", "v1", "application/vnd.oci.image.manifest.v1+json", manifest));

        for (int i = 1; i < 3; i++) {
            HttpResponse<byte[]> m = node(i).get("/v2/team/app/manifests/v1");
            assertEquals(200, m.statusCode(), "node " + i + " resolves the tag pushed through node 0");
            assertEquals(manifest, new String(m.body(), StandardCharsets.UTF_8));
            HttpResponse<byte[]> blob = node(i).get("/v2/team/app/blobs/" + Registry.sha256(layer));
            assertEquals(200, blob.statusCode(), "node " + i + " serves the layer from the bucket");
            assertArrayEquals(layer, blob.body());
            assertEquals(200, node(i).head("/v2/team/app/blobs/" + Registry.sha256(config)));
            // Links are per repository in the cluster too.
            assertEquals(404, node(i).head("/v2/other/app/blobs/" + Registry.sha256(layer)));
            String tags = new String(node(i).get("/v2/team/app/tags/list").body(), StandardCharsets.UTF_8);
            assertTrue(tags.contains("\"v1\""), "tags/list on node " + i + ": " + tags);
            String catalog = new String(node(i).get("/v2/_catalog").body(), StandardCharsets.UTF_8);
            assertTrue(catalog.contains("\"team/app\""), "catalog on node " + i + ": " + catalog);
        }
    }

    @Test
    void chunkedUploadWhosePostPatchAndPutLandOnThreeNodesCompletes() throws Exception {
        byte[] blob = random(5 << 20, 2);
        int half = blob.length / 2;
        HttpResponse<byte[]> post = node(0).send(HttpRequest.newBuilder(uri(0, "/v2/chunks/app/blobs/uploads/"))
                .POST(HttpRequest.BodyPublishers.noBody()));
        assertEquals(202, post.statusCode(), cluster.logs());
        String location = post.headers().firstValue("Location").orElseThrow();

        HttpResponse<byte[]> first = node(1).send(HttpRequest.newBuilder(uri(1, location))
                .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOfRange(blob, 0, half)))
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", "0-" + (half - 1)));
        assertEquals(202, first.statusCode(), "PATCH on another node than the POST: " + new String(first.body())
                + cluster.logs());
        assertEquals("0-" + (half - 1), first.headers().firstValue("Range").orElse(""));

        HttpResponse<byte[]> second = node(2).send(HttpRequest.newBuilder(uri(2, location))
                .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOfRange(blob, half, blob.length)))
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", half + "-" + (blob.length - 1)));
        assertEquals(202, second.statusCode(), "second PATCH on a third node: " + new String(second.body())
                + cluster.logs());

        HttpResponse<byte[]> status = node(1).send(HttpRequest.newBuilder(uri(1, location)).GET());
        assertEquals(204, status.statusCode());
        assertEquals("0-" + (blob.length - 1), status.headers().firstValue("Range").orElse(""),
                "the upload's progress as seen from yet another node");

        String digest = Registry.sha256(blob);
        HttpResponse<byte[]> put = node(0).send(HttpRequest.newBuilder(
                uri(0, location + (location.contains("?") ? "&" : "?") + "digest=" + digest))
                .PUT(HttpRequest.BodyPublishers.noBody()));
        assertEquals(201, put.statusCode(), "PUT back on the first node: " + new String(put.body()) + cluster.logs());
        for (int i = 0; i < 3; i++) {
            HttpResponse<byte[]> got = node(i).get("/v2/chunks/app/blobs/" + digest);
            assertEquals(200, got.statusCode());
            assertArrayEquals(blob, got.body(), "node " + i);
        }
        assertTrue(cluster.node(1).log().contains("took over upload"), "node 1 took the session over");
    }

    @Test
    void aTagIsWhatItsLastWriterPushedOnEveryNode() throws Exception {
        byte[] config = "{\"os\":\"linux\"}".getBytes(StandardCharsets.UTF_8);
        byte[] a = random(1000, 3);
        byte[] b = random(1000, 4);
        for (byte[] layer : new byte[][] {config, a, b}) {
            assertEquals(201, node(0).pushBlob("lww/app", layer));
        }
        String first = Registry.imageManifest(config, a);
        String second = Registry.imageManifest(config, b);
        String type = "application/vnd.oci.image.manifest.v1+json";
        assertEquals(201, node(0).pushManifest("lww/app", "latest", type, first));
        for (int i = 0; i < 3; i++) {
            assertEquals(first, new String(node(i).get("/v2/lww/app/manifests/latest").body(), StandardCharsets.UTF_8));
        }
        assertEquals(201, node(1).pushManifest("lww/app", "latest", type, second));
        for (int i = 0; i < 3; i++) {
            assertEquals(second, new String(node(i).get("/v2/lww/app/manifests/latest").body(), StandardCharsets.UTF_8),
                    "node " + i + " after node 1 moved the tag (node 0 had cached the first)");
        }
        assertEquals(202, node(2).send(HttpRequest.newBuilder(uri(2, "/v2/lww/app/manifests/latest")).DELETE())
                .statusCode());
        for (int i = 0; i < 3; i++) {
            assertEquals(404, node(i).get("/v2/lww/app/manifests/latest").statusCode(), "deleted tag on node " + i);
        }
    }

    @Test
    void everyBucketRequestIsCounted() throws Exception {
        byte[] layer = random(2000, 5);
        assertEquals(201, node(2).pushBlob("counted/app", layer));
        PrometheusText before = metrics(1);
        assertEquals(200, node(1).head("/v2/counted/app/blobs/" + Registry.sha256(layer)));
        PrometheusText after = metrics(1);
        double requests = after.value("layercache_bucket_requests_total") - before.value("layercache_bucket_requests_total");
        // A cold HEAD: the repository link (GET) and the blob's size (HEAD), no more.
        assertTrue(requests >= 1 && requests <= 3, "bucket requests for one cold HEAD: " + requests);
        assertTrue(after.value("layercache_bucket_requests_total", "operation", "get", "outcome", "ok") > 0);
    }

    private static PrometheusText metrics(int node) throws Exception {
        return new PrometheusText(new String(node(node).get("/metrics").body(), StandardCharsets.UTF_8));
    }

    private static URI uri(int node, String pathOrUrl) {
        if (pathOrUrl.startsWith("http")) {
            URI u = URI.create(pathOrUrl);
            pathOrUrl = u.getRawPath() + (u.getRawQuery() == null ? "" : "?" + u.getRawQuery());
        }
        return URI.create("http://127.0.0.1:" + cluster.node(node).port() + pathOrUrl);
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }
}
