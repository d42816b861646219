package dev.layercache.server.core.manifest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CacheConfigTest {
    private static final ManifestParser PARSER = new ManifestParser(new ObjectMapper());

    private static String digest(char c) {
        return "sha256:" + String.valueOf(c).repeat(64);
    }

    /**
     * What BuildKit exports ({@code mode=max}) for
     * {@code FROM busybox / COPY app /app / RUN make}: the base image's layer, the COPY's layer on
     * it, the RUN's layer on that. Layer 1 has no {@code parent}: Go leaves out a parent of 0. The
     * COPY takes its second input (the build context) through a selector (a content checksum).
     */
    private static final String EXPORT = """
            {
              "layers": [
                {"blob": "%1$s", "parent": -1,
                 "annotations": {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                 "diffID": "%4$s", "size": 2152262, "createdAt": "2024-05-01T10:00:00Z"}},
                {"blob": "%2$s"},
                {"blob": "%3$s", "parent": 1,
                 "annotations": {"createdAt": "0001-01-01T00:00:00Z", "additional": {"org.example": "x"}}}
              ],
              "records": [
                {"digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                 "layers": [{"layer": 0, "createdAt": "2024-05-01T10:00:00.123456789Z"}]},
                {"digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222"},
                {"digest": "sha256:3333333333333333333333333333333333333333333333333333333333333333",
                 "layers": [{"layer": 1, "createdAt": "2024-05-01T12:00:00+02:00"}],
                 "inputs": [[{"link": 0}], [{"selector": "sha256:9999999999999999999999999999999999999999999999999999999999999999", "link": 1}]]},
                {"digest": "sha256:4444444444444444444444444444444444444444444444444444444444444444",
                 "layers": [{"layer": 2}],
                 "chains": [{"layers": [0, 1, 2]}],
                 "inputs": [[{"selector": "", "link": 2}]],
                 "unknownField": true}
              ]
            }
            """.formatted(digest('a'), digest('b'), digest('c'), digest('d'));

    private static CacheConfig parse(String json) {
        return PARSER.parseCacheConfig(json.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void readsBuildKitsExport() {
        CacheConfig c = parse(EXPORT);
        assertEquals(3, c.layers().size());
        assertEquals(CacheConfig.CacheLayer.NO_PARENT, c.layers().get(0).parent());
        assertEquals(0, c.layers().get(1).parent(), "a missing parent is layer 0");
        assertEquals(1, c.layers().get(2).parent());

        CacheConfig.LayerAnnotations base = c.layers().get(0).annotations();
        assertEquals("application/vnd.oci.image.layer.v1.tar+gzip", base.mediaType());
        assertEquals(Digest.parse(digest('d')), base.diffId());
        assertEquals(2152262, base.size());
        assertEquals(Instant.parse("2024-05-01T10:00:00Z"), base.createdAt());
        assertNull(c.layers().get(1).annotations());
        assertNull(c.layers().get(2).annotations().createdAt(), "Go's zero time is no time");
        assertEquals(Map.of("org.example", "x"), c.layers().get(2).annotations().additional());

        assertEquals(List.of(Digest.parse(digest('a')), Digest.parse(digest('b')), Digest.parse(digest('c'))),
                c.chain(2).stream().map(CacheConfig.CacheLayer::blob).toList());
        assertEquals(List.of(c.layers().get(0)), c.chain(0));
        assertEquals(3, c.blobs().size());

        CacheConfig.CacheRecord source = c.records().get(0);
        assertTrue(source.isRoot());
        assertEquals(Instant.parse("2024-05-01T10:00:00.123456789Z"), source.results().get(0).createdAt());
        assertTrue(c.records().get(1).results().isEmpty(), "a step whose result was not exported");

        CacheConfig.CacheRecord copy = c.records().get(2);
        assertEquals("sha256:" + "3".repeat(64), copy.digest());
        assertEquals(Instant.parse("2024-05-01T10:00:00Z"), copy.results().get(0).createdAt());
        assertEquals(List.of(List.of(new CacheConfig.CacheInput(null, 0)),
                List.of(new CacheConfig.CacheInput("sha256:" + "9".repeat(64), 1))), copy.inputs());

        CacheConfig.CacheRecord run = c.records().get(3);
        assertEquals(List.of(new CacheConfig.CacheResult(2, null)), run.results());
        assertEquals(List.of(0, 1, 2), run.chains().get(0).layers());
        assertNull(run.inputs().get(0).get(0).selector(), "an empty selector is none");
    }

    @Test
    void anEmptyConfigIsEmpty() {
        CacheConfig c = parse("{}");
        assertTrue(c.layers().isEmpty());
        assertTrue(c.records().isEmpty());
        assertTrue(parse("{\"layers\":null,\"records\":[]}").layers().isEmpty());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "not json                                            | cache config is not valid JSON",
        "[]                                                  | cache config must be a JSON object",
        "{\"layers\":{}}                                     | cache config: layers must be an array",
        "{\"layers\":[7]}                                    | cache config: layers[0] must be an object",
        "{\"layers\":[{\"parent\":-1}]}                      | cache config: layers[0].blob must be a digest",
        "{\"layers\":[{\"blob\":\"sha256:x\",\"parent\":-1}]} | cache config: layers[0].blob must be a digest",
        "{\"layers\":[{\"blob\":\"A\",\"parent\":\"-1\"}]}   | cache config: layers[0].parent must be an integer",
        "{\"layers\":[{\"blob\":\"A\",\"parent\":0.5}]}      | cache config: layers[0].parent must be an integer",
        "{\"layers\":[{\"blob\":\"A\",\"parent\":1}]}        | cache config: layers[0].parent is 1, not a layer",
        "{\"layers\":[{\"blob\":\"A\"}]}                     | cache config: layers[0] is its own ancestor",
        "{\"layers\":[{\"blob\":\"A\",\"parent\":1},{\"blob\":\"A\"}]} | cache config: layers[0] is its own ancestor",
        "{\"layers\":[{\"blob\":\"A\",\"parent\":-1,\"annotations\":{\"diffID\":\"x\"}}]} | cache config: layers[0].annotations.diffID must be a digest",
        "{\"layers\":[{\"blob\":\"A\",\"parent\":-1,\"annotations\":{\"createdAt\":\"yesterday\"}}]} | cache config: layers[0].annotations.createdAt must be an RFC 3339 time",
        "{\"records\":[{}]}                                  | cache config: records[0].digest must be a cache key",
        "{\"records\":[{\"digest\":\"k\",\"layers\":[{\"layer\":0}]}]} | cache config: records[0] has a result at layer 0, not a layer",
        "{\"records\":[{\"digest\":\"k\",\"chains\":[{\"layers\":[3]}]}]} | cache config: records[0] has a chain through layer 3, not a layer",
        "{\"records\":[{\"digest\":\"k\",\"inputs\":[[{\"link\":1}]]}]} | cache config: records[0] has an input from record 1, not a record",
        "{\"records\":[{\"digest\":\"k\",\"inputs\":[{\"link\":0}]}]} | cache config: records[0].inputs[0] must be an array",
        "{\"records\":[{\"digest\":\"k\",\"inputs\":[[{\"link\":1}]]},{\"digest\":\"l\",\"inputs\":[[{\"link\":0}]]}]} | depends on itself through its inputs",
    })
    void malformedConfigsAreRefusedWithTheirReason(String json, String reason) {
        RegistryException e = assertThrows(RegistryException.class, () -> parse(json.replace("\"A\"",
                "\"" + digest('a') + "\"")));
        assertEquals(ErrorCode.MANIFEST_INVALID, e.code());
        assertTrue(e.getMessage().contains(reason.strip()), e.getMessage());
    }

    @Test
    void aLongChainIsCheckedWithoutRecursion() {
        StringBuilder layers = new StringBuilder("{\"blob\":\"" + digest('a') + "\",\"parent\":-1}");
        StringBuilder records = new StringBuilder("{\"digest\":\"k0\"}");
        for (int i = 1; i < 50_000; i++) {
            layers.append(",{\"blob\":\"").append(digest('a')).append("\",\"parent\":").append(i - 1).append('}');
            records.append(",{\"digest\":\"k").append(i).append("\",\"inputs\":[[{\"link\":").append(i - 1)
                    .append("}]]}");
        }
        CacheConfig c = parse("{\"layers\":[" + layers + "],\"records\":[" + records + "]}");
        assertEquals(50_000, c.chain(49_999).size());
    }

    /**
     * 15 MiB of {@code {}} records, five million JSON values, would be a tree of some 450 MiB:
     * they are counted first, as a stream, and refused before any tree is built.
     */
    @Test
    void tooManyJsonValuesAreRefusedBeforeATreeIsBuilt() {
        int n = 5_000_000;
        StringBuilder sb = new StringBuilder(3 * n + 20).append("{\"records\":[");
        for (int i = 0; i < n; i++) {
            sb.append(i > 0 ? ",{}" : "{}");
        }
        byte[] config = sb.append("]}").toString().getBytes(StandardCharsets.UTF_8);
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();

        RegistryException e = assertThrows(RegistryException.class, () -> PARSER.parseCacheConfig(config));

        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertEquals("cache config holds more than " + CacheConfigReader.MAX_VALUES
                + " JSON values, more than are read", e.getMessage());
        assertTrue(allocated < 32L << 20, "allocated " + (allocated >> 20) + " MiB");
        assertTrue(PARSER.parseImageConfig(config).isEmpty(), "an image config of as many is not read either");
    }

    @Test
    void aConfigJustWithinTheBoundIsRead() {
        // The bound counts values, not records: 100,000 records of 19 values each are within it.
        int n = CacheConfigReader.MAX_VALUES / 20;
        StringBuilder sb = new StringBuilder("{\"records\":[");
        for (int i = 0; i < n; i++) {
            String inputs = i == 0 ? "" : "[{\"selector\":\"s\",\"link\":" + (i - 1) + "}]" + ",[]".repeat(12);
            sb.append(i > 0 ? "," : "").append("{\"digest\":\"k").append(i).append("\",\"inputs\":[")
                    .append(inputs).append("]}");
        }
        CacheConfig c = PARSER.parseCacheConfig(sb.append("]}").toString().getBytes(StandardCharsets.UTF_8));
        assertEquals(n, c.records().size());
    }
}
