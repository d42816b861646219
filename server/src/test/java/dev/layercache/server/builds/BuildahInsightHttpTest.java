package dev.layercache.server.builds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * buildah's cache traffic reproduced over HTTP (the requests REAL-CLIENTS.md records: one
 * {@code GET manifests/<64-hex key>} per step until the first 404, then a push of a manifest under
 * each step key built), grouped into builds by the server and listed by {@code GET
 * /api/v1/builds}. The real buildah runs in {@code e2e.BuildInsightRealClientsTest}; this test
 * pins the rule on exact sequences, including three builds back to back from one client.
 */
class BuildahInsightHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String CONFIG_TYPE = "application/vnd.oci.image.manifest.v1+json";

    @RegisterExtension
    static final TestServer server = new TestServer();

    @Test
    void threeBuildsFromOneClientAreToldApartAndTheFirstRebuiltStepIsTheRootCause() throws Exception {
        Registry registry = new Registry(server.port());
        String repo = "cache/app";
        String k1 = key("FROM base");
        String k2 = key("RUN echo two");
        String k3 = key("COPY . /app");
        String k2b = key("RUN echo two, changed");
        String k3b = key("COPY . /app after the change");

        // Build 1 (builder A, empty cache): the first lookup misses, then every step is built and pushed.
        assertEquals(404, lookup(registry, repo, k1));
        push(registry, repo, k1, "/bin/sh -c #(nop) FROM base");
        push(registry, repo, k2, "/bin/sh -c echo two");
        push(registry, repo, k3, "/bin/sh -c #(nop) COPY dir:1234 in /app");
        // Build 2 (builder B, same inputs): every lookup answered.
        assertEquals(200, lookup(registry, repo, k1));
        assertEquals(200, lookup(registry, repo, k2));
        assertEquals(200, lookup(registry, repo, k3));
        // Build 3 (builder B, the RUN changed): the first step reused, the RUN misses and is pushed, then the COPY.
        assertEquals(200, lookup(registry, repo, k1));
        assertEquals(404, lookup(registry, repo, k2b));
        push(registry, repo, k2b, "/bin/sh -c echo two, changed");
        push(registry, repo, k3b, "/bin/sh -c #(nop) COPY dir:5678 in /app");

        // Other tags, and lookups in other repositories, are no steps of these builds.
        assertEquals(404, lookup(registry, repo, "latest"));
        assertEquals(404, lookup(registry, "cache/other", key("elsewhere")));

        BuildInsight builds = server.server().builds();
        builds.closeIdle(Instant.now().plus(Duration.ofMinutes(3)));
        builds.awaitIdle();

        JsonNode listed = list(repo, "");
        assertEquals(3, listed.size(), listed.toString());
        JsonNode third = listed.get(0);
        assertEquals("buildah", third.path("builder").asText());
        assertEquals("grouped", third.path("status").asText());
        assertEquals(3, third.path("steps").asInt(), third.toString());
        assertEquals(1, third.path("reused").asInt());
        assertEquals(2, third.path("rebuilt").asInt());
        assertEquals("/bin/sh -c echo two, changed", third.path("root_cause").path("instruction").asText());
        assertEquals("first_rebuilt", third.path("root_cause").path("reason").asText());
        assertEquals(1, third.path("root_cause").path("cascade").asInt());
        assertEquals(k2b, third.path("root_cause").path("key").asText());
        assertEquals(k3b, third.path("reference").asText(), "a buildah build's reference is its last step key");
        assertTrue(third.path("who").asText().startsWith("anonymous@"), third.toString());

        JsonNode second = listed.get(1);
        assertEquals(3, second.path("reused").asInt(), second.toString());
        assertEquals(0, second.path("rebuilt").asInt());
        assertTrue(second.path("root_cause").isNull(), "nothing rebuilt, nothing to blame: " + second);

        JsonNode first = listed.get(2);
        assertEquals(0, first.path("reused").asInt(), first.toString());
        assertEquals(3, first.path("rebuilt").asInt());
        assertEquals("/bin/sh -c #(nop) FROM base", first.path("root_cause").path("instruction").asText());

        assertEquals(1, list(repo, "&limit=1").size(), "limit");
        assertEquals(0, list("cache/other", "").size(),
                "a lookup in a repository nobody pushed to is no build of this cache: nothing is written");

        String metrics = new String(registry.get("/metrics").body(), StandardCharsets.UTF_8);
        assertTrue(metrics.contains("layercache_build_steps_total{builder=\"buildah\",result=\"reused\"} 4.0"), metrics);
        assertTrue(metrics.contains("layercache_build_steps_total{builder=\"buildah\",result=\"rebuilt\"} 5.0"), metrics);
        assertTrue(metrics.contains("layercache_builds_total{builder=\"buildah\",status=\"grouped\"} 3.0"), metrics);

        JsonNode stats = JSON.readTree(registry.get("/api/v1/stats").body()).path("builds");
        assertEquals(4, stats.path("steps").path("buildah").path("reused").asLong(), stats.toString());
        assertEquals(4.0 / 9, stats.path("steps").path("buildah").path("reuse_rate").asDouble(), 1e-9);
        assertEquals(3, stats.path("recent").size(), stats.toString());
        assertEquals(k3b, stats.path("recent").get(0).path("reference").asText(), "newest first");
    }

    @Test
    void listingNeedsAValidRepositoryAndLimit() throws Exception {
        Registry registry = new Registry(server.port());
        assertEquals(400, registry.get("/api/v1/builds").statusCode());
        assertEquals(400, registry.get("/api/v1/builds?repository=Not/Valid").statusCode());
        assertEquals(400, registry.get("/api/v1/builds?repository=a/b&limit=0").statusCode());
        assertEquals(400, registry.get("/api/v1/builds?repository=a/b&limit=x").statusCode());
        assertEquals(400, registry.get("/api/v1/builds?repository=a/b&limit=101").statusCode());
        var none = registry.get("/api/v1/builds?repository=nobody/here");
        assertEquals(200, none.statusCode());
        assertEquals(0, JSON.readTree(none.body()).path("builds").size());
    }

    private static JsonNode list(String repo, String more) throws Exception {
        var reply = new Registry(server.port()).get("/api/v1/builds?repository=" + repo + more);
        assertEquals(200, reply.statusCode(), new String(reply.body(), StandardCharsets.UTF_8));
        return JSON.readTree(reply.body()).path("builds");
    }

    private static int lookup(Registry registry, String repo, String tag) throws Exception {
        return registry.get("/v2/" + repo + "/manifests/" + tag).statusCode();
    }

    /** What buildah's --cache-to pushes for a step: a layer, a config whose history ends with the step, a manifest. */
    private static void push(Registry registry, String repo, String tag, String createdBy) throws Exception {
        byte[] layer = ("layer of " + tag).getBytes(StandardCharsets.UTF_8);
        List<String> history = new ArrayList<>(List.of("{\"created_by\":\"/bin/sh -c #(nop) ADD file:0 in /\"}"));
        history.add("{\"created_by\":" + JSON.writeValueAsString(createdBy) + "}");
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\""
                + Registry.sha256(layer) + "\"]},\"history\":[" + String.join(",", history) + "]}")
                .getBytes(StandardCharsets.UTF_8);
        assertEquals(201, registry.pushBlob(repo, layer));
        assertEquals(201, registry.pushBlob(repo, config));
        assertEquals(201, registry.pushManifest(repo, tag, CONFIG_TYPE, Registry.imageManifest(config, layer)));
    }

    private static String key(String step) {
        return Registry.sha256(step.getBytes(StandardCharsets.UTF_8)).substring("sha256:".length());
    }
}
