package dev.layercache.server.buildkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.server.core.manifest.BuildKitCache;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hostile BuildKit caches over HTTP: whatever a pushed cache config or inline cache holds, the
 * push answers 201, the build is recorded as {@code unparsable} with a warning saying why, the
 * metrics count it, and the node keeps answering (a small request is timed after each push). A
 * flood of pushes is analysed or dropped, and every drop is counted.
 */
class HostileCacheConfigTest {
    /** What "the node keeps answering" means here: a small request well within this. */
    private static final Duration ANSWERS_WITHIN = Duration.ofSeconds(3);

    @RegisterExtension
    static final TestServer server = new TestServer();

    /**
     * A hostile cache config, made from the clean export's first layer blob (some need a real
     * one), and what the build record's warning must say of it.
     */
    private record Hostile(String name, String why, Function<String, byte[]> config) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String key(int i) {
        return Registry.sha256(utf8("record " + i));
    }

    /** {@code {"records":[ITEM,ITEM,...]}} with {@code n} items. */
    private static byte[] records(int n, java.util.function.IntFunction<String> item) {
        StringBuilder sb = new StringBuilder("{\"records\":[");
        for (int i = 0; i < n; i++) {
            sb.append(i > 0 ? "," : "").append(item.apply(i));
        }
        return utf8(sb.append("]}").toString());
    }

    static List<Hostile> hostile() {
        List<Hostile> out = new ArrayList<>();
        out.add(new Hostile("malformed JSON", "is not valid JSON",
                layer -> utf8("{\"layers\":[{\"blob\":\"" + layer + "\",\"parent\":")));
        out.add(new Hostile("not JSON at all", "is not valid JSON", layer -> {
            byte[] noise = new byte[4096];
            new Random(7).nextBytes(noise);
            return noise;
        }));
        out.add(new Hostile("empty", "must be a JSON object", layer -> new byte[0]));
        out.add(new Hostile("JSON null", "must be a JSON object", layer -> utf8("null")));
        out.add(new Hostile("wrong types", "layers must be an array",
                layer -> utf8("{\"layers\":\"many\",\"records\":{\"a\":1}}")));
        out.add(new Hostile("cycle in inputs", "depends on itself through its inputs", layer -> utf8("{\"records\":["
                + "{\"digest\":\"" + key(0) + "\",\"inputs\":[[{\"link\":1}]]},"
                + "{\"digest\":\"" + key(1) + "\",\"inputs\":[[{\"link\":2}]]},"
                + "{\"digest\":\"" + key(2) + "\",\"inputs\":[[{\"link\":0}]]}]}")));
        out.add(new Hostile("record its own input", "records[0] depends on itself through its inputs",
                layer -> utf8("{\"records\":[{\"digest\":\"" + key(0)
                        + "\",\"inputs\":[[{\"selector\":\"x\",\"link\":0}]]}]}")));
        out.add(new Hostile("layer its own ancestor", "is its own ancestor", layer -> utf8("{\"layers\":["
                + "{\"blob\":\"" + layer + "\",\"parent\":1},{\"blob\":\"" + layer + "\"}],"
                + "\"records\":[{\"digest\":\"" + key(0) + "\",\"layers\":[{\"layer\":0}]}]}")));
        out.add(new Hostile("result index out of range", "records[0] has a result at layer 7, not a layer",
                layer -> utf8("{\"layers\":[{\"blob\":\"" + layer + "\",\"parent\":-1}],"
                        + "\"records\":[{\"digest\":\"" + key(0) + "\",\"layers\":[{\"layer\":7}]}]}")));
        out.add(new Hostile("input index out of range", "records[0] has an input from record 2147483647, not a record",
                layer -> utf8("{\"records\":[{\"digest\":\"" + key(0) + "\",\"inputs\":[[{\"link\":2147483647}]]}]}")));
        out.add(new Hostile("negative index", "records[0] has an input from record -1, not a record",
                layer -> utf8("{\"records\":[{\"digest\":\"" + key(0) + "\",\"inputs\":[[{\"link\":-1}]]}]}")));
        out.add(new Hostile("index too big for an int", "layers[0].parent must be an integer",
                layer -> utf8("{\"layers\":[{\"blob\":\"" + layer + "\",\"parent\":99999999999999999999999}]}")));
        out.add(new Hostile("deep nesting", "is not valid JSON",
                layer -> utf8("{\"records\":" + "[".repeat(200_000) + "]".repeat(200_000) + "}")));
        // Past the reader's bound of 100,000 records: in a few hundred KB (analysed before the
        // push is answered) and in a few MB (over 1 MiB: analysed after).
        String tooMany = "records has 100001 entries, more than the 100000 read";
        out.add(new Hostile("100,001 empty records", tooMany, layer -> records(100_001, i -> "{}")));
        out.add(new Hostile("100,001 records", tooMany, layer -> records(100_001,
                i -> "{\"digest\":\"" + key(i) + "\",\"inputs\":[[{\"link\":" + Math.max(0, i - 1) + "}]]}")));
        // Five million values in 15 MiB: counted and refused before a tree of them (450 MiB) is built.
        out.add(new Hostile("five million records in 15 MiB", "holds more than 2000000 JSON values",
                layer -> records(5_000_000, i -> "{}")));
        out.add(new Hostile("over 16 MiB", "more than the 16777216 this server reads", layer -> {
            byte[] big = new byte[(16 << 20) + 10];
            java.util.Arrays.fill(big, (byte) ' ');
            big[0] = '{';
            big[big.length - 1] = '}';
            return big;
        }));
        return out;
    }

    static List<Arguments> hostileInBothShapes() {
        List<Arguments> out = new ArrayList<>();
        for (Hostile h : hostile()) {
            for (BuildKitCache.Shape shape : BuildKitCache.Shape.values()) {
                out.add(Arguments.of(h, shape));
            }
        }
        return out;
    }

    @ParameterizedTest(name = "{0}, {1}")
    @MethodSource("hostileInBothShapes")
    void aHostileCacheConfigIsRecordedAsUnparsableAndNeverFailsThePush(Hostile hostile, BuildKitCache.Shape shape)
            throws Exception {
        RealExport clean = RealExport.of(TwoStageBuild.export(true, "v1", "make"), shape);
        RealExport export = clean.withConfig(hostile.config().apply(clean.layerDigests().get(0)));
        String repo = "hostile/" + hostile.name().toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-")
                .replaceAll("^-|-$", "") + "/" + shape.name().toLowerCase(Locale.ROOT).replace('_', '-');
        Counts before = counts();

        Http.Reply pushed = export.push(server.port(), repo, "buildcache");

        assertEquals(201, pushed.status(), pushed.text());
        assertEquals(export.manifestDigest(), pushed.header("Docker-Content-Digest"));
        assertAnswering();
        String header = pushed.header("Warning");
        assertTrue(header != null && header.startsWith("299 - \"layercache: "), "a Warning header: " + header);
        if (export.config.length <= 1 << 20) {
            assertTrue(header.contains("cannot be read"), header);
        } else {
            assertTrue(header.contains("over 1 MiB"), header);
        }

        JsonNode build = BuildsApi.awaitBuild(server.port(), repo, 1);
        assertEquals("unparsable", build.path("status").asText(), build.toString());
        assertEquals(shape == BuildKitCache.Shape.INDEX ? "index" : "image_manifest", build.path("shape").asText());
        assertEquals(0, build.path("steps").asInt());
        assertTrue(build.path("root_cause").isNull());
        assertEquals(export.manifestDigest(), build.path("manifest").asText());
        List<String> kinds = BuildsApi.warningKinds(build);
        assertTrue(kinds.contains("unparsable"), kinds.toString());
        String why = BuildsApi.warningTexts(build).get(kinds.indexOf("unparsable"));
        assertTrue(why.startsWith("cache config " + export.configDigest() + " cannot be read: "), why);
        assertTrue(why.contains(hostile.why()), why);
        assertEquals(export.config.length > 1 << 20, kinds.contains("cache_config_too_large"), kinds.toString());

        Counts after = awaitCounts(before);
        assertEquals(1, after.unparsableBuilds - before.unparsableBuilds);
        assertEquals(1, after.unparsableWarnings - before.unparsableWarnings);
        assertAnswering();
    }

    /**
     * Image configs whose inline cache is no base64, or base64 of something hostile, and an image
     * config with an inline cache among five million other JSON values.
     */
    static List<Arguments> hostileInline() {
        String padding = ",\"padding\":[" + "{},".repeat(5_000_000) + "{}]";
        return List.of(
                Arguments.of("garbage base64", "\"!!! not base64 @@@\"", "", "is not valid base64"),
                Arguments.of("base64 of no JSON", "\"" + Base64.getEncoder().encodeToString(new byte[] {1, 2, 3, 4})
                        + "\"", "", "is not valid JSON"),
                Arguments.of("base64 of a cycle", "\"" + Base64.getEncoder().encodeToString(utf8("[{\"digest\":\""
                        + key(0) + "\",\"inputs\":[[{\"link\":0}]]}]")) + "\"", "", "depends on itself"),
                Arguments.of("not a string", "{\"records\":[]}", "", "must be a base64 string"),
                Arguments.of("five million values", "\"W10=\"", padding, "image config holds more than 2000000"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostileInline")
    void aHostileInlineCacheIsRecordedAsUnparsableAndNeverFailsThePush(String name, String value, String padding,
                                                                       String why) throws Exception {
        String repo = "hostile/inline-" + name.toLowerCase(Locale.ROOT).replace(' ', '-');
        byte[] layer = new byte[2048];
        new Random(11).nextBytes(layer);
        byte[] config = utf8("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},"
                + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + key(99) + "\"]},"
                + "\"history\":[{\"created_by\":\"COPY app.txt /app/ # buildkit\"}],"
                + "\"moby.buildkit.cache.v0\":" + value + padding + "}");
        Registry registry = new Registry(server.port());
        assertEquals(201, registry.pushBlob(repo, layer));
        assertEquals(201, registry.pushBlob(repo, config));
        Counts before = counts();

        Http.Reply pushed = Http.exchange(server.port(), "PUT", "/v2/" + repo + "/manifests/latest",
                List.of("Content-Type: application/vnd.oci.image.manifest.v1+json"),
                utf8(Registry.imageManifest(config, layer)));

        assertEquals(201, pushed.status(), pushed.text());
        assertAnswering();
        if (config.length <= 1 << 20) {
            assertTrue(String.valueOf(pushed.header("Warning")).contains("inline cache of "),
                    pushed.headers().toString());
        }
        JsonNode build = BuildsApi.awaitBuild(server.port(), repo, 1);
        assertEquals("unparsable", build.path("status").asText(), build.toString());
        assertEquals("inline", build.path("shape").asText());
        assertEquals("latest", build.path("reference").asText());
        List<String> kinds = BuildsApi.warningKinds(build);
        assertTrue(kinds.contains("unparsable"), kinds.toString());
        String said = BuildsApi.warningTexts(build).get(kinds.indexOf("unparsable"));
        assertTrue(said.contains(why), said);
        Counts after = awaitCounts(before);
        assertEquals(1, after.unparsableBuilds - before.unparsableBuilds);
        assertEquals(1, after.unparsableWarnings - before.unparsableWarnings);
    }

    /**
     * A flood of pushes from several clients: each push's analysis is either done (a build record)
     * or dropped because the queue is full, and counted; none is queued without bound or lost
     * uncounted. Whether any is dropped depends on the machine's speed, so that is not asserted.
     */
    @Test
    void aFloodOfPushesIsAnalysedOrDroppedAndEveryDropIsCounted() throws Exception {
        String repo = "hostile/flood";
        RealExport export = RealExport.of(TwoStageBuild.export(true, "v1", "make"),
                BuildKitCache.Shape.INDEX);
        assertEquals(201, export.push(server.port(), repo, "warm-up").status());
        BuildsApi.awaitBuild(server.port(), repo, 1);
        PrometheusText metrics = BuildsApi.metrics(server.port());
        assertTrue(metrics.has("layercache_build_analyses_dropped_total"), "the drops are exported");
        long droppedBefore = (long) metrics.value("layercache_build_analyses_dropped_total");

        int pushes = 99;
        ExecutorService clients = Executors.newFixedThreadPool(6);
        try {
            List<Future<Integer>> done = new ArrayList<>();
            for (int i = 0; i < pushes; i++) {
                String tag = "flood-" + i;
                done.add(clients.submit(() -> Http.exchange(server.port(), "PUT", "/v2/" + repo + "/manifests/" + tag,
                        List.of("Content-Type: " + export.mediaType()), export.manifest()).status()));
            }
            for (Future<Integer> f : done) {
                assertEquals(201, f.get());
            }
        } finally {
            clients.shutdownNow();
        }
        assertAnswering();

        // Generous: the count must come out exact, however slow a shared CI machine is meanwhile.
        long deadline = System.nanoTime() + 90_000_000_000L;
        long recorded;
        long dropped;
        do {
            Thread.sleep(50);
            recorded = BuildsApi.builds(server.port(), repo).size() - 1;
            dropped = (long) BuildsApi.metrics(server.port()).value("layercache_build_analyses_dropped_total")
                    - droppedBefore;
        } while (recorded + dropped < pushes && System.nanoTime() < deadline);
        assertEquals(pushes, recorded + dropped, recorded + " recorded, " + dropped + " dropped");
    }

    /** A small request answers promptly. */
    private static void assertAnswering() throws Exception {
        long start = System.nanoTime();
        Http.Reply r = Http.exchange(server.port(), "GET", "/v2/", List.of(), null);
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertEquals(200, r.status());
        assertTrue(took.compareTo(ANSWERS_WITHIN) < 0, "GET /v2/ took " + took);
    }

    private record Counts(long unparsableBuilds, long unparsableWarnings) {
    }

    private static Counts counts() throws Exception {
        PrometheusText m = BuildsApi.metrics(server.port());
        return new Counts((long) m.value("layercache_builds_total", "builder", "buildkit", "status", "unparsable"),
                (long) m.value("layercache_build_warnings_total", "builder", "buildkit", "warning", "unparsable"));
    }

    /** The counts once the build is counted (just after it is listed). */
    private static Counts awaitCounts(Counts before) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        Counts c = counts();
        while (c.unparsableBuilds == before.unparsableBuilds && System.nanoTime() < deadline) {
            Thread.sleep(20);
            c = counts();
        }
        return c;
    }
}
