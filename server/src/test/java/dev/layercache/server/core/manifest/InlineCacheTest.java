package dev.layercache.server.core.manifest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.RegistryException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link ManifestParser#parseInlineCache}: BuildKit's inline cache, the {@code moby.buildkit.cache.v0}
 * key of an image config, as dockerd's BuildKit writes it, and what a hostile one gets.
 */
class InlineCacheTest {
    private static final ManifestParser PARSER = new ManifestParser(new ObjectMapper());

    private static String digest(char c) {
        return "sha256:" + String.valueOf(c).repeat(64);
    }

    /**
     * The records BuildKit's inline exporter marshals for {@code FROM busybox / COPY app.txt /app/ /
     * RUN make}: sorted by digest, each result's {@code layer} its position in the image (0 the
     * base layer), no layer table. The COPY reads the build context through a selector and the
     * content checksum of app.txt (a record of no result) as the other alternative.
     */
    private static final String RECORDS = """
            [{"layers":[{"layer":2,"createdAt":"2026-12-01T10:00:03.5Z"}],
              "digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111",
              "inputs":[[{"link":3}]]},
             {"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222"},
             {"layers":[{"layer":0,"createdAt":"2024-09-26T21:31:42Z"}],
              "digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333"},
             {"layers":[{"layer":1,"createdAt":"2026-12-01T10:00:02Z"}],
              "digest":"sha256:4444444444444444444444444444444444444444444444444444444444444444",
              "inputs":[[{"link":2}],[{"link":1},{"selector":"sha256:9999999999999999999999999999999999999999999999999999999999999999","link":4}]]},
             {"digest":"sha256:5555555555555555555555555555555555555555555555555555555555555555"}]
            """;

    /** An image config as dockerd writes it, with the inline cache {@code cache} (a JSON value, or absent when null). */
    private static String config(String cache) {
        return """
                {"architecture":"amd64","config":{"Cmd":["sh"],"Env":["APP=/app"]},
                 "created":"2026-12-01T10:00:03.5Z",
                 "history":[
                   {"created":"2024-09-26T21:31:42Z","created_by":"/bin/sh -c #(nop) ADD file:0123 in / "},
                   {"created":"2024-09-26T21:31:42Z","created_by":"/bin/sh -c #(nop)  CMD [\\"sh\\"]","empty_layer":true},
                   {"created":"2026-12-01T10:00:01Z","created_by":"ENV APP=/app","comment":"buildkit.dockerfile.v0","empty_layer":true},
                   {"created":"2026-12-01T10:00:02Z","created_by":"COPY app.txt /app/ # buildkit","comment":"buildkit.dockerfile.v0"},
                   {"created":"2026-12-01T10:00:03.5Z","created_by":"RUN /bin/sh -c make # buildkit","comment":"buildkit.dockerfile.v0"}],
                 %s"os":"linux",
                 "rootfs":{"type":"layers","diff_ids":["%s","%s","%s"]}}
                """.formatted(cache == null ? "" : "\"moby.buildkit.cache.v0\":" + cache + ",",
                digest('d'), digest('e'), digest('f'));
    }

    private static String base64(String json) {
        return "\"" + Base64.getEncoder().encodeToString(json.getBytes(StandardCharsets.UTF_8)) + "\"";
    }

    /** dockerd's Docker v2 manifest: three layers, no annotations. */
    private static ImageManifest manifest(String... layerAnnotations) {
        StringBuilder layers = new StringBuilder();
        char[] blobs = {'a', 'b', 'c'};
        for (int i = 0; i < blobs.length; i++) {
            layers.append(i > 0 ? "," : "").append("{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",")
                    .append("\"size\":").append(1000 + i).append(",\"digest\":\"").append(digest(blobs[i])).append('"')
                    .append(i < layerAnnotations.length ? ",\"annotations\":" + layerAnnotations[i] : "").append('}');
        }
        String json = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.DOCKER_MANIFEST + "\",\"config\":{\"mediaType\":"
                + "\"application/vnd.docker.container.image.v1+json\",\"size\":1,\"digest\":\"" + digest('0')
                + "\"},\"layers\":[" + layers + "]}";
        return (ImageManifest) PARSER.parse(MediaTypes.DOCKER_MANIFEST, json.getBytes(StandardCharsets.UTF_8));
    }

    private static CacheConfig parse(String config, ImageManifest manifest) {
        return PARSER.parseInlineCache(config.getBytes(StandardCharsets.UTF_8), manifest).orElseThrow();
    }

    private static String refused(String config) {
        RegistryException e = assertThrows(RegistryException.class,
                () -> PARSER.parseInlineCache(config.getBytes(StandardCharsets.UTF_8), manifest()));
        assertEquals(ErrorCode.MANIFEST_INVALID, e.code());
        return e.getMessage();
    }

    @Test
    void readsTheRecordsOverTheManifestsLayersNamedFromHistory() {
        CacheConfig c = parse(config(base64(RECORDS)), manifest());

        assertEquals(3, c.layers().size());
        assertEquals(List.of(Digest.parse(digest('a')), Digest.parse(digest('b')), Digest.parse(digest('c'))),
                List.copyOf(c.blobs()));
        assertEquals(CacheConfig.CacheLayer.NO_PARENT, c.layers().get(0).parent());
        assertEquals(0, c.layers().get(1).parent());
        assertEquals(1, c.layers().get(2).parent());

        CacheConfig.LayerAnnotations copy = c.layers().get(1).annotations();
        assertEquals(Digest.parse(digest('e')), copy.diffId());
        assertEquals(1001, copy.size());
        assertEquals("application/vnd.docker.image.rootfs.diff.tar.gzip", copy.mediaType());
        assertEquals(Instant.parse("2026-12-01T10:00:02Z"), copy.createdAt());
        assertEquals(Map.of(CacheConfig.DESCRIPTION, "COPY app.txt /app/ # buildkit"), copy.additional(),
                "the second history entry that made a layer: CMD and ENV made none");
        assertEquals("/bin/sh -c #(nop) ADD file:0123 in / ",
                c.layers().get(0).annotations().additional().get(CacheConfig.DESCRIPTION));
        assertEquals("RUN /bin/sh -c make # buildkit",
                c.layers().get(2).annotations().additional().get(CacheConfig.DESCRIPTION));

        assertEquals(5, c.records().size());
        CacheConfig.CacheRecord copyRecord = c.records().get(3);
        assertEquals(1, copyRecord.results().get(0).layer());
        assertEquals(List.of(c.layers().get(0), c.layers().get(1)), c.chain(copyRecord.results().get(0).layer()));
        assertEquals(2, copyRecord.inputs().size());
        assertEquals("sha256:9999999999999999999999999999999999999999999999999999999999999999",
                copyRecord.inputs().get(1).get(1).selector());
        assertTrue(c.records().get(2).isRoot());
    }

    @Test
    void aDescriptionOnTheLayersDescriptorWinsOverHistory() {
        CacheConfig c = parse(config(base64(RECORDS)),
                manifest("{}", "{\"buildkit/description\":\"[2/3] COPY app.txt /app/\"}"));

        assertEquals("[2/3] COPY app.txt /app/", c.layers().get(1).annotations().additional().get(CacheConfig.DESCRIPTION));
        assertEquals("/bin/sh -c #(nop) ADD file:0123 in / ",
                c.layers().get(0).annotations().additional().get(CacheConfig.DESCRIPTION), "an empty map: history");
    }

    @Test
    void missingHistoryLeavesLayersUnnamed() {
        String config = "{\"moby.buildkit.cache.v0\":" + base64(RECORDS) + ",\"rootfs\":{\"diff_ids\":[\""
                + digest('d') + "\",\"" + digest('e') + "\",\"" + digest('f') + "\"]}}";
        CacheConfig c = parse(config, manifest());

        assertEquals(Map.of(), c.layers().get(2).annotations().additional());
        assertNull(c.layers().get(2).annotations().createdAt());
    }

    @Test
    void noKeyOrANullOneIsNoInlineCache() {
        byte[] absent = config(null).getBytes(StandardCharsets.UTF_8);
        byte[] nul = config("null").getBytes(StandardCharsets.UTF_8);
        assertTrue(PARSER.parseInlineCache(absent, manifest()).isEmpty());
        assertTrue(PARSER.parseInlineCache(nul, manifest()).isEmpty());
        assertTrue(PARSER.parseImageConfig(absent).isPresent(), "the config itself is fine");
    }

    @Test
    void anEmptyRecordsArrayIsACacheOfNoSteps() {
        assertEquals(0, parse(config(base64("[]")), manifest()).records().size());
        assertEquals(0, parse(config(base64("null")), manifest()).records().size());
    }

    @Test
    void aConfigThatIsNotAJsonObjectIsRefused() {
        assertTrue(refused("not json").contains("image config is not valid JSON"));
        assertTrue(refused("[1]").contains("image config must be a JSON object"));
    }

    @Test
    void aValueThatIsNotAStringIsRefused() {
        assertTrue(refused(config("[1,2]")).contains("must be a base64 string"));
        assertTrue(refused(config("42")).contains("must be a base64 string"));
    }

    @Test
    void malformedBase64IsRefused() {
        String m = refused(config("\"not*base64!\""));
        assertTrue(m.contains("moby.buildkit.cache.v0") && m.contains("not valid base64"), m);
    }

    @Test
    void base64OfMalformedJsonIsRefused() {
        String m = refused(config(base64("[{\"digest\":")));
        assertTrue(m.contains("not valid JSON"), m);
        assertTrue(refused(config("\"\"")).contains("not valid JSON"), "Go fails on an empty []byte too");
    }

    @Test
    void aFullCacheConfigObjectIsNotWhatBuildKitWritesInline() {
        String m = refused(config(base64("{\"layers\":[],\"records\":[]}")));
        assertTrue(m.contains("must be a JSON array of cache records"), m);
    }

    @Test
    void aRecordOfTheWrongShapeIsRefusedWithItsPlace() {
        String m = refused(config(base64("[{\"digest\":\"sha256:1\",\"inputs\":{}}]")));
        assertTrue(m.contains("records[0].inputs must be an array"), m);
    }

    @Test
    void aResultPastTheImagesLayersIsRefused() {
        String m = refused(config(base64("[{\"digest\":\"sha256:1\",\"layers\":[{\"layer\":3}]}]")));
        assertTrue(m.contains("over the image's 3 layers") && m.contains("records[0] has a result at layer 3"), m);
        m = refused(config(base64("[{\"digest\":\"sha256:1\",\"layers\":[{\"layer\":-1}]}]")));
        assertTrue(m.contains("result at layer -1"), m);
        m = refused(config(base64("[{\"digest\":\"sha256:1\",\"chains\":[{\"layers\":[0,7]}]}]")));
        assertTrue(m.contains("chain through layer 7"), m);
    }

    @Test
    void anInputFromNoRecordIsRefused() {
        String m = refused(config(base64("[{\"digest\":\"sha256:1\",\"inputs\":[[{\"link\":1}]]}]")));
        assertTrue(m.contains("records[0] has an input from record 1, not a record"), m);
    }

    @Test
    void aLoopThroughInputsIsRefused() {
        String loop = "[{\"digest\":\"sha256:1\",\"inputs\":[[{\"link\":1}]]},"
                + "{\"digest\":\"sha256:2\",\"inputs\":[[{\"link\":2}]]},"
                + "{\"digest\":\"sha256:3\",\"inputs\":[[{\"link\":0}]]}]";
        assertTrue(refused(config(base64(loop))).contains("depends on itself"));
        assertTrue(refused(config(base64("[{\"digest\":\"sha256:1\",\"inputs\":[[{\"link\":0}]]}]")))
                .contains("depends on itself"));
    }

    @Test
    void aLongChainOfRecordsCostsNoStack() {
        int n = 60_000;
        StringBuilder records = new StringBuilder("[");
        for (int i = 0; i < n; i++) {
            records.append(i > 0 ? "," : "").append("{\"digest\":\"k").append(i).append('"')
                    .append(i > 0 ? ",\"inputs\":[[{\"link\":" + (i - 1) + "}]]" : "").append('}');
        }
        String config = config(base64(records.append(']').toString()));
        CacheConfig c = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> parse(config, manifest()));
        assertEquals(n, c.records().size());
    }

    @Test
    void enormousRecordCountsAreRefused() {
        int n = CacheConfigReader.MAX_ENTRIES + 1;
        StringBuilder records = new StringBuilder("[");
        for (int i = 0; i < n; i++) {
            records.append(i > 0 ? ",{\"digest\":\"k\"}" : "{\"digest\":\"k\"}");
        }
        String config = config(base64(records.append(']').toString()));
        String m = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> refused(config));
        assertTrue(m.contains("records has " + n + " entries, more than the " + CacheConfigReader.MAX_ENTRIES), m);
    }

    @Test
    void theBoundIsSharedWithRegistryCacheConfigs() {
        StringBuilder records = new StringBuilder("{\"records\":[");
        for (int i = 0; i <= CacheConfigReader.MAX_ENTRIES; i++) {
            records.append(i > 0 ? ",{\"digest\":\"k\"}" : "{\"digest\":\"k\"}");
        }
        byte[] config = records.append("]}").toString().getBytes(StandardCharsets.UTF_8);
        RegistryException e = assertThrows(RegistryException.class, () -> PARSER.parseCacheConfig(config));
        assertTrue(e.getMessage().startsWith("cache config: records has 100001 entries"), e.getMessage());
    }

    @Test
    void anEnormousValueIsRefusedBeforeItIsDecoded() {
        String huge = "\"" + "A".repeat(InlineCacheReader.MAX_BASE64_CHARS + 4) + "\"";
        String m = refused(config(huge));
        assertTrue(m.contains("characters of base64, more than the " + InlineCacheReader.MAX_BASE64_CHARS), m);
    }

    @Test
    void deepNestingIsRefusedWithoutOverflowingTheStack() {
        String deep = "[".repeat(200_000) + "]".repeat(200_000);
        String m = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> refused(config(base64(deep))));
        assertTrue(m.contains("not valid JSON"), m);
    }

    @Test
    void diffIdsThatDoNotMatchTheManifestAreRefusedAsBuildKitIgnoresThem() {
        String two = config(base64(RECORDS)).replace(",\"" + digest('f') + "\"", "");
        String m = refused(two);
        assertTrue(m.contains("lists 2 rootfs.diff_ids for the manifest's 3 layers"), m);
        String bad = config(base64(RECORDS)).replace(digest('f'), "sha256:nope");
        assertTrue(refused(bad).contains("rootfs.diff_ids[2] must be a digest"));
    }

    @Test
    void aHistoryTimeBuildKitCannotReadIsRefused() {
        String m = refused(config(base64(RECORDS)).replace("2026-12-01T10:00:02Z", "yesterday"));
        assertTrue(m.contains("not RFC 3339"), m);
    }
}
