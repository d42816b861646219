package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.FindMissingBlobsRequest;
import dev.layercache.server.deploy.DeployQueries;
import dev.layercache.server.testing.BuildahSteps;
import dev.layercache.server.testing.PrometheusProcess;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real Prometheus (Debian's) scrapes a real node, with the alert rules of {@code deploy/},
 * while a scripted build workload runs. Then every PromQL expression of the Grafana dashboard
 * and of the alert rules is evaluated through Prometheus' HTTP API: each must return data, and
 * the hit rate Prometheus computes must equal the one the workload saw.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PrometheusTest {
    private static final int BUILDAH_STEPS = 12;

    /** A node with a disk budget of 1 GiB, so that the budget's panel and alert have data. */
    @RegisterExtension
    final TestServer server = new TestServer(c -> c.withLifecycle(
            c.lifecycle().withMaxDisk(dev.layercache.server.config.ServerConfig.DiskShare.ofBytes(1L << 30))));

    @TempDir
    Path dir;

    @Test
    void dashboardAndAlertQueriesReturnDataAndTheHitRateMatchesTheWorkload() throws Exception {
        Path prometheus = RealTools.require("prometheus", "the metrics test scrapes the server with it");
        PrometheusProcess prom = PrometheusProcess.start(prometheus, dir,
                DeployQueries.repoRoot().resolve(DeployQueries.ALERTS), List.of("127.0.0.1:" + server.port()));
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        try {
            // rate() needs samples from before the workload: wait for the first scrape of the idle node.
            awaitScraped(prom, "sum(layercache_lookups_total)", 0);

            // Builds spread over several scrape intervals, as a CI fleet's would be.
            BuildWorkload workload = new BuildWorkload(new Registry(server.port()), channel);
            for (int round = 0; round < 3; round++) {
                workload.builds("team/app", 1);
                workload.builds("infra/base", 1);
                Thread.sleep(1200);
            }
            int buildahHits = buildahBuilds(new Registry(server.port()));
            otherTraffic(new Registry(server.port()), server.port(), channel);
            System.gc(); // so that the GC pause metric exists whatever the test JVM did before
            server.server().metrics().refreshStore();
            // The workload's own tally, plus the buildah builds' step lookups (the first a miss, the
            // rest hits) and otherTraffic's lookup: a blob GET (hit). The blob HEADs of the
            // workload's pushes and the two digests asked of FindMissingBlobs are existence
            // checks, in no hit rate.
            long lookups = workload.hits() + workload.misses() + buildahHits + 1 + 1;
            long hits = workload.hits() + buildahHits + 1;
            awaitScraped(prom, "sum(layercache_lookups_total)", lookups);
            awaitScraped(prom, "sum(layercache_build_steps_total)", 2 * BUILDAH_STEPS);
            awaitScraped(prom, "sum(layercache_existence_checks_total)", workload.existenceChecks() + 2);
            Thread.sleep(2500); // a few more scrapes, so rate() has samples after the workload too

            List<String> failures = new ArrayList<>();
            for (DeployQueries.Query q : DeployQueries.all()) {
                if (DeployQueries.clusterOnly(q) || DeployQueries.mirrorOnly(q)) {
                    // no bucket, no bucket metrics; no mirror, no mirror metrics:
                    // ClusterPrometheusTest and MirrorPrometheusTest evaluate these
                    continue;
                }
                String expr = q.source().contains("alert") ? valueOf(q.expr()) : q.expr();
                JsonNode result = prom.query(expr);
                if (!"success".equals(result.path("status").asText())) {
                    failures.add(q.source() + ": " + result);
                } else if (result.path("data").path("result").isEmpty()) {
                    failures.add(q.source() + " returned no data: " + expr);
                }
                if (q.source().contains("alert")) {
                    JsonNode full = prom.query(q.expr());
                    if (!"success".equals(full.path("status").asText())) {
                        failures.add(q.source() + " (with its threshold): " + full);
                    }
                }
            }
            assertTrue(failures.isEmpty(), String.join("\n", failures));

            double expected = hits / (double) lookups;
            DeployQueries.Query hitRate = DeployQueries.all().stream()
                    .filter(q -> q.source().contains("\"Hit rate\"")).findFirst().orElseThrow();
            assertEquals(expected, single(prom.query(hitRate.expr())), 1e-9,
                    "the dashboard's hit rate, as Prometheus computes it");
            assertEquals(expected, single(prom.query(
                    "sum(layercache_lookups_total{result=\"hit\"}) / sum(layercache_lookups_total)")), 1e-12);

            // The build panels: one builder had steps, and its two builds are rows of the table.
            JsonNode stepRate = prom.query(dashboardQuery("\"Build steps reused by builder\"").expr());
            assertEquals(1, stepRate.path("data").path("result").size(), stepRate.toString());
            assertEquals("buildah", stepRate.path("data").path("result").get(0).path("metric").path("builder").asText());
            JsonNode recent = prom.query(dashboardQuery("\"Recent builds\"").expr()).path("data").path("result");
            assertEquals(2, recent.size(), recent.toString());
            for (JsonNode row : recent) {
                assertEquals("team/app-cache", row.path("metric").path("repository").asText(), row.toString());
                assertEquals("team", row.path("metric").path("namespace").asText(), row.toString());
            }

            JsonNode rules = prom.get("/api/v1/rules");
            int evaluated = 0;
            for (JsonNode group : rules.path("data").path("groups")) {
                for (JsonNode rule : group.path("rules")) {
                    assertEquals("ok", rule.path("health").asText(), rule.path("name") + ": " + rule.path("lastError"));
                    evaluated++;
                }
            }
            assertEquals(DeployQueries.ruleQueries(DeployQueries.repoRoot().resolve(DeployQueries.ALERTS)).size(),
                    evaluated, "every alert rule was loaded and evaluated");
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            prom.close();
        }
    }

    private static DeployQueries.Query dashboardQuery(String title) {
        return DeployQueries.all().stream().filter(q -> q.source().contains(title)).findFirst().orElseThrow();
    }

    /**
     * Two buildah builds of {@link #BUILDAH_STEPS} steps in {@code team/app-cache}, reproduced
     * request by request: the first misses its first step and pushes every step, the second finds
     * them all. Enough steps for the step-level alert's floor of 20. Returns the lookups that hit.
     */
    private int buildahBuilds(Registry registry) throws Exception {
        String repo = "team/app-cache";
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < BUILDAH_STEPS; i++) {
            keys.add(BuildahSteps.key("step " + i));
        }
        assertEquals(404, BuildahSteps.lookup(registry, repo, keys.get(0)));
        for (int i = 0; i < BUILDAH_STEPS; i++) {
            BuildahSteps.push(registry, repo, keys.get(i), "/bin/sh -c echo step " + i);
        }
        for (String key : keys) {
            assertEquals(200, BuildahSteps.lookup(registry, repo, key));
        }
        server.server().builds().closeIdle(java.time.Instant.now().plus(java.time.Duration.ofMinutes(3)));
        server.server().builds().awaitIdle();
        return BUILDAH_STEPS;
    }

    /**
     * An alert's value: the left side of its last top-level comparison ({@code x > 0.2} gives
     * {@code x}). The condition itself is empty while the alert does not fire, and a comparison
     * with yesterday ({@code offset 1d}) has no data in a test, but the value must.
     */
    static String valueOf(String alert) {
        int depth = 0;
        int cut = -1;
        boolean quoted = false;
        for (int i = 0; i < alert.length(); i++) {
            char c = alert.charAt(i);
            if (quoted) {
                if (c == '\\') {
                    i++;
                } else if (c == '"') {
                    quoted = false;
                }
            } else if (c == '"') {
                quoted = true;
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                depth--;
            } else if (depth == 0 && (c == '<' || c == '>'
                    || ((c == '=' || c == '!') && i + 1 < alert.length() && alert.charAt(i + 1) == '='))) {
                cut = i;
                if (i + 1 < alert.length() && alert.charAt(i + 1) == '=') {
                    i++;
                }
            }
        }
        return cut < 0 ? alert : alert.substring(0, cut).strip();
    }

    /** Traffic beyond lookups, so that every panel has something: bytes, uploads of each outcome. */
    private static void otherTraffic(Registry registry, int port, ManagedChannel channel) throws Exception {
        byte[] blob = "a layer pulled back".getBytes(StandardCharsets.UTF_8);
        String digest = Registry.sha256(blob);
        assertEquals(201, registry.pushBlob("team/app", blob));
        assertEquals(200, registry.get("/v2/team/app/blobs/" + digest).statusCode());
        assertEquals(400, registry.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                + "/v2/team/app/blobs/uploads/?digest=" + digest)).POST(HttpRequest.BodyPublishers.ofString("x")))
                .statusCode());
        BlobsGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS).findMissingBlobs(
                FindMissingBlobsRequest.newBuilder().setNamespace("team/app").addDigests(digest)
                        .addDigests(Registry.sha256("absent".getBytes(StandardCharsets.UTF_8))).build());
    }

    /** Waits until {@code expr} (one sample) is exactly {@code value}: the scrape has seen the whole workload. */
    private static void awaitScraped(PrometheusProcess prom, String expr, double value) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        double last = Double.NaN;
        while (System.nanoTime() < deadline) {
            JsonNode r = prom.query(expr);
            if (!r.path("data").path("result").isEmpty()) {
                last = single(r);
                if (last == value) {
                    return;
                }
            }
            Thread.sleep(250);
        }
        throw new AssertionError(expr + " is " + last + " in Prometheus, not " + value);
    }

    /** The value of a query whose result is one sample. */
    private static double single(JsonNode result) {
        JsonNode samples = result.path("data").path("result");
        assertEquals(1, samples.size(), "one sample expected: " + result);
        return Double.parseDouble(samples.get(0).path("value").get(1).asText());
    }
}
