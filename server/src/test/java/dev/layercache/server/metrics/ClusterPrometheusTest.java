package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.server.deploy.DeployQueries;
import dev.layercache.server.testing.ClusterNodes;
import dev.layercache.server.testing.PrometheusProcess;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.Registry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dashboard's and the alert rules' queries of the cluster's bucket metrics, which a node
 * without a bucket does not export ({@link PrometheusTest} leaves them out): Debian's Prometheus
 * scrapes a real cluster node (a server process over s3proxy) while it pushes and pulls and while
 * its bucket is away for a few seconds. Every such query must return data, and the error ratio
 * that {@code LayercacheBucketErrors} watches must have seen the outage.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ClusterPrometheusTest {
    private static final String MANIFEST = "application/vnd.oci.image.manifest.v1+json";

    @TempDir
    Path dir;

    @Test
    void theBucketPanelsAndAlertHaveDataAndTheAlertSeesAnOutage() throws Exception {
        Path prometheus = RealTools.require("prometheus", "the metrics test scrapes a cluster node with it");
        try (ClusterNodes cluster = ClusterNodes.start(dir, 1);
             PrometheusProcess prom = PrometheusProcess.start(prometheus, dir.resolve("prometheus"),
                     DeployQueries.repoRoot().resolve(DeployQueries.ALERTS),
                     List.of("127.0.0.1:" + cluster.node(0).port()))) {
            // rate() needs samples from before the traffic: the node's own probe makes the first ones.
            prom.awaitAtLeast("sum(layercache_bucket_requests_total)", 1);

            Registry node = new Registry(cluster.node(0).port());
            byte[] config = "{\"cluster\":\"prometheus\"}".getBytes(StandardCharsets.UTF_8);
            byte[] layer = new byte[200_000];
            new Random(1).nextBytes(layer);
            assertEquals(201, node.pushBlob("prom/app", config));
            assertEquals(201, node.pushBlob("prom/app", layer));
            assertEquals(201, node.pushManifest("prom/app", "v1", MANIFEST, Registry.imageManifest(config, layer)));
            assertEquals(200, node.get("/v2/prom/app/manifests/v1").statusCode());
            assertEquals(404, node.get("/v2/prom/app/manifests/none").statusCode());

            // The bucket goes away for a few seconds: the node's requests (its probe every 2 s) fail.
            cluster.s3().stop();
            Thread.sleep(5000);
            cluster.s3().start();
            prom.awaitAtLeast("sum(layercache_bucket_requests_total{outcome=\"error\"})", 1);
            Thread.sleep(3000); // a few more scrapes, so rate() has samples after the outage too

            java.net.http.HttpResponse<byte[]> scraped = node.get("/metrics");
            assertEquals(200, scraped.statusCode(), () -> "GET /metrics: "
                    + new String(scraped.body(), StandardCharsets.UTF_8) + "\n" + cluster.logs());
            PrometheusText exported = new PrometheusText(new String(scraped.body(), StandardCharsets.UTF_8));
            assertTrue(exported.value("layercache_bucket_request_duration_seconds_count",
                    "operation", "put_file", "outcome", "ok") >= 1, "the layer's upload was timed");

            List<DeployQueries.Query> bucket = DeployQueries.all().stream().filter(DeployQueries::clusterOnly).toList();
            assertTrue(bucket.size() >= 5, "the bucket panels' targets and the alert: " + bucket);
            List<String> failures = new ArrayList<>();
            for (DeployQueries.Query q : bucket) {
                String expr = q.source().contains("alert") ? PrometheusTest.valueOf(q.expr()) : q.expr();
                JsonNode result = prom.query(expr);
                if (!"success".equals(result.path("status").asText())) {
                    failures.add(q.source() + ": " + result);
                } else if (result.path("data").path("result").isEmpty()) {
                    failures.add(q.source() + " returned no data: " + expr);
                }
            }
            assertTrue(failures.isEmpty(), String.join("\n", failures));

            DeployQueries.Query alert = bucket.stream().filter(q -> q.source().contains("LayercacheBucketErrors"))
                    .findFirst().orElseThrow();
            JsonNode ratio = prom.query(PrometheusTest.valueOf(alert.expr())).path("data").path("result");
            assertEquals(1, ratio.size(), ratio.toString());
            double errors = Double.parseDouble(ratio.get(0).path("value").get(1).asText());
            assertTrue(errors > 0 && errors <= 1, "the share of failed requests saw the outage: " + errors);
        }
    }
}
