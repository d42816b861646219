package dev.layercache.server.buildkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.PrometheusText;
import java.io.IOException;
import java.util.List;

/**
 * What the tests of build insight ask a node over HTTP: its build records ({@code GET
 * /api/v1/builds}), which are written off the push's path and so are waited for, and its metrics.
 */
public final class BuildsApi {
    static final ObjectMapper JSON = new ObjectMapper();

    private BuildsApi() {
    }

    /** The builds of {@code repo}, newest first (at most 100). */
    public static JsonNode builds(int port, String repo) throws IOException {
        Http.Reply r = Http.exchange(port, "GET", "/api/v1/builds?repository=" + repo + "&limit=100", List.of(), null);
        assertEquals(200, r.status(), r.text());
        return JSON.readTree(r.body()).path("builds");
    }

    /** The newest build of {@code repo} once it has {@code count}, waited for up to 10 seconds. */
    public static JsonNode awaitBuild(int port, String repo, int count) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (true) {
            JsonNode builds = builds(port, repo);
            if (builds.size() >= count) {
                assertEquals(count, builds.size(), "one record per push: " + builds);
                return builds.get(0);
            }
            assertTrue(System.nanoTime() < deadline, "no build " + count + " in " + repo + ": " + builds);
            Thread.sleep(20);
        }
    }

    static PrometheusText metrics(int port) throws IOException {
        Http.Reply r = Http.exchange(port, "GET", "/metrics", List.of(), null);
        assertEquals(200, r.status(), r.text());
        return new PrometheusText(r.text());
    }

    /** {@code layercache_build_warnings_total} of BuildKit for one kind of warning. */
    static long warnings(int port, String kind) throws IOException {
        return (long) metrics(port).value("layercache_build_warnings_total", "builder", "buildkit", "warning", kind);
    }

    /** The kinds of warning of a build record, in its order. */
    static List<String> warningKinds(JsonNode build) {
        List<String> out = new java.util.ArrayList<>();
        build.path("warning_kinds").forEach(k -> out.add(k.asText()));
        return out;
    }

    /** The warnings of a build record, in words. */
    static List<String> warningTexts(JsonNode build) {
        List<String> out = new java.util.ArrayList<>();
        build.path("warnings").forEach(k -> out.add(k.asText()));
        return out;
    }
}
