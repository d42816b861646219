package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.ClusterNodes;
import dev.layercache.server.testing.Registry;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A cluster losing a node to {@code kill -9}, and losing its bucket for a while. */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ClusterFailureTest {
    private static final String MANIFEST = "application/vnd.oci.image.manifest.v1+json";

    @TempDir
    Path dir;

    @Test
    void killNineOfOneNodeDuringConcurrentPushesLosesNothingAcknowledged() throws Exception {
        try (ClusterNodes cluster = ClusterNodes.start(dir, 3)) {
            Map<String, byte[]> acknowledged = new ConcurrentHashMap<>();
            Map<String, String> manifests = new ConcurrentHashMap<>();
            AtomicInteger retried = new AtomicInteger();
            AtomicInteger pushes = new AtomicInteger();
            ExecutorService builders = Executors.newFixedThreadPool(6);
            List<Future<?>> running = new ArrayList<>();
            for (int b = 0; b < 6; b++) {
                int builder = b;
                running.add(builders.submit(() -> {
                    Random random = new Random(builder);
                    for (int s = 0; s < 12; s++) {
                        int step = s;
                        byte[] layer = new byte[(64 << 10) + random.nextInt(256 << 10)];
                        random.nextBytes(layer);
                        String repo = "kill/b" + builder;
                        // A client behind a load balancer: a failed request is retried on the next node.
                        int start = builder + step;
                        pushWithRetry(cluster, start, retried, n -> n.pushBlob(repo, layer) == 201);
                        acknowledged.put(repo + "@" + Registry.sha256(layer), layer);
                        byte[] config = ("{\"step\":" + step + ",\"b\":" + builder + "}").getBytes(StandardCharsets.UTF_8);
                        pushWithRetry(cluster, start + 1, retried, n -> n.pushBlob(repo, config) == 201);
                        String manifest = Registry.imageManifest(config, layer);
                        pushWithRetry(cluster, start + 2, retried,
                                n -> n.pushManifest(repo, "s" + step, MANIFEST, manifest) == 201);
                        manifests.put(repo + ":s" + step, manifest);
                        pushes.incrementAndGet();
                    }
                    return null;
                }));
            }
            while (pushes.get() < 15) {
                Thread.sleep(20);
            }
            cluster.node(1).kill9();
            for (Future<?> f : running) {
                f.get(150, TimeUnit.SECONDS);
            }
            builders.shutdown();
            assertEquals(72, manifests.size());
            assertTrue(retried.get() > 0, "some request must have hit the killed node and been retried");

            for (int i : new int[] {0, 2}) {
                Registry node = new Registry(cluster.node(i).port());
                assertEverythingThere(node, acknowledged, manifests, "node " + i);
            }
            cluster.startNode(1);
            assertEverythingThere(new Registry(cluster.node(1).port()), acknowledged, manifests,
                    "node 1 after its restart");
        }
    }

    @Test
    void bucketOutageFailsWritesCleanlyServesLocalCopiesAndRecovers() throws Exception {
        try (ClusterNodes cluster = ClusterNodes.start(dir, 2)) {
            Registry n0 = new Registry(cluster.node(0).port());
            Registry n1 = new Registry(cluster.node(1).port());
            byte[] layer = "layer bytes before the outage".getBytes(StandardCharsets.UTF_8);
            byte[] config = "{\"os\":\"linux\"}".getBytes(StandardCharsets.UTF_8);
            assertEquals(201, n0.pushBlob("out/app", layer));
            assertEquals(201, n0.pushBlob("out/app", config));
            String manifest = Registry.imageManifest(config, layer);
            assertEquals(201, n0.pushManifest("out/app", "v1", MANIFEST, manifest));
            // Node 1 reads both once, so its hot tier holds them.
            assertArrayEquals(layer, n1.get("/v2/out/app/blobs/" + Registry.sha256(layer)).body());
            assertEquals(manifest, utf8(n1.get("/v2/out/app/manifests/v1").body()));

            cluster.s3().stop();
            awaitReady(cluster, false);

            byte[] during = "pushed while the bucket is down".getBytes(StandardCharsets.UTF_8);
            HttpResponse<byte[]> refused = n1.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
                    "http://127.0.0.1:" + cluster.node(1).port() + "/v2/out/app/blobs/uploads/?digest="
                            + Registry.sha256(during)))
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(during))
                    .header("Content-Type", "application/octet-stream"));
            assertEquals(503, refused.statusCode(), utf8(refused.body()));
            assertTrue(utf8(refused.body()).contains("UNAVAILABLE"), utf8(refused.body()));
            assertEquals(503, n0.pushManifest("out/app", "v2", MANIFEST, manifest), "a tag push is a write too");

            assertArrayEquals(layer, n1.get("/v2/out/app/blobs/" + Registry.sha256(layer)).body(),
                    "a blob on the node's own disk is served while the bucket is down");
            assertEquals(manifest, utf8(n1.get("/v2/out/app/manifests/v1").body()),
                    "a tag is answered from the node's last copy while the bucket is down");

            cluster.s3().start();
            awaitReady(cluster, true);
            assertEquals(404, n0.head("/v2/out/app/blobs/" + Registry.sha256(during)),
                    "the refused upload left nothing behind");
            assertEquals(201, n1.pushBlob("out/app", during));
            assertArrayEquals(during, n0.get("/v2/out/app/blobs/" + Registry.sha256(during)).body());
            assertEquals(201, n0.pushManifest("out/app", "v2", MANIFEST, manifest));
            assertEquals(200, n1.get("/v2/out/app/manifests/v2").statusCode());
        }
    }

    private interface Push {
        boolean to(Registry node) throws IOException, InterruptedException;
    }

    /** Tries node {@code start}, then the next ones in turn, until a push is acknowledged. */
    private static void pushWithRetry(ClusterNodes cluster, int start, AtomicInteger retried, Push push)
            throws Exception {
        for (int attempt = 0; attempt < 12; attempt++) {
            int i = Math.floorMod(start + attempt, cluster.size());
            try {
                if (push.to(new Registry(cluster.node(i).port()))) {
                    return;
                }
            } catch (IOException e) {
                // connection refused or reset: that node is gone
            }
            retried.incrementAndGet();
            Thread.sleep(50);
        }
        throw new AssertionError("no node acknowledged the push" + cluster.logs());
    }

    private static void assertEverythingThere(Registry node, Map<String, byte[]> blobs, Map<String, String> manifests,
                                              String who) throws Exception {
        for (Map.Entry<String, byte[]> e : blobs.entrySet()) {
            String[] repoDigest = e.getKey().split("@");
            HttpResponse<byte[]> got = node.get("/v2/" + repoDigest[0] + "/blobs/" + repoDigest[1]);
            assertEquals(200, got.statusCode(), who + ": acknowledged blob " + e.getKey());
            assertArrayEquals(e.getValue(), got.body(), who + ": " + e.getKey());
        }
        for (Map.Entry<String, String> e : manifests.entrySet()) {
            String[] repoTag = e.getKey().split(":");
            HttpResponse<byte[]> got = node.get("/v2/" + repoTag[0] + "/manifests/" + repoTag[1]);
            assertEquals(200, got.statusCode(), who + ": acknowledged manifest " + e.getKey());
            assertEquals(e.getValue(), utf8(got.body()));
        }
    }

    private static void awaitReady(ClusterNodes cluster, boolean ready) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        for (int i = 0; i < cluster.size(); i++) {
            Registry node = new Registry(cluster.node(i).port());
            while (true) {
                int status = node.get("/readyz").statusCode();
                if (status == (ready ? 200 : 503)) {
                    break;
                }
                assertFalse(System.nanoTime() > deadline, "node " + i + " /readyz stayed " + status + cluster.logs());
                Thread.sleep(200);
            }
        }
    }

    private static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
