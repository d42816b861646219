package dev.layercache.server.buildkit;

import static dev.layercache.server.builds.BuildKitExport.key;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.manifest.BuildKitCache;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What the server tells of a standalone BuildKit's registry cache ({@code --cache-to
 * type=registry,mode=min|max}, both shapes), over HTTP: exports reproduced with real layer blobs
 * ({@link RealExport}) are pushed as BuildKit's pusher pushes them, several in a row under one
 * ref, and {@code GET /api/v1/builds}, {@code /metrics} and {@code /api/v1/stats} must say which
 * steps each build reused, which it rebuilt and why.
 *
 * <p>The build is {@link TwoStageBuild}: 8 steps in {@code mode=max}, 7 in {@code mode=min}.
 */
class BuildKitExportInsightTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String COPY_APP = TwoStageBuild.COPY_APP;
    private static final String TEST = TwoStageBuild.TEST;
    private static final String COPY_FROM = TwoStageBuild.COPY_FROM;
    private static final String FROM = TwoStageBuild.FROM;

    @RegisterExtension
    static final TestServer server = new TestServer();

    static List<Arguments> modesAndShapes() {
        List<Arguments> out = new ArrayList<>();
        for (boolean max : new boolean[] {true, false}) {
            for (BuildKitCache.Shape shape : BuildKitCache.Shape.values()) {
                out.add(Arguments.of(max, shape));
            }
        }
        return out;
    }

    @ParameterizedTest(name = "mode={0}, shape={1}")
    @MethodSource("modesAndShapes")
    void exportsInARowNameTheirRootCauses(boolean max, BuildKitCache.Shape shape) throws Exception {
        String repo = "buildkit/" + (max ? "max" : "min") + "-" + shape.name().toLowerCase().replace('_', '-');
        String shapeLabel = shape == BuildKitCache.Shape.INDEX ? "index" : "image_manifest";
        int steps = max ? 8 : 7;
        Totals before = totals();

        // 1. The first export of the ref: nothing to compare with, every step built.
        RealExport first = RealExport.of(TwoStageBuild.export(max, "v1", "make"), shape);
        JsonNode b = pushAndRecord(first, repo, 1);
        assertEquals("first_export", b.path("status").asText(), b.toString());
        assertEquals(steps, b.path("steps").asInt());
        assertEquals(steps, b.path("rebuilt").asInt());
        assertEquals(0, b.path("reused").asInt());
        assertTrue(b.path("root_cause").isNull());
        assertEquals(shapeLabel, b.path("shape").asText());
        assertEquals(first.manifestDigest(), b.path("manifest").asText());
        assertEquals("buildkit", b.path("builder").asText());
        assertEquals(repo, b.path("repository").asText());
        assertEquals("buildcache", b.path("reference").asText());
        assertTrue(b.path("step_list").findValuesAsText("cause").stream().allMatch("first_export"::equals));

        // 2. The same build again (a new session, the same files): every step reused.
        RealExport again = RealExport.of(TwoStageBuild.export(max, "v1", "make"), shape);
        assertEquals(first.layerDigests(), again.layerDigests(), "every layer is pushed again as it was");
        assertTrue(!first.configDigest().equals(again.configDigest()), "the cache config names the new session");
        b = pushAndRecord(again, repo, 2);
        assertEquals("compared", b.path("status").asText(), b.toString());
        assertEquals(steps, b.path("steps").asInt());
        assertEquals(steps, b.path("reused").asInt());
        assertEquals(0, b.path("rebuilt").asInt());
        assertTrue(b.path("root_cause").isNull(), b.toString());
        for (JsonNode s : b.path("step_list")) {
            assertEquals("reused", s.path("outcome").asText(), s.toString());
            assertEquals("none", s.path("cause").asText(), s.toString());
        }

        // 3. app.txt changed: the COPY that reads it is the root cause; the three steps after it cascade.
        b = pushAndRecord(RealExport.of(TwoStageBuild.export(max, "v2", "make"), shape), repo, 3);
        assertEquals("compared", b.path("status").asText(), b.toString());
        JsonNode root = b.path("root_cause");
        assertEquals(COPY_APP, root.path("instruction").asText(), b.toString());
        assertEquals("content", root.path("reason").asText());
        assertEquals(3, root.path("cascade").asInt());
        assertEquals(key("file copy app.txt /app/"), root.path("key").asText());
        assertEquals(steps - 4, b.path("reused").asInt());
        assertEquals(4, b.path("rebuilt").asInt());
        Map<String, String> list = stepList(b);
        assertEquals("reused none", list.get(FROM));
        assertEquals("rebuilt root_cause", list.get(COPY_APP));
        assertEquals("rebuilt cascade", list.get("[stage-1 3/5] RUN make"));
        assertEquals("rebuilt cascade", list.get(COPY_FROM));
        assertEquals("rebuilt cascade", list.get(TEST));
        assertEquals(steps, list.size());
        if (max) {
            assertEquals("reused none", list.get("[builder 2/3] COPY main.go ."),
                    "the builder stage is named in mode=max");
        }
        assertEquals(steps - 4, list.values().stream().filter("reused none"::equals).count(),
                "the builder stage's steps are reused too");

        // 4. RUN make became RUN make all: its instruction changed; the two steps after it cascade.
        b = pushAndRecord(RealExport.of(TwoStageBuild.export(max, "v2", "make all"), shape), repo, 4);
        root = b.path("root_cause");
        assertEquals("[stage-1 3/5] RUN make all", root.path("instruction").asText(), b.toString());
        assertEquals("instruction", root.path("reason").asText());
        assertEquals(2, root.path("cascade").asInt());
        assertEquals(key("exec make all"), root.path("key").asText());
        assertEquals(steps - 3, b.path("reused").asInt());
        assertEquals(3, b.path("rebuilt").asInt());
        list = stepList(b);
        assertEquals("reused none", list.get(COPY_APP));
        assertEquals("rebuilt root_cause", list.get("[stage-1 3/5] RUN make all"));
        assertEquals("rebuilt cascade", list.get(TEST));

        // The list: newest first, limited on request.
        JsonNode all = get("/api/v1/builds?repository=" + repo);
        assertEquals(repo, all.path("repository").asText());
        List<String> statuses = all.path("builds").findValuesAsText("status");
        assertEquals(List.of("compared", "compared", "compared", "first_export"), statuses);
        Instant previous = Instant.MAX;
        for (JsonNode r : all.path("builds")) {
            Instant at = Instant.parse(r.path("at").asText());
            assertTrue(at.isBefore(previous), "newest first: " + all);
            previous = at;
            assertEquals(List.of(), JSON.convertValue(r.path("warnings"), List.class), "a clean cache");
        }
        JsonNode two = get("/api/v1/builds?repository=" + repo + "&limit=2");
        assertEquals(2, two.path("builds").size());
        assertEquals(all.path("builds").get(0), two.path("builds").get(0));
        assertEquals(all.path("builds").get(1), two.path("builds").get(1));

        // The metrics and the stats count the steps of these four builds.
        int reused = 0 + steps + (steps - 4) + (steps - 3);
        int rebuilt = steps + 0 + 4 + 3;
        Totals after = awaitTotals(before, reused, rebuilt);
        assertEquals(reused, after.reused - before.reused);
        assertEquals(rebuilt, after.rebuilt - before.rebuilt);
        assertEquals(3, after.compared - before.compared);
        assertEquals(1, after.firstExports - before.firstExports);
        assertEquals(reused, after.statsReused - before.statsReused);
        assertEquals(rebuilt, after.statsRebuilt - before.statsRebuilt);
        JsonNode stats = get("/api/v1/stats").path("builds");
        JsonNode buildkit = stats.path("steps").path("buildkit");
        assertEquals((double) after.statsReused / (after.statsReused + after.statsRebuilt),
                buildkit.path("reuse_rate").asDouble(), 1e-9);
        assertEquals(all.path("builds").get(0), stats.path("recent").get(0), "the newest build, the same record");
        assertTrue(stats.path("recent").size() <= 10);
    }

    @Test
    void theListAnswers400ForAMissingOrInvalidRepositoryOrLimit() throws Exception {
        for (String query : List.of("", "?repository=", "?limit=3", "?repository=Not%20A%20Name",
                "?repository=UPPER/case", "?repository=a//b")) {
            Http.Reply r = Http.exchange(server.port(), "GET", "/api/v1/builds" + query, List.of(), null);
            assertEquals(400, r.status(), query + ": " + r.text());
            assertEquals("NAME_INVALID", JSON.readTree(r.body()).path("errors").get(0).path("code").asText(), r.text());
        }
        for (String limit : List.of("0", "-1", "abc", "101", "99999999999", "")) {
            Http.Reply r = Http.exchange(server.port(), "GET", "/api/v1/builds?repository=buildkit/any&limit=" + limit,
                    List.of(), null);
            assertEquals(400, r.status(), limit + ": " + r.text());
            assertEquals("PAGINATION_NUMBER_INVALID",
                    JSON.readTree(r.body()).path("errors").get(0).path("code").asText());
        }
        JsonNode none = get("/api/v1/builds?repository=buildkit/never-pushed&limit=100");
        assertEquals(0, none.path("builds").size(), "a repository without builds lists none");
    }

    /**
     * The list needs {@code read} on the repository, and the stats list only builds of
     * repositories the caller may read.
     */
    @Test
    void buildsAreReadOnlyByWhoMayReadTheRepository(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("tokens"), String.join("\n",
                "ci sha256:" + dev.layercache.server.auth.Credentials.sha256("ci-token"),
                "other sha256:" + dev.layercache.server.auth.Credentials.sha256("other-token"), ""));
        Files.writeString(dir.resolve("rules.yaml"), String.join("\n",
                "rules:",
                "  - identity: ci",
                "    namespaces: [\"team/*\"]",
                "    actions: [read, write]",
                "  - identity: other",
                "    namespaces: [\"other/*\"]",
                "    actions: [read, write]", ""));
        TestServer secured = new TestServer(c -> c.withAuth(new ServerConfig.Auth(null, dir.resolve("tokens"),
                dir.resolve("rules.yaml"), false, "")));
        secured.start();
        try {
            List<String> ci = List.of("Authorization: Bearer ci-token");
            List<String> other = List.of("Authorization: Bearer other-token");
            Http.Reply pushed = RealExport.of(TwoStageBuild.export(true, "v1", "make"), BuildKitCache.Shape.INDEX)
                    .push(secured.port(), "team/app", "buildcache", Set.of(), ci);
            assertEquals(201, pushed.status(), pushed.text());

            String path = "/api/v1/builds?repository=team/app";
            JsonNode builds = null;
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (builds == null || builds.path("builds").isEmpty()) {
                assertTrue(System.nanoTime() < deadline, "no build recorded");
                Http.Reply r = Http.exchange(secured.port(), "GET", path, ci, null);
                assertEquals(200, r.status(), r.text());
                builds = JSON.readTree(r.body());
                Thread.sleep(20);
            }
            assertEquals("ci", builds.path("builds").get(0).path("who").asText(), "who pushed it");
            assertEquals(401, Http.exchange(secured.port(), "GET", path, List.of(), null).status());
            assertEquals(403, Http.exchange(secured.port(), "GET", path, other, null).status());

            Http.Reply stats = Http.exchange(secured.port(), "GET", "/api/v1/stats", ci, null);
            assertEquals(200, stats.status(), stats.text());
            assertEquals("team/app", JSON.readTree(stats.body()).path("builds").path("recent").get(0)
                    .path("repository").asText());
            Http.Reply notTheirs = Http.exchange(secured.port(), "GET", "/api/v1/stats", other, null);
            assertEquals(200, notTheirs.status(), notTheirs.text());
            assertEquals(0, JSON.readTree(notTheirs.body()).path("builds").path("recent").size(),
                    "no build of a repository the caller may not read");
        } finally {
            secured.stop();
        }
    }

    // ------------------------------------------------------------------ helpers

    /** Pushes {@code export} under {@code buildcache} and waits for {@code repo}'s {@code count}-th build record. */
    private static JsonNode pushAndRecord(RealExport export, String repo, int count) throws Exception {
        Http.Reply pushed = export.push(server.port(), repo, "buildcache");
        assertEquals(201, pushed.status(), pushed.text());
        assertEquals(export.manifestDigest(), pushed.header("Docker-Content-Digest"));
        assertNull(pushed.header("Warning"), "a clean cache raises no warning");
        return BuildsApi.awaitBuild(server.port(), repo, count);
    }

    private static Map<String, String> stepList(JsonNode build) {
        Map<String, String> out = new HashMap<>();
        for (JsonNode s : build.path("step_list")) {
            String was = out.put(s.path("name").asText(), s.path("outcome").asText() + " " + s.path("cause").asText());
            assertNull(was, "step names are distinct: " + build);
        }
        return out;
    }

    private static JsonNode get(String path) throws IOException {
        Http.Reply r = Http.exchange(server.port(), "GET", path, List.of(), null);
        assertEquals(200, r.status(), path + ": " + r.text());
        return JSON.readTree(r.body());
    }

    /** BuildKit's counts in {@code /metrics} and {@code /api/v1/stats}. */
    private record Totals(long reused, long rebuilt, long compared, long firstExports, long statsReused,
                          long statsRebuilt) {
    }

    private static Totals totals() throws IOException {
        PrometheusText m = BuildsApi.metrics(server.port());
        JsonNode steps = get("/api/v1/stats").path("builds").path("steps").path("buildkit");
        return new Totals((long) m.value("layercache_build_steps_total", "builder", "buildkit", "result", "reused"),
                (long) m.value("layercache_build_steps_total", "builder", "buildkit", "result", "rebuilt"),
                (long) m.value("layercache_builds_total", "builder", "buildkit", "status", "compared"),
                (long) m.value("layercache_builds_total", "builder", "buildkit", "status", "first_export"),
                steps.path("reused").asLong(), steps.path("rebuilt").asLong());
    }

    /** The totals once the last build is counted (it is counted just after it is listed). */
    private static Totals awaitTotals(Totals before, int reused, int rebuilt) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        Totals t = totals();
        while ((t.reused - before.reused != reused || t.rebuilt - before.rebuilt != rebuilt
                || t.statsReused - before.statsReused != reused) && System.nanoTime() < deadline) {
            Thread.sleep(20);
            t = totals();
        }
        return t;
    }
}
