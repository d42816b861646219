package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.Chromium;
import dev.layercache.server.testing.DashboardStats;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The dashboard page of a real node, in a real browser, under a scripted workload: every number
 * it shows equals the stats API's, and it updates itself as the workload goes on. Saves
 * screenshots to {@code target/screenshots/} as build artefacts.
 */
class DashboardTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Changes by the second without any traffic. */
    private static final Set<String> MOVING = Set.of("uptime_seconds");

    @RegisterExtension
    final TestServer server = new TestServer();

    @Test
    void thePageShowsWhatTheStatsApiSaysAndFollowsTheWorkload() throws Exception {
        Registry registry = new Registry(server.port());
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        BuildWorkload workload = new BuildWorkload(registry, channel);
        try (Chromium browser = Chromium.start()) {
            workload.builds("team/app", 3);
            workload.builds("infra/base", 1);
            server.server().metrics().refreshStore();

            browser.navigate("http://127.0.0.1:" + server.port() + "/ui/");
            browser.waitFor("Number(document.body.dataset.renders || 0) >= 1", Duration.ofSeconds(20));
            JsonNode first = assertPageMatchesApi(browser, registry);
            assertTrue(first.get("windows").get("5m").get("lookups").asLong() > 0, "the workload was counted");
            assertTrue(browser.uncaughtExceptions().isEmpty(), "page errors: " + browser.uncaughtExceptions());
            assertTrue(browser.evaluate("document.getElementById('mirror-card').hidden").asBoolean(),
                    "no Mirror section on a node that mirrors nothing");
            Path shot = browser.screenshot(Path.of("target", "screenshots", "dashboard-server.png"));
            assertTrue(Files.size(shot) > 10 * 1024, "a real picture of the page");

            // More builds while the page is open: it must show them without a reload.
            long before = first.get("windows").get("5m").get("lookups").asLong();
            workload.builds("team/app", 2);
            browser.waitFor("Number(document.querySelector('[data-stat=\"windows.5m.lookups\"]').dataset.value) > "
                    + before, Duration.ofSeconds(20));
            JsonNode later = assertPageMatchesApi(browser, registry);
            assertTrue(later.get("windows").get("5m").get("lookups").asLong() > before);
            browser.screenshot(Path.of("target", "screenshots", "dashboard-server-updated.png"));
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /**
     * Compares the page with a fresh answer of the API. A minute can turn between the page's
     * fetch and ours (the history shifts), so a mismatch is retried after the page's next update.
     */
    private static JsonNode assertPageMatchesApi(Chromium browser, Registry registry) throws Exception {
        List<String> wrong = List.of();
        for (int attempt = 0; attempt < 3; attempt++) {
            String renders = browser.evaluate("document.body.dataset.renders").asText();
            JsonNode stats = JSON.readTree(registry.get("/api/v1/stats").body());
            List<String[]> shown = DashboardStats.shownStats(browser);
            assertTrue(shown.size() >= 20, "the page tags its numbers (" + shown.size() + " found)");
            wrong = DashboardStats.mismatches(stats, shown, MOVING);
            if (wrong.isEmpty()) {
                return stats;
            }
            browser.waitFor("document.body.dataset.renders !== '" + renders + "'", Duration.ofSeconds(20));
        }
        throw new AssertionError("numbers on the page differ from /api/v1/stats:\n" + String.join("\n", wrong));
    }
}
