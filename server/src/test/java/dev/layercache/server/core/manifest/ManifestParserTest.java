package dev.layercache.server.core.manifest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.RegistryException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ManifestParserTest {
    private static final ManifestParser PARSER = new ManifestParser(new ObjectMapper());

    private static final String A = "sha256:" + "a".repeat(64);
    private static final String B = "sha256:" + "b".repeat(64);
    private static final String C = "sha256:" + "c".repeat(64);
    private static final String D = "sha256:" + "d".repeat(64);

    /** The OCI manifest of a two-layer image as a registry serves it (pretty-printed, annotated). */
    private static final String OCI_IMAGE = """
            {
              "schemaVersion": 2,
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "%s",
                "size": 1472
              },
              "layers": [
                {
                  "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                  "digest": "%s",
                  "size": 2152262
                },
                {
                  "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                  "digest": "%s",
                  "size": 93
                }
              ],
              "annotations": {
                "org.opencontainers.image.created": "2024-05-01T00:00:00Z",
                "org.opencontainers.image.revision": "1d2f3c"
              }
            }
            """.formatted(A, B, C);

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static RegistryException refused(String contentType, String body) {
        RegistryException e = assertThrows(RegistryException.class, () -> PARSER.parse(contentType, utf8(body)));
        assertEquals(ErrorCode.MANIFEST_INVALID, e.code(), e::getMessage);
        return e;
    }

    @Test
    void ociImageManifest() {
        ImageManifest m = assertInstanceOf(ImageManifest.class, PARSER.parse(MediaTypes.OCI_MANIFEST, utf8(OCI_IMAGE)));
        assertEquals(MediaTypes.OCI_MANIFEST, m.mediaType());
        assertEquals(Descriptor.of("application/vnd.oci.image.config.v1+json", Digest.parse(A), 1472), m.config());
        assertEquals(List.of(Digest.parse(B), Digest.parse(C)), m.layers().stream().map(Descriptor::digest).toList());
        assertEquals(2152262, m.layers().get(0).size());
        assertEquals(List.of(Digest.parse(A), Digest.parse(B), Digest.parse(C)), m.references());
        assertEquals(List.of("org.opencontainers.image.created", "org.opencontainers.image.revision"),
                List.copyOf(m.annotations().keySet()), "annotations keep their order");
        assertNull(m.subject());
        assertFalse(m.isBuildKitCache());
        assertEquals("application/vnd.oci.image.config.v1+json", m.referrerArtifactType());
    }

    @Test
    void dockerV2Schema2ManifestTakesItsMediaTypeFromTheBody() {
        String body = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.DOCKER_MANIFEST + "\","
                + "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":7023,"
                + "\"digest\":\"" + A + "\"},\"layers\":[{\"mediaType\":"
                + "\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":32654,\"digest\":\"" + B + "\"},"
                + "{\"mediaType\":\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\"size\":1,"
                + "\"digest\":\"" + C + "\",\"urls\":[\"https://mcr.microsoft.com/v2/x/blobs/" + C + "\"]}]}";
        ImageManifest m = assertInstanceOf(ImageManifest.class, PARSER.parse(null, utf8(body)));
        assertEquals(MediaTypes.DOCKER_MANIFEST, m.mediaType());
        assertTrue(m.layers().get(1).isNondistributable());
        assertEquals(List.of("https://mcr.microsoft.com/v2/x/blobs/" + C), m.layers().get(1).urls());
        // A foreign layer need not be held, so it is no reference; the config always is.
        assertEquals(List.of(Digest.parse(A), Digest.parse(B)), m.references());
        // A Content-Type with parameters names the same type.
        assertEquals(MediaTypes.DOCKER_MANIFEST,
                PARSER.parse(MediaTypes.DOCKER_MANIFEST + "; charset=utf-8", utf8(body)).mediaType());
    }

    @Test
    void mediaTypeIsInferredFromTheShapeWhenNothingStatesIt() {
        assertEquals(MediaTypes.OCI_MANIFEST, PARSER.parse(null, utf8("{\"schemaVersion\":2,\"layers\":[]}")).mediaType());
        assertEquals(MediaTypes.OCI_INDEX, PARSER.parse("", utf8("{\"schemaVersion\":2,\"manifests\":[]}")).mediaType());
        assertEquals(MediaTypes.DOCKER_MANIFEST_V1, PARSER.parse(null, utf8("{\"schemaVersion\":1}")).mediaType());
        assertEquals(MediaTypes.DOCKER_MANIFEST_V1_SIGNED,
                PARSER.parse(null, utf8("{\"schemaVersion\":1,\"signatures\":[]}")).mediaType());
    }

    @Test
    void imageIndexWithPlatforms() {
        String body = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_INDEX + "\",\"manifests\":["
                + "{\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"digest\":\"" + A + "\",\"size\":481,"
                + "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
                + "{\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"digest\":\"" + B + "\",\"size\":481,"
                + "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
                + "{\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"digest\":\"" + C + "\",\"size\":566,"
                + "\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\",\"os.version\":\"10.0.17763.5329\","
                + "\"os.features\":[\"win32k\"]}},"
                + "{\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"digest\":\"" + D + "\",\"size\":566,"
                + "\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"},"
                + "\"platform\":\"unknown/unknown\"}]}";
        ImageIndex index = assertInstanceOf(ImageIndex.class, PARSER.parse(MediaTypes.OCI_INDEX, utf8(body)));
        assertEquals(List.of("linux/amd64", "linux/arm64/v8", "windows/amd64", "?/?"),
                index.manifests().stream().map(d -> d.platform().label()).toList());
        assertEquals(new Platform("windows", "amd64", null, "10.0.17763.5329", List.of("win32k")),
                index.manifests().get(2).platform());
        assertEquals(Map.of("vnd.docker.reference.type", "attestation-manifest"), index.manifests().get(3).annotations());
        assertEquals(List.of(A, B, C, D).stream().map(Digest::parse).toList(), index.references());
        assertNull(index.buildKitCacheConfig());
        assertTrue(BuildKitCache.of(index).isEmpty());
    }

    @Test
    void referrerWithSubjectAndArtifactType() {
        String body = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\","
                + "\"artifactType\":\"application/spdx+json\","
                + "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"" + A + "\",\"size\":2},"
                + "\"layers\":[{\"mediaType\":\"application/spdx+json\",\"digest\":\"" + B + "\",\"size\":10}],"
                + "\"subject\":{\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"digest\":\"" + C + "\",\"size\":7},"
                + "\"annotations\":{\"org.example.note\":\"sbom\",\"org.example.seed\":42}}";
        Manifest m = PARSER.parse(null, utf8(body));
        assertEquals(Digest.parse(C), m.subject().digest());
        assertEquals("application/spdx+json", m.referrerArtifactType());
        assertFalse(m.references().contains(Digest.parse(C)), "a subject need not be held");
        assertEquals(Map.of("org.example.note", "sbom"), m.annotations(), "only string annotations are typed");
    }

    @Test
    void buildKitCacheAsImageManifest() {
        String body = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"config\":{"
                + "\"mediaType\":\"" + MediaTypes.BUILDKIT_CACHE_CONFIG + "\",\"digest\":\"" + A + "\",\"size\":900},"
                + "\"layers\":[" + cacheLayer(B) + "," + cacheLayer(C) + "]}";
        ImageManifest m = assertInstanceOf(ImageManifest.class, PARSER.parse(MediaTypes.OCI_MANIFEST, utf8(body)));
        assertTrue(m.isBuildKitCache());
        BuildKitCache cache = BuildKitCache.of(m).orElseThrow();
        assertEquals(BuildKitCache.Shape.IMAGE_MANIFEST, cache.shape());
        assertEquals(Digest.parse(A), cache.config().digest());
        assertEquals(List.of(Digest.parse(B), Digest.parse(C)), cache.layers().stream().map(Descriptor::digest).toList());
        assertEquals("sha256:" + "e".repeat(64), cache.layers().get(0).annotations().get("containerd.io/uncompressed"));
    }

    @Test
    void buildKitCacheAsIndexOfBlobs() {
        String body = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_INDEX + "\",\"manifests\":["
                + cacheLayer(B) + "," + cacheLayer(C) + ",{\"mediaType\":\"" + MediaTypes.BUILDKIT_CACHE_CONFIG
                + "\",\"digest\":\"" + A + "\",\"size\":900}]}";
        ImageIndex index = assertInstanceOf(ImageIndex.class, PARSER.parse(MediaTypes.OCI_INDEX, utf8(body)));
        assertEquals(Digest.parse(A), index.buildKitCacheConfig().digest());
        BuildKitCache cache = BuildKitCache.of(index).orElseThrow();
        assertEquals(BuildKitCache.Shape.INDEX, cache.shape());
        assertEquals(List.of(Digest.parse(B), Digest.parse(C)), cache.layers().stream().map(Descriptor::digest).toList(),
                "the cache config is no layer");
        assertEquals(List.of(Digest.parse(B), Digest.parse(C), Digest.parse(A)), index.references());
    }

    private static String cacheLayer(String digest) {
        return "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" + digest
                + "\",\"size\":1234,\"annotations\":{\"buildkit/createdat\":\"2024-01-01T00:00:00Z\","
                + "\"containerd.io/uncompressed\":\"sha256:" + "e".repeat(64) + "\"}}";
    }

    @Test
    void nullFieldsAreAbsent() {
        ImageManifest m = assertInstanceOf(ImageManifest.class, PARSER.parse(null, utf8(
                "{\"schemaVersion\":2,\"config\":null,\"subject\":null,\"layers\":[null,{\"digest\":\"" + A
                        + "\"}],\"blobs\":null,\"manifests\":null}")));
        assertNull(m.config());
        assertNull(m.subject());
        assertEquals(1, m.layers().size());
        assertFalse(m.layers().get(0).statesSize());
        assertEquals(Descriptor.UNSTATED, m.layers().get(0).size());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "not json at all                                        | manifest is not valid JSON",
        "[]                                                     | manifest must be a JSON object",
        "42                                                     | manifest must be a JSON object",
        "''                                                     | manifest must be a JSON object",
        "{\"schemaVersion\":2,\"schemaVersion\":2}              | manifest is not valid JSON",
        "{\"schemaVersion\":2} {}                               | manifest is not valid JSON",
        "{\"schemaVersion\":3}                                  | schemaVersion must be 2 for application/vnd.oci.image.manifest.v1+json",
        "{\"schemaVersion\":\"2\"}                              | schemaVersion must be 2",
        "{\"mediaType\":\"a b/c\"}                              | invalid media type: a b/c",
        "{\"config\":{\"mediaType\":\"x\"}}                     | config must be a descriptor with a digest",
        "{\"config\":\"sha256:abc\"}                            | config must be a descriptor with a digest",
        "{\"config\":{\"digest\":\"sha256:short\"}}             | config has an invalid digest",
        "{\"config\":{\"digest\":\"" + "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"size\":-1}} | config has an invalid size",
        "{\"layers\":{}}                                        | layers must be an array",
        "{\"layers\":[{\"digest\":7}]}                          | layers[] must be a descriptor with a digest",
        "{\"blobs\":[{\"digest\":\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"size\":\"7\"}]} | blobs[] has an invalid size",
        "{\"manifests\":[{\"digest\":\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"size\":1e300}]} | manifests[] has an invalid size",
        "{\"subject\":[]}                                       | subject must be a descriptor with a digest",
    })
    void malformedManifestsAreRefusedWithTheirReason(String body, String reason) {
        String message = refused(null, body.strip()).getMessage();
        assertTrue(message.startsWith(reason.strip()), message);
    }

    @Test
    void theFirstFaultInFieldOrderIsTheOneReported() {
        String both = "{\"subject\":{\"digest\":\"x\"},\"config\":{},\"layers\":7}";
        assertEquals("subject has an invalid digest", refused(null, both).getMessage());
        assertEquals("config must be a descriptor with a digest",
                refused(null, "{\"layers\":7,\"config\":{}}").getMessage());
    }

    @Test
    void contentTypeMustAgreeWithTheBody() {
        assertEquals("mediaType " + MediaTypes.OCI_MANIFEST + " does not match Content-Type " + MediaTypes.OCI_INDEX,
                refused(MediaTypes.OCI_INDEX, OCI_IMAGE).getMessage());
    }

    @Test
    void aDocumentIsAnIndexOrAnImageNeverBoth() {
        String body = "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" + A + "\"}],\"layers\":[{\"digest\":\""
                + B + "\"}]}";
        refused(null, body);
        // Stored by an older version, it still reads as the index it declares.
        ImageIndex stored = assertInstanceOf(ImageIndex.class, PARSER.parseStored(MediaTypes.OCI_INDEX, utf8(body)));
        assertEquals(List.of(Digest.parse(A)), stored.references());
        // Empty image fields are nothing to choose between.
        assertInstanceOf(ImageIndex.class, PARSER.parse(null, utf8("{\"manifests\":[],\"layers\":[],\"config\":null}")));
    }

    @Test
    void anIndexMediaTypeWithoutManifestsIsAnImageShapeTheRegistryRefusesLater() {
        // The refusal comes after the blob checks (ManifestService), so a missing blob is reported first.
        Manifest m = PARSER.parse(MediaTypes.OCI_INDEX, utf8("{\"schemaVersion\":2}"));
        assertInstanceOf(ImageManifest.class, m);
        assertTrue(MediaTypes.isIndex(m.mediaType()));
    }

    @Test
    void storedManifestsAreReadLeniently() {
        // Keys twice and trailing bytes are refused on push, not when reading what is stored.
        String body = "{\"schemaVersion\":2,\"layers\":[],\"layers\":[{\"digest\":\"" + A + "\"}]} ";
        refused(MediaTypes.OCI_MANIFEST, body);
        ImageManifest m = assertInstanceOf(ImageManifest.class, PARSER.parseStored(MediaTypes.OCI_MANIFEST, utf8(body)));
        assertEquals(List.of(Digest.parse(A)), m.references());
        assertEquals("application/x-anything", PARSER.parseStored("application/x-anything", utf8("{}")).mediaType());
    }

    @Test
    void theMappersLimitsApply() {
        ObjectMapper limited = new ObjectMapper();
        limited.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(64).build());
        String deep = "{\"schemaVersion\":2,\"annotations\":" + "{\"a\":".repeat(100) + "1" + "}".repeat(100) + "}";
        RegistryException e = assertThrows(RegistryException.class,
                () -> new ManifestParser(limited).parse(null, utf8(deep)));
        assertEquals(ErrorCode.MANIFEST_INVALID, e.code());
        assertTrue(e.getMessage().contains("nesting depth"), e.getMessage());
    }

    @Test
    void parsingLeavesTheBytesAsTheyCame() {
        byte[] body = utf8(OCI_IMAGE.replace("\n", "\r\n").replace("1d2f3c", "caf\\u00e9"));
        byte[] copy = body.clone();
        Manifest m = PARSER.parse(null, body);
        assertArrayEquals(copy, body);
        assertEquals("caf\u00e9", m.annotations().get("org.opencontainers.image.revision"));
    }

    @Test
    void imageConfigHistoryNamesTheLayers() {
        String config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"history\":["
                + "{\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"/bin/sh -c #(nop) ADD file:abc in / \"},"
                + "{\"created_by\":\"/bin/sh -c #(nop)  CMD [\\\"sh\\\"]\",\"empty_layer\":true},"
                + "{\"created_by\":\"RUN /bin/sh -c make # buildkit\",\"comment\":\"buildkit.dockerfile.v0\"},"
                + "{\"comment\":\"imported\"},{}]}";
        ImageConfig c = PARSER.parseImageConfig(utf8(config)).orElseThrow();
        assertEquals(5, c.history().size());
        assertEquals(List.of("/bin/sh -c #(nop) ADD file:abc in /", "RUN /bin/sh -c make # buildkit", "imported",
                "unknown"), c.layerInstructions());
        assertTrue(PARSER.parseImageConfig(utf8("not json")).isEmpty());
        assertEquals(List.of(), PARSER.parseImageConfig(utf8("[1,2]")).orElseThrow().layerInstructions());
    }
}
