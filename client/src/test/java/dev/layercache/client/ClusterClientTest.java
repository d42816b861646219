package dev.layercache.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.ClusterNodes;
import dev.layercache.server.testing.PrometheusText;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client library against a three-node cluster: calls are spread round robin over every node,
 * and when one node is killed ({@code kill -9}) the client carries on with the others, losing
 * nothing a node had acknowledged.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ClusterClientTest {
    @TempDir
    Path work;

    @Test
    void roundRobinAcrossNodesAndCarryOnWhenOneIsKilled() throws Exception {
        try (ClusterNodes cluster = ClusterNodes.start(work.resolve("cluster"), 3)) {
            List<String> targets = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                targets.add("127.0.0.1:" + cluster.node(i).grpcPort());
            }
            String ns = "cluster/client";
            Map<CacheKey, byte[]> published = new LinkedHashMap<>();
            try (LayerCacheClient client = LayerCacheClient.builder().targets(targets).plaintext().build()) {
                for (int step = 0; step < 24; step++) {
                    publish(client, ns, step, published);
                }
                for (CacheKey key : published.keySet()) {
                    assertTrue(client.getEntry(ns, key).isHit(), "entry " + key + cluster.logs());
                }
                for (int i = 0; i < 3; i++) {
                    double lookups = metrics(cluster, i).value("layercache_lookups_total", "surface", "grpc");
                    assertTrue(lookups >= 3, "node " + i + " answered " + lookups + " of the client's lookups:"
                            + " the client must spread its calls over every node");
                }

                cluster.node(1).kill9();
                for (int step = 24; step < 40; step++) {
                    publish(client, ns, step, published);
                }
                for (Map.Entry<CacheKey, byte[]> e : published.entrySet()) {
                    LookupResult hit = client.getEntry(ns, e.getKey());
                    assertTrue(hit.isHit(), "entry " + e.getKey() + " after node 1 died");
                    ByteArrayOutputStream out = new ByteArrayOutputStream();
                    client.downloadBlob(ns, hit.entry().orElseThrow().layers().get(0).digest(), out);
                    assertArrayEquals(e.getValue(), out.toByteArray());
                }
            }
        }
    }

    private static void publish(LayerCacheClient client, String ns, int step, Map<CacheKey, byte[]> published)
            throws Exception {
        byte[] layer = new byte[20_000 + step * 1000];
        new Random(step).nextBytes(layer);
        Path file = Files.createTempFile("layer", ".bin");
        try {
            Files.write(file, layer);
            Digest digest = client.uploadFile(ns, file);
            CacheKey key = CacheKey.compute(Optional.empty(), "RUN step " + step, List.of());
            client.putEntry(ns, CacheEntry.builder(key).layer(Layer.of(digest, layer.length, Layer.OCI_LAYER_GZIP))
                    .build());
            published.put(key, layer);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static PrometheusText metrics(ClusterNodes cluster, int node) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + cluster.node(node).port() + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString());
        return new PrometheusText(r.body());
    }
}
