package dev.layercache.server.builds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.BuildahSteps;
import dev.layercache.server.testing.Chromium;
import dev.layercache.server.testing.DashboardStats;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Where build insight shows (issue 20, "Where it shows"): the dashboard page, in a real browser,
 * shows each builder's step-level reuse rate beside the lookup hit rate and the recent builds
 * with their root causes, escaped; {@code /metrics} lists the newest builds as
 * {@code layercache_build_recent} and drops the older ones. The builds come from reproduced
 * buildah traffic and a BuildKit cache push whose config cannot be read.
 */
class BuildsDashboardTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** An instruction is user data: markup in it must be shown as text, never run. */
    private static final String HOSTILE = "/bin/sh -c echo \"<script>window.injected = true</script><b>bold</b>\"";

    @RegisterExtension
    final TestServer server = new TestServer();

    @Test
    void thePageShowsEachBuildersStepRateAndTheRootCauseOfEachBuild() throws Exception {
        Registry registry = new Registry(server.port());
        String repo = "team/app-cache";
        String k1 = BuildahSteps.key("FROM base");
        String k2 = BuildahSteps.key("RUN echo two");
        String k3 = BuildahSteps.key("COPY . /app");
        String k2b = BuildahSteps.key("RUN echo two, changed");
        String k3b = BuildahSteps.key("COPY . /app after the change");
        // The first build finds nothing and pushes every step; the second reuses the first step,
        // misses on the changed RUN and pushes it and the COPY after it.
        assertEquals(404, BuildahSteps.lookup(registry, repo, k1));
        BuildahSteps.push(registry, repo, k1, "/bin/sh -c #(nop) FROM base");
        BuildahSteps.push(registry, repo, k2, "/bin/sh -c echo two");
        BuildahSteps.push(registry, repo, k3, "/bin/sh -c #(nop) COPY dir:1234 in /app");
        assertEquals(200, BuildahSteps.lookup(registry, repo, k1));
        assertEquals(404, BuildahSteps.lookup(registry, repo, k2b));
        BuildahSteps.push(registry, repo, k2b, HOSTILE);
        BuildahSteps.push(registry, repo, k3b, "/bin/sh -c #(nop) COPY dir:5678 in /app");
        String warning = pushUnreadableBuildKitCache("team/web", "buildcache");
        closeBuilds();

        JsonNode stats = JSON.readTree(registry.get("/api/v1/stats").body());
        JsonNode builds = stats.path("builds");
        assertEquals(1.0 / 6, builds.path("steps").path("buildah").path("reuse_rate").asDouble(), 1e-9, builds.toString());
        assertTrue(builds.path("steps").path("buildkit").path("reuse_rate").isNull(), "no BuildKit step counted");
        assertEquals(3, builds.path("recent").size(), builds.toString());

        try (Chromium browser = Chromium.start()) {
            browser.navigate("http://127.0.0.1:" + server.port() + "/ui/");
            browser.waitFor("document.querySelectorAll('#builds tbody tr').length === 3", Duration.ofSeconds(20));

            // The tiles: buildah reused 1 of 6 steps; BuildKit had a build but no step to count.
            assertEquals("0.16666666666666666", attribute(browser, "builds.steps.buildah.reuse_rate", "value"));
            assertEquals("16.7%", text(browser, "[data-stat=\"builds.steps.buildah.reuse_rate\"]"));
            String buildahTile = text(browser, ".tile:has([data-stat=\"builds.steps.buildah.reuse_rate\"])");
            assertTrue(buildahTile.contains("buildah steps reused") && buildahTile.contains("1 of 6 steps reused"),
                    buildahTile);
            assertEquals("null", attribute(browser, "builds.steps.buildkit.reuse_rate", "value"));
            String buildkitTile = text(browser, ".tile:has([data-stat=\"builds.steps.buildkit.reuse_rate\"])");
            assertTrue(buildkitTile.contains("BuildKit steps reused") && buildkitTile.contains("no steps counted yet"),
                    buildkitTile);
            assertTrue(browser.evaluate("Array.from(document.querySelectorAll('#tiles .tile-label'),"
                    + " e => e.textContent).join('|')").asText().matches("Hit rate · 5 min\\|Hit rate · 1 h\\|"
                    + "Hit rate · 24 h\\|BuildKit steps reused\\|buildah steps reused\\|.*"),
                    "the builders' tiles come right after the lookup hit rate");

            // The second buildah build: its root cause is the changed RUN, shown as text.
            int second = indexOf(builds.path("recent"), b -> b.path("reused").asInt() == 1);
            String row = "#builds tbody tr[data-build=\"" + second + "\"]";
            assertEquals(HOSTILE, text(browser, row + " .instruction"));
            assertEquals(0, browser.evaluate("document.querySelector('" + row + " .instruction').children.length")
                    .asInt(), "the instruction's markup is text, not elements");
            assertEquals(0, browser.evaluate("document.querySelectorAll('#builds script, #builds b').length").asInt());
            assertTrue(browser.evaluate("window.injected === undefined").asBoolean(), "the script never ran");
            String rowText = text(browser, row);
            assertTrue(rowText.contains("buildah") && rowText.contains(repo + ":" + k3b.substring(0, 12) + "…"), rowText);
            assertTrue(rowText.contains("first step rebuilt"), rowText);
            assertTrue(rowText.contains("1 more rebuilt because of it"), rowText);
            assertEquals("none", text(browser, row + " td:last-child"));

            // The BuildKit push: no step, its warning marked on its row.
            int unreadable = indexOf(builds.path("recent"), b -> b.path("builder").asText().equals("buildkit"));
            String warned = "#builds tbody tr[data-build=\"" + unreadable + "\"]";
            assertTrue(browser.evaluate("document.querySelector('" + warned + "').classList.contains('build-warned')")
                    .asBoolean());
            String shownWarning = text(browser, warned + " .build-warning");
            assertTrue(shownWarning.startsWith("⚠") && shownWarning.contains(warning), shownWarning + " / " + warning);
            assertTrue(text(browser, warned).contains("team/web:buildcache"));
            assertTrue(text(browser, warned).contains("the cache could not be read"));

            DashboardStats.assertShownMatch(JSON.readTree(registry.get("/api/v1/stats").body()),
                    DashboardStats.shownStats(browser).stream().filter(s -> !s[0].equals("uptime_seconds")).toList());
            assertTrue(browser.uncaughtExceptions().isEmpty(), "page errors: " + browser.uncaughtExceptions());
            browser.screenshot(Path.of("target", "screenshots", "dashboard-builds-tiles.png"));
            browser.evaluate("document.getElementById('builds-title').scrollIntoView(), true");
            browser.screenshot(Path.of("target", "screenshots", "dashboard-builds.png"));
        }
    }

    @Test
    void metricsListTheNewestTwentyBuildsAndDropTheOlderOnes() throws Exception {
        Registry registry = new Registry(server.port());
        // The repositories exist (a push went through each: builds are written only there, and
        // their namespace has its label); then 22 one-step buildah builds, one per repository, a
        // few milliseconds apart: each is its own build, and their times order them.
        for (int i = 0; i < 22; i++) {
            assertEquals(201, registry.pushBlob(repo(i), ("seed " + i).getBytes(StandardCharsets.UTF_8)));
        }
        for (int i = 0; i < 22; i++) {
            assertEquals(404, BuildahSteps.lookup(registry, repo(i), BuildahSteps.key("step of " + i)));
            Thread.sleep(5);
        }
        // All 22 close in one tick: their records have a queue of their own, longer than the analyses'.
        closeBuilds();

        PrometheusText metrics = new PrometheusText(new String(registry.get("/metrics").body(), StandardCharsets.UTF_8));
        Set<String> shown = metrics.samples().stream().filter(s -> s.name().equals("layercache_build_recent"))
                .map(s -> s.labels().get("repository")).collect(Collectors.toCollection(TreeSet::new));
        Set<String> newest = new TreeSet<>();
        for (int i = 2; i < 22; i++) {
            newest.add(repo(i));
        }
        assertEquals(newest, shown, "the newest 20 builds, the two oldest dropped");

        JsonNode last = JSON.readTree(registry.get("/api/v1/builds?repository=" + repo(21)).body()).path("builds").get(0);
        PrometheusText.Sample sample = metrics.samples().stream()
                .filter(s -> s.name().equals("layercache_build_recent") && s.labels().get("repository").equals(repo(21)))
                .findFirst().orElseThrow();
        assertEquals(Instant.parse(last.path("at").asText()).toEpochMilli() / 1000.0, sample.value(), 1e-3,
                "valued at the build's time, in seconds");
        assertEquals("buildah", sample.labels().get("builder"));
        assertEquals("team", sample.labels().get("namespace"));
        assertEquals(last.path("reference").asText(), sample.labels().get("reference"));
        assertEquals("grouped", sample.labels().get("status"));
        assertEquals(last.path("root_cause").path("instruction").asText(), sample.labels().get("root_cause"));
        assertEquals("first_rebuilt", sample.labels().get("reason"));
    }

    private static String repo(int i) {
        return String.format("team/r%02d", i);
    }

    /** Ends the open buildah builds (they end after 2 quiet minutes) and waits for every record. */
    private void closeBuilds() throws InterruptedException {
        BuildInsight builds = server.server().builds();
        builds.closeIdle(Instant.now().plus(Duration.ofMinutes(3)));
        builds.awaitIdle();
    }

    /**
     * A BuildKit registry cache (the image-manifest shape) whose cache config is not JSON: the push
     * succeeds, with the warning that BuildKit could not import it. Returns the warning's text.
     */
    private String pushUnreadableBuildKitCache(String repo, String tag) throws Exception {
        Registry registry = new Registry(server.port());
        byte[] config = "{\"layers\": [".getBytes(StandardCharsets.UTF_8);
        assertEquals(201, registry.pushBlob(repo, config));
        String manifest = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                + "\"config\":{\"mediaType\":\"application/vnd.buildkit.cacheconfig.v0\",\"digest\":\""
                + Registry.sha256(config) + "\",\"size\":" + config.length + "},\"layers\":[]}";
        Http.Reply pushed = Http.exchange(server.port(), "PUT", "/v2/" + repo + "/manifests/" + tag,
                List.of("Content-Type: application/vnd.oci.image.manifest.v1+json"),
                manifest.getBytes(StandardCharsets.UTF_8));
        assertEquals(201, pushed.status(), pushed.text());
        closeBuilds();
        JsonNode build = JSON.readTree(registry.get("/api/v1/builds?repository=" + repo).body()).path("builds").get(0);
        assertEquals("unparsable", build.path("status").asText(), build.toString());
        assertFalse(build.path("warnings").isEmpty(), build.toString());
        return build.path("warnings").get(0).asText();
    }

    private static int indexOf(JsonNode array, java.util.function.Predicate<JsonNode> test) {
        for (int i = 0; i < array.size(); i++) {
            if (test.test(array.get(i))) {
                return i;
            }
        }
        throw new AssertionError("no such element in " + array);
    }

    private static String text(Chromium browser, String selector) {
        return browser.evaluate("document.querySelector(" + quote(selector) + ").textContent").asText();
    }

    private static String attribute(Chromium browser, String stat, String data) {
        return browser.evaluate("document.querySelector('[data-stat=\"" + stat + "\"]').dataset." + data).asText();
    }

    private static String quote(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
