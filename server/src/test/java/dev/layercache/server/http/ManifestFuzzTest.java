package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.OCI_CONFIG;
import static dev.layercache.server.http.Oci.OCI_LAYER;
import static dev.layercache.server.http.Oci.sha256;
import static dev.layercache.server.http.Oci.utf8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.testing.Fuzz;
import dev.layercache.server.testing.TestServer;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Bounded fuzzing of manifest parsing on a live node: random JSON documents (valid manifests
 * mutated: random nesting, values of the wrong type where descriptors belong, random media types,
 * huge and negative sizes, missing fields, keys twice, trailing bytes) pushed by tag or digest.
 * Every answer is 201 or a 4xx with an OCI error code, never a 5xx; what was accepted reads back
 * byte for byte, with the digest it was acknowledged under.
 */
@Timeout(180)
class ManifestFuzzTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String REPO = "fuzz/manifests";
    private static final Set<String> CODES = Set.of("MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN", "DIGEST_INVALID",
            "TAG_INVALID", "NAME_INVALID", "BAD_REQUEST");
    private static final List<String> MEDIA_TYPES = List.of(Oci.OCI_MANIFEST, Oci.OCI_INDEX, Oci.DOCKER_MANIFEST,
            Oci.DOCKER_LIST, MediaTypes.DOCKER_MANIFEST_V1, Oci.BUILDKIT_CACHE_CONFIG, "application/json",
            "application/vnd.oci.image.manifest.v1+json; charset=utf-8", "text/plain", "x/y", "", " ",
            "application/vnd.oci.image.manifest.v1+json\u0000", "a b/c", "application/", "/json", "\u00e9/\u00e9",
            "application/vnd." + "x".repeat(300));

    @RegisterExtension
    static final TestServer server = new TestServer();
    private static final Oci oci = new Oci(server);
    private static final List<Oci.Blob> blobs = new ArrayList<>();

    @BeforeAll
    static void pushBlobs() {
        blobs.add(oci.pushBlob(REPO, OCI_CONFIG, utf8("{\"os\":\"linux\"}")));
        for (int i = 0; i < 3; i++) {
            blobs.add(oci.pushBlob(REPO, OCI_LAYER, utf8("fuzzed layer " + i)));
        }
    }

    private record Push(String reference, String contentType, byte[] body) {
        @Override
        public String toString() {
            return "PUT " + reference + " (" + contentType + "): " + new String(body, StandardCharsets.UTF_8);
        }
    }

    @Test
    void everyPushIsAcceptedWhole_orRefusedWithAnOciError() {
        int[] accepted = {0};
        Fuzz.forAll(20261130L, 1500, ManifestFuzzTest::push, push -> {
            List<String> headers = push.contentType() == null ? List.of() : List.of("Content-Type: " + push.contentType());
            Oci.Res r = oci.raw("PUT", "/v2/" + REPO + "/manifests/" + push.reference(), headers, push.body());
            if (r.status() == 201) {
                accepted[0]++;
                String digest = sha256(push.body());
                assertEquals(digest, r.header("Docker-Content-Digest"), r::toString);
                Oci.Res back = oci.raw("GET", "/v2/" + REPO + "/manifests/" + digest, List.of(), null);
                assertEquals(200, back.status(), back::toString);
                assertArrayEquals(push.body(), back.body());
                assertTrue(MediaTypes.isWellFormed(back.header("Content-Type")), back::toString);
                return;
            }
            assertTrue(r.status() == 400 || r.status() == 413, r::toString);
            String code = r.json().path("errors").path(0).path("code").asText();
            assertTrue(CODES.contains(code), r::toString);
        });
        // Some of the mutated documents must still be manifests, or the fuzzing tests only the refusals.
        assertTrue(accepted[0] > 20, "only " + accepted[0] + " pushes were accepted");
        assertEquals(200, oci.raw("GET", "/v2/", List.of(), null).status());
    }

    private static Push push(Fuzz f) {
        ObjectNode doc = f.chance(0.1) ? randomObject(f, f.between(0, 90)) : manifest(f);
        int mutations = f.pick(0, 0, 1, 1, 2, 3, 6);
        for (int i = 0; i < mutations; i++) {
            mutate(f, doc);
        }
        byte[] body;
        try {
            body = JSON.writeValueAsBytes(doc);
        } catch (JsonProcessingException e) {
            throw new AssertionError(e);
        }
        String text = new String(body, StandardCharsets.UTF_8);
        if (f.chance(0.05)) {
            body = utf8(text + f.pick(" ", "\n", "}", "{}", "x", "[]"));
        } else if (f.chance(0.05) && text.length() > 2) {
            body = utf8(text.substring(0, text.length() - 1) + ",\"schemaVersion\":2}");
        } else if (f.chance(0.03)) {
            body = utf8(text.substring(0, f.between(0, text.length())));
        }
        String digest = sha256(body);
        String reference = f.pick("fuzz", "t" + f.between(0, 9), digest, digest, sha256(utf8("other")),
                digest.toUpperCase(), "bad tag", "-x", "a".repeat(129));
        String contentType = f.chance(0.3) ? null : doc.path("mediaType").isTextual() && f.chance(0.5)
                ? doc.get("mediaType").asText() : f.pick(MEDIA_TYPES);
        return new Push(reference.replace(" ", "%20"), contentType, body);
    }

    /** A valid manifest of the pushed blobs: an image manifest, an index of blobs, or a v1-style one. */
    private static ObjectNode manifest(Fuzz f) {
        ObjectNode m = JSON.createObjectNode();
        m.put("schemaVersion", 2);
        if (f.chance(0.3)) {
            m.put("mediaType", Oci.OCI_INDEX);
            ArrayNode children = m.putArray("manifests");
            for (int i = 1; i < blobs.size(); i++) {
                children.add(descriptor(blobs.get(i)));
            }
            return m;
        }
        m.put("mediaType", f.pick(Oci.OCI_MANIFEST, Oci.DOCKER_MANIFEST));
        m.set("config", descriptor(blobs.get(0)));
        ArrayNode layers = m.putArray("layers");
        for (int i = 1; i < 1 + f.between(0, blobs.size() - 1); i++) {
            layers.add(descriptor(blobs.get(i)));
        }
        if (f.chance(0.3)) {
            m.putObject("annotations").put("org.example.seed", f.between(0, 1_000_000));
        }
        return m;
    }

    private static ObjectNode descriptor(Oci.Blob b) {
        ObjectNode d = JSON.createObjectNode();
        d.put("mediaType", b.mediaType());
        d.put("digest", b.digest());
        d.put("size", b.size());
        return d;
    }

    /** Replaces, removes or adds one value somewhere in the document. */
    private static void mutate(Fuzz f, ObjectNode doc) {
        List<ObjectNode> objects = new ArrayList<>();
        collect(doc, objects);
        ObjectNode target = f.pick(objects);
        List<String> fields = new ArrayList<>();
        target.fieldNames().forEachRemaining(fields::add);
        String field = fields.isEmpty() || f.chance(0.2)
                ? f.pick("schemaVersion", "mediaType", "config", "layers", "manifests", "blobs", "subject", "digest",
                        "size", "urls", "annotations", "artifactType", "x")
                : f.pick(fields);
        if (f.chance(0.2)) {
            target.remove(field);
        } else {
            target.set(field, value(f, field, f.between(0, 3)));
        }
    }

    private static void collect(JsonNode node, List<ObjectNode> out) {
        if (node instanceof ObjectNode o) {
            out.add(o);
        }
        node.forEach(child -> collect(child, out));
    }

    /** A value for {@code field}: often one of the right kind but wrong, sometimes anything at all. */
    private static JsonNode value(Fuzz f, String field, int depth) {
        if (f.chance(0.5)) {
            switch (field) {
                case "size", "schemaVersion" -> {
                    return f.chance(0.7) ? JSON.getNodeFactory().numberNode(f.edgyLong())
                            : f.pick(JSON.getNodeFactory().numberNode(new BigInteger("9".repeat(f.between(19, 400)))),
                            JSON.getNodeFactory().numberNode(1e308), JSON.getNodeFactory().numberNode(-0.5),
                            JSON.getNodeFactory().textNode("2"));
                }
                case "digest" -> {
                    Oci.Blob b = f.pick(blobs);
                    return JSON.getNodeFactory().textNode(f.pick(b.digest(), b.digest().toUpperCase(),
                            b.digest().substring(0, 20), "md5:" + "a".repeat(32), "sha512:" + b.digest().substring(7),
                            sha256(f.bytes(8)), " " + b.digest(), ""));
                }
                case "mediaType", "artifactType" -> {
                    return JSON.getNodeFactory().textNode(f.pick(MEDIA_TYPES));
                }
                case "config", "subject" -> {
                    return f.chance(0.5) ? descriptor(f.pick(blobs)) : randomValue(f, depth);
                }
                case "layers", "manifests", "blobs" -> {
                    ArrayNode a = JSON.createArrayNode();
                    for (int i = f.between(0, 4); i > 0; i--) {
                        a.add(f.chance(0.6) ? descriptor(f.pick(blobs)) : randomValue(f, depth));
                    }
                    return a;
                }
                default -> {
                    // anything below
                }
            }
        }
        return f.chance(0.05) ? randomObject(f, f.between(50, 90)) : randomValue(f, depth);
    }

    private static JsonNode randomValue(Fuzz f, int depth) {
        int kind = f.between(0, depth <= 0 ? 5 : 7);
        return switch (kind) {
            case 0 -> JSON.getNodeFactory().nullNode();
            case 1 -> JSON.getNodeFactory().booleanNode(f.chance(0.5));
            case 2 -> JSON.getNodeFactory().numberNode(f.edgyLong());
            case 3 -> JSON.getNodeFactory().numberNode(f.random().nextGaussian() * 1e300);
            case 4 -> JSON.getNodeFactory().textNode(new String(f.bytes(20), StandardCharsets.ISO_8859_1));
            case 5 -> JSON.getNodeFactory().textNode(f.string("abcdef0123456789:/.-", 0, 80));
            case 6 -> {
                ArrayNode a = JSON.createArrayNode();
                for (int i = f.between(0, 4); i > 0; i--) {
                    a.add(randomValue(f, depth - 1));
                }
                yield a;
            }
            default -> randomObject(f, depth - 1);
        };
    }

    /** An object nested {@code depth} deep (past the parser's limit of 64 from time to time). */
    private static ObjectNode randomObject(Fuzz f, int depth) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode o = root;
        for (int i = 0; i < depth; i++) {
            o.set(f.pick("schemaVersion", "mediaType", "config", "layers", "a"), randomValue(f, 0));
            o = o.putObject(f.pick("config", "annotations", "x"));
        }
        return root;
    }
}
