package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.deploy.DeployQueries;
import dev.layercache.server.mirror.UpstreamSettings;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.PrometheusProcess;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.LazyUpstream;
import dev.layercache.server.testing.ReferenceRegistry;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dashboard's and the alert rules' queries of the mirror's metrics, which a node that mirrors
 * nothing does not export ({@link PrometheusTest} leaves them out): Debian's Prometheus scrapes a
 * node mirroring a real Distribution while images are pulled through it cold and warm and while
 * the upstream is away. Every such query must return data, and the error ratio
 * {@code LayercacheMirrorUpstreamFailing} watches must have seen the outage.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class MirrorPrometheusTest {
    private static final String OCI = "application/vnd.oci.image.manifest.v1+json";
    /** Short, so that a tag is asked again (and served stale) within the test. */
    private static final Duration INTERVAL = Duration.ofSeconds(1);
    private static final LazyUpstream REGISTRY = new LazyUpstream("layercache-upstream");

    @RegisterExtension
    final TestServer server = new TestServer(config -> config.withMirror(new ServerConfig.Mirror(List.of(
            new UpstreamSettings("docker.io", upstream().url(), UpstreamSettings.Credentials.NONE, INTERVAL)))));

    @TempDir
    Path dir;

    /** Started before the node, which needs its address in its configuration. */
    private static ReferenceRegistry upstream() {
        return REGISTRY.get();
    }

    @AfterAll
    static void stopUpstream() throws Exception {
        REGISTRY.close();
    }

    @Test
    void theMirrorPanelsAndAlertHaveDataAndTheAlertSeesAnOutage() throws Exception {
        Path prometheus = RealTools.require("prometheus", "the metrics test scrapes a mirroring node with it");
        byte[] layer = new byte[100_000];
        new Random(1).nextBytes(layer);
        ReferenceRegistry.Image image = upstream().push("library/prom", "1", null,
                "{\"mirror\":\"prometheus\"}".getBytes(StandardCharsets.UTF_8), layer);
        try (PrometheusProcess prom = PrometheusProcess.start(prometheus, dir,
                DeployQueries.repoRoot().resolve(DeployQueries.ALERTS), List.of("127.0.0.1:" + server.port()))) {
            // rate() needs samples from before the traffic: the stale counters exist from the start.
            prom.awaitAtLeast("count(layercache_mirror_stale_total)", 1);

            for (int round = 0; round < 3; round++) { // a cold pull, then warm ones, over several scrapes
                pull(image);
                Thread.sleep(1200);
            }
            assertEquals(404, get("/v2/docker.io/library/nowhere/manifests/1").status());

            // The upstream goes away: the tag, past its interval, is served stale; what is not held fails.
            upstream().stop();
            try {
                Thread.sleep(INTERVAL.toMillis() + 200);
                for (int i = 0; i < 3; i++) {
                    assertEquals(200, get("/v2/docker.io/library/prom/manifests/1").status());
                    assertEquals(503, get("/v2/docker.io/library/prom/manifests/never").status());
                    Thread.sleep(1200);
                }
            } finally {
                upstream().restart();
            }
            prom.awaitAtLeast("sum(layercache_mirror_stale_total)", 3);
            prom.awaitAtLeast("sum(layercache_upstream_requests_total{outcome=\"unreachable\"})", 3);
            Thread.sleep(3000); // a few more scrapes, so rate() has samples after the outage too

            List<DeployQueries.Query> mirror = DeployQueries.all().stream().filter(DeployQueries::mirrorOnly).toList();
            assertTrue(mirror.size() >= 10, "the Mirror row's targets and the alert: " + mirror);
            List<String> failures = new ArrayList<>();
            for (DeployQueries.Query q : mirror) {
                String expr = q.source().contains("alert") ? PrometheusTest.valueOf(q.expr()) : q.expr();
                JsonNode result = prom.query(expr);
                if (!"success".equals(result.path("status").asText())) {
                    failures.add(q.source() + ": " + result);
                } else if (result.path("data").path("result").isEmpty()) {
                    failures.add(q.source() + " returned no data: " + expr);
                }
            }
            assertTrue(failures.isEmpty(), String.join("\n", failures));

            DeployQueries.Query alert = mirror.stream()
                    .filter(q -> q.source().contains("LayercacheMirrorUpstreamFailing")).findFirst().orElseThrow();
            JsonNode ratio = prom.query(PrometheusTest.valueOf(alert.expr())).path("data").path("result");
            assertEquals(1, ratio.size(), ratio.toString());
            assertEquals("docker.io", ratio.get(0).path("metric").path("upstream").asText(), ratio.toString());
            double errors = Double.parseDouble(ratio.get(0).path("value").get(1).asText());
            assertTrue(errors > 0 && errors <= 1, "the share of failed requests saw the outage: " + errors);

            // The build cache's hit rate saw none of it: no oci lookup was made.
            JsonNode oci = prom.query("sum(layercache_lookups_total{surface!=\"mirror\"})").path("data").path("result");
            assertEquals(0.0, Double.parseDouble(oci.get(0).path("value").get(1).asText()), oci.toString());
        }
    }

    private void pull(ReferenceRegistry.Image image) throws IOException {
        assertEquals(200, get("/v2/docker.io/library/prom/manifests/1").status());
        List<byte[]> blobs = new ArrayList<>(image.layers());
        blobs.add(image.config());
        for (byte[] blob : blobs) {
            assertEquals(200, get("/v2/docker.io/library/prom/blobs/" + Registry.sha256(blob)).status());
        }
    }

    private Http.Reply get(String path) throws IOException {
        return Http.exchange(server.port(), "GET", path, List.of("Accept: " + OCI), null);
    }
}
