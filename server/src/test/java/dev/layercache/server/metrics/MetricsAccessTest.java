package dev.layercache.server.metrics;

import static dev.layercache.server.metrics.MetricsEndToEndTest.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.GetEntryRequest;
import dev.layercache.api.v1.PutEntryRequest;
import dev.layercache.api.v1.StepIdentity;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 18: an identity sees in {@code /metrics} and {@code /api/v1/stats} (and so on the page
 * built from it) only the namespaces it may read; the scrape identity, which may read every
 * namespace, sees them all. Node-wide figures stay for everyone let in (docs/metrics.md, "Who
 * sees which namespaces"). Real HTTP requests to a node with the rules of {@link Tenants}.
 */
class MetricsAccessTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static final TestServer server = new TestServer(c -> c.withAuth(Tenants.auth()));

    private static ManagedChannel channel;

    /** The namespaces each identity must see; everything else must stay hidden from it. */
    private static final Map<String, Set<String>> SEES = Map.of(
            "prometheus", Set.of("team", "alice", "secret"),
            "ops", Set.of("team", "alice", "secret"),
            "ci-main", Set.of("team"),
            "ci-pr", Set.of("team"),
            "alice", Set.of("alice"),
            // May read team/app only: the label "team" also counts team/web, so it stays hidden.
            "viewer", Set.of());

    @BeforeAll
    static void workload() throws Throwable {
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        int port = server.port();
        for (String repo : new String[] {"team/app", "team/web", "alice/app", "secret/app"}) {
            byte[] blob = ("layer of " + repo).getBytes(StandardCharsets.UTF_8);
            String digest = Registry.sha256(blob);
            assertEquals(201, Tenants.http(port, "ops", "POST", "/v2/" + repo + "/blobs/uploads/?digest=" + digest,
                    blob).status());
            assertEquals(200, Tenants.http(port, "ops", "GET", "/v2/" + repo + "/blobs/" + digest, null).status());
            assertEquals(200, Tenants.http(port, "ops", "HEAD", "/v2/" + repo + "/blobs/" + digest, null).status());
            // A root cause per repository: the same step looked up with other inputs.
            String parent = Registry.sha256(("parent " + repo).getBytes(StandardCharsets.UTF_8));
            StepIdentity step = StepIdentity.newBuilder().setStepId(repo + "#2").setParentKey(parent).build();
            Tenants.entries(channel, "ops").putEntry(PutEntryRequest.newBuilder().setNamespace(repo)
                    .setEntry(Entry.newBuilder().setKey(Registry.sha256(("k1 " + repo).getBytes(StandardCharsets.UTF_8)))
                            .setStep(step)).build());
            assertThrows(StatusRuntimeException.class, () -> Tenants.entries(channel, "ops").getEntry(
                    GetEntryRequest.newBuilder().setNamespace(repo).setStep(step)
                            .setKey(Registry.sha256(("k2 " + repo).getBytes(StandardCharsets.UTF_8))).build()));
        }
        eventually(() -> assertEquals(SEES.get("ops"), namespacesInMetrics("ops")));
    }

    @AfterAll
    static void disconnect() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void eachIdentitySeesOnlyTheNamespacesItMayReadInMetrics() throws Exception {
        for (Map.Entry<String, Set<String>> who : SEES.entrySet()) {
            assertEquals(who.getValue(), namespacesInMetrics(who.getKey()), who.getKey());
        }
        // In OpenMetrics too (what Prometheus asks for).
        Http.Reply open = Tenants.http(server.port(), "ci-pr", "GET", "/metrics", null,
                "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5");
        assertTrue(open.header("Content-Type").startsWith("application/openmetrics-text"));
        assertTrue(open.text().trim().endsWith("# EOF"));
        assertEquals(Set.of("team"), Tenants.labelValues(new PrometheusText(open.text()),
                "layercache_namespace_lookups_total", "namespace"));
        assertEquals(Set.of("team"), Tenants.labelValues(new PrometheusText(open.text()),
                "layercache_namespace_existence_checks_total", "namespace"));
        assertEquals(Set.of("team", "alice", "secret"), Tenants.labelValues(Tenants.scrape(server.port(), "prometheus"),
                "layercache_namespace_existence_checks_total", "namespace"));
    }

    @Test
    void eachIdentitySeesOnlyTheNamespacesItMayReadInStats() throws Exception {
        for (Map.Entry<String, Set<String>> who : SEES.entrySet()) {
            JsonNode stats = stats(who.getKey());
            Set<String> listed = new TreeSet<>();
            stats.get("namespaces").forEach(n -> listed.add(n.get("namespace").asText()));
            assertEquals(new TreeSet<>(who.getValue()), listed, who.getKey() + ": namespaces");
            Set<String> causes = new TreeSet<>();
            stats.get("root_causes").forEach(c -> causes.add(c.get("namespace").asText()));
            Set<String> readable = new TreeSet<>();
            for (String repo : new String[] {"team/app", "team/web", "alice/app", "secret/app"}) {
                if (who.getValue().contains(repo.substring(0, repo.indexOf('/')))
                        || (who.getKey().equals("viewer") && repo.equals("team/app"))) {
                    readable.add(repo);
                }
            }
            assertEquals(readable, causes, who.getKey() + ": root causes name only repositories it may read");
        }
    }

    @Test
    void nodeWideFiguresStayForEveryoneLetIn() throws Exception {
        PrometheusText all = Tenants.scrape(server.port(), "prometheus");
        PrometheusText team = Tenants.scrape(server.port(), "ci-pr");
        assertEquals(all.value("layercache_lookups_total"), team.value("layercache_lookups_total"));
        assertTrue(team.value("layercache_lookups_total") >= 8, "4 blob hits and 4 entry misses of the workload");
        assertEquals(4, team.value("layercache_existence_checks_total", "result", "hit"), "the 4 blob HEADs");
        assertEquals(all.value("layercache_existence_checks_total"), team.value("layercache_existence_checks_total"));
        assertTrue(team.has("layercache_store_bytes") && team.has("jvm_memory_used_bytes"));
        assertEquals(stats("prometheus").get("windows").get("24h").get("lookups"),
                stats("ci-pr").get("windows").get("24h").get("lookups"));
        assertEquals(stats("prometheus").get("store"), stats("ci-pr").get("store"));
        // Still: the metrics pages need an identity some rule names.
        assertEquals(401, Tenants.http(server.port(), null, "GET", "/metrics", null).status());
        assertEquals(401, Tenants.http(server.port(), null, "GET", "/api/v1/stats", null).status());
    }

    private static Set<String> namespacesInMetrics(String identity) throws Exception {
        return Tenants.labelValues(Tenants.scrape(server.port(), identity), "layercache_namespace_lookups_total",
                "namespace");
    }

    private static JsonNode stats(String identity) throws Exception {
        Http.Reply r = Tenants.http(server.port(), identity, "GET", "/api/v1/stats", null);
        assertEquals(200, r.status(), identity + ": " + r.text());
        return JSON.readTree(r.body());
    }
}
