package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.BUILDKIT_CACHE_CONFIG;
import static dev.layercache.server.http.Oci.OCI_CONFIG;
import static dev.layercache.server.http.Oci.OCI_INDEX;
import static dev.layercache.server.http.Oci.OCI_LAYER;
import static dev.layercache.server.http.Oci.OCI_MANIFEST;
import static dev.layercache.server.http.Oci.random;
import static dev.layercache.server.http.Oci.sha256;
import static dev.layercache.server.http.Oci.utf8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.server.testing.TestServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Manifests are parsed into typed records to be checked, and stored as the bytes that came:
 * formatting, key order, escapes, numbers as written and fields the server does not know all
 * come back unchanged, under the digest of those bytes.
 */
@Timeout(60)
class ManifestBytesTest {
    @RegisterExtension
    static final TestServer server = new TestServer();
    private final Oci oci = new Oci(server);

    /** Pushes {@code body} by tag, then reads it back by tag and by digest, byte for byte. */
    private String roundTrip(String repo, String tag, String contentType, byte[] body) {
        String digest = oci.pushManifest(repo, tag, contentType, body);
        for (String reference : new String[] {tag, digest}) {
            Oci.Res get = oci.get("/v2/" + repo + "/manifests/" + reference);
            assertEquals(200, get.status(), get::toString);
            assertArrayEquals(body, get.body(), reference);
            assertEquals(digest, get.header("Docker-Content-Digest"));
            assertEquals(contentType, get.header("Content-Type"));
        }
        return digest;
    }

    @Test
    void anImageManifestComesBackAsWritten() {
        String repo = "bytes/image";
        Oci.Blob config = oci.pushBlob(repo, OCI_CONFIG, utf8("{\"os\":\"linux\"}"));
        Oci.Blob layer = oci.pushBlob(repo, OCI_LAYER, random(20, 91));
        // Layers before config, CRLF and tabs, an escaped character, a size written as 2.0E1,
        // annotations of a type the spec forbids, and a field nobody defines.
        byte[] body = utf8("{\r\n\t\"layers\" : [ {\"size\":2.0E1,\"digest\":\"" + layer.digest() + "\",\"mediaType\":\""
                + OCI_LAYER + "\"} ],\r\n\t\"config\":{\"mediaType\":\"" + OCI_CONFIG + "\",\"digest\":\""
                + config.digest() + "\",\"size\":" + config.size() + "},\r\n\t\"schemaVersion\":2,"
                + "\"annotations\":{\"org.example.name\":\"caf\\u00e9\",\"org.example.n\":7},\"x-extra\":[1,{}]}\r\n");
        assertEquals(sha256(body), roundTrip(repo, "v1", OCI_MANIFEST, body));
    }

    @Test
    void aBuildKitCacheIndexComesBackAsWritten() {
        String repo = "bytes/cache";
        Oci.Blob layer = oci.pushBlob(repo, OCI_LAYER, random(300, 92));
        Oci.Blob cacheConfig = oci.pushBlob(repo, BUILDKIT_CACHE_CONFIG, utf8("{\"layers\":[{\"blob\":\""
                + layer.digest() + "\",\"parent\":-1}],\"records\":[{\"digest\":\"sha256:" + "1".repeat(64)
                + "\",\"layers\":[{\"layer\":0}]}]}"));
        byte[] body = utf8("{\"schemaVersion\":2,\"mediaType\":\"" + OCI_INDEX + "\",\"manifests\":[{\"mediaType\":\""
                + OCI_LAYER + "\",\"digest\":\"" + layer.digest() + "\",\"size\":300,\"annotations\":{"
                + "\"buildkit/createdat\":\"2024-01-01T00:00:00.123456789Z\",\"containerd.io/uncompressed\":\"sha256:"
                + "2".repeat(64) + "\"}},{\"mediaType\":\"" + BUILDKIT_CACHE_CONFIG + "\",\"digest\":\""
                + cacheConfig.digest() + "\",\"size\":" + cacheConfig.size() + "}]}");
        roundTrip(repo, "cache", OCI_INDEX, body);
    }

    @Test
    void aReferrerIsListedFromItsTypedFields() {
        String repo = "bytes/referrer";
        Oci.Blob config = oci.pushBlob(repo, OCI_CONFIG, utf8("{}"));
        Oci.Blob layer = oci.pushBlob(repo, OCI_LAYER, random(10, 93));
        byte[] subject = Oci.imageManifest(OCI_MANIFEST, config, layer);
        String subjectDigest = oci.pushManifest(repo, "app", OCI_MANIFEST, subject);
        Oci.Blob sbom = oci.pushBlob(repo, "application/spdx+json", utf8("{\"spdxVersion\":\"SPDX-2.3\"}"));
        byte[] body = utf8("{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\","
                + "\"config\":{\"mediaType\":\"application/vnd.example.sbom\",\"digest\":\"" + config.digest()
                + "\",\"size\":" + config.size() + "},\"layers\":[" + sbom.descriptor() + "],"
                + "\"subject\":{\"mediaType\":\"" + OCI_MANIFEST + "\",\"digest\":\"" + subjectDigest + "\",\"size\":"
                + subject.length + "},\"annotations\":{\"org.example.note\":\"sbom\",\"org.example.n\":7}}");
        String digest = roundTrip(repo, "sbom", OCI_MANIFEST, body);

        JsonNode listing = oci.get("/v2/" + repo + "/referrers/" + subjectDigest).json();
        assertEquals(1, listing.path("manifests").size(), listing::toString);
        JsonNode d = listing.path("manifests").get(0);
        assertEquals(OCI_MANIFEST, d.path("mediaType").asText());
        assertEquals(digest, d.path("digest").asText());
        assertEquals(body.length, d.path("size").asLong());
        assertEquals("application/vnd.example.sbom", d.path("artifactType").asText(), "the config's type");
        assertEquals("{\"org.example.note\":\"sbom\"}", d.path("annotations").toString(),
                "string annotations (the only kind the spec allows)");
    }
}
