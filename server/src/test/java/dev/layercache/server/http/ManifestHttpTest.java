package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.BUILDKIT_CACHE_CONFIG;
import static dev.layercache.server.http.Oci.DOCKER_CONFIG;
import static dev.layercache.server.http.Oci.DOCKER_LAYER;
import static dev.layercache.server.http.Oci.DOCKER_LIST;
import static dev.layercache.server.http.Oci.DOCKER_MANIFEST;
import static dev.layercache.server.http.Oci.OCI_CONFIG;
import static dev.layercache.server.http.Oci.OCI_EMPTY;
import static dev.layercache.server.http.Oci.OCI_INDEX;
import static dev.layercache.server.http.Oci.OCI_LAYER;
import static dev.layercache.server.http.Oci.OCI_MANIFEST;
import static dev.layercache.server.http.Oci.assertError;
import static dev.layercache.server.http.Oci.assertErrorBody;
import static dev.layercache.server.http.Oci.imageManifest;
import static dev.layercache.server.http.Oci.index;
import static dev.layercache.server.http.Oci.random;
import static dev.layercache.server.http.Oci.sha256;
import static dev.layercache.server.http.Oci.utf8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@code /v2/<name>/manifests/<reference>}: PUT, GET, HEAD, DELETE by tag and digest. */
@Timeout(60)
class ManifestHttpTest {
    @RegisterExtension
    static final TestServer server = new TestServer();
    private final Oci oci = new Oci(server);

    private Oci.Blob config(String repo, String seed) {
        return oci.pushBlob(repo, OCI_CONFIG, utf8("{\"os\":\"linux\",\"seed\":\"" + seed + "\"}"));
    }

    private Oci.Blob layer(String repo, String seed) {
        return oci.pushBlob(repo, OCI_LAYER, utf8("layer " + seed));
    }

    // ---- push and pull ---------------------------------------------------------------------

    @Test
    void putByTag() {
        String repo = "mf/bytag";
        byte[] m = imageManifest(OCI_MANIFEST, config(repo, "t"), layer(repo, "t"));
        Oci.Res r = oci.putManifest(repo, "v1", OCI_MANIFEST, m);
        assertEquals(201, r.status(), r::toString);
        assertEquals("/v2/" + repo + "/manifests/" + sha256(m), Oci.path(r.header("Location")));
        assertEquals(sha256(m), r.header("Docker-Content-Digest"));
        assertEquals(null, r.header("OCI-Subject"));
    }

    @Test
    void putByDigest() {
        String repo = "mf/bydigest";
        byte[] m = imageManifest(OCI_MANIFEST, config(repo, "d"), layer(repo, "d"));
        Oci.Res r = oci.putManifest(repo, sha256(m), OCI_MANIFEST, m);
        assertEquals(201, r.status(), r::toString);
        assertEquals("/v2/" + repo + "/manifests/" + sha256(m), Oci.path(r.header("Location")));
        assertEquals(sha256(m), r.header("Docker-Content-Digest"));
        assertArrayEquals(m, oci.get("/v2/" + repo + "/manifests/" + sha256(m)).body());
        assertError(oci.get("/v2/" + repo + "/manifests/latest"), 404, "MANIFEST_UNKNOWN");
    }

    @Test
    void getAndHeadByTagAndDigestAreByteIdentical() {
        String repo = "mf/get";
        // Odd but valid formatting: the server must hand back exactly these bytes.
        byte[] m = utf8(new String(imageManifest(OCI_MANIFEST, config(repo, "g"), layer(repo, "g")),
                StandardCharsets.UTF_8).replace("\n", "\r\n\t ") + "   ");
        String d = oci.pushManifest(repo, "latest", OCI_MANIFEST, m);

        for (String ref : List.of("latest", d)) {
            Oci.Res get = oci.get("/v2/" + repo + "/manifests/" + ref);
            assertEquals(200, get.status(), get::toString);
            assertArrayEquals(m, get.body());
            assertEquals(OCI_MANIFEST, get.header("Content-Type"));
            assertEquals(d, get.header("Docker-Content-Digest"));
            assertEquals(Integer.toString(m.length), get.header("Content-Length"));

            Oci.Res head = oci.head("/v2/" + repo + "/manifests/" + ref);
            assertEquals(200, head.status());
            assertEquals(OCI_MANIFEST, head.header("Content-Type"));
            assertEquals(d, head.header("Docker-Content-Digest"));
            assertEquals(Integer.toString(m.length), head.header("Content-Length"));
        }
    }

    @Test
    void retaggingMovesTheTag() {
        String repo = "mf/retag";
        byte[] a = imageManifest(OCI_MANIFEST, config(repo, "a"), layer(repo, "a"));
        byte[] b = imageManifest(OCI_MANIFEST, config(repo, "b"), layer(repo, "b"));
        oci.pushManifest(repo, "latest", OCI_MANIFEST, a);
        oci.pushManifest(repo, "latest", OCI_MANIFEST, b);
        assertArrayEquals(b, oci.get("/v2/" + repo + "/manifests/latest").body());
        assertArrayEquals(a, oci.get("/v2/" + repo + "/manifests/" + sha256(a)).body());
    }

    @Test
    void dockerSchema2ManifestAndManifestList() {
        String repo = "mf/docker";
        Oci.Blob cfg = oci.pushBlob(repo, DOCKER_CONFIG, utf8("{\"architecture\":\"amd64\"}"));
        Oci.Blob lyr = oci.pushBlob(repo, DOCKER_LAYER, random(500, 60));
        byte[] m = imageManifest(DOCKER_MANIFEST, cfg, lyr);
        String md = oci.pushManifest(repo, "amd64", DOCKER_MANIFEST, m);

        Oci.Blob cfg2 = oci.pushBlob(repo, DOCKER_CONFIG, utf8("{\"architecture\":\"arm64\"}"));
        byte[] m2 = imageManifest(DOCKER_MANIFEST, cfg2, lyr);
        String md2 = oci.pushManifest(repo, sha256(m2), DOCKER_MANIFEST, m2);

        byte[] list = utf8("{\"schemaVersion\":2,\"mediaType\":\"" + DOCKER_LIST + "\",\"manifests\":["
                + "{\"mediaType\":\"" + DOCKER_MANIFEST + "\",\"digest\":\"" + md + "\",\"size\":" + m.length
                + ",\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
                + "{\"mediaType\":\"" + DOCKER_MANIFEST + "\",\"digest\":\"" + md2 + "\",\"size\":" + m2.length
                + ",\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}");
        String ld = oci.pushManifest(repo, "multi", DOCKER_LIST, list);

        Oci.Res get = oci.get("/v2/" + repo + "/manifests/multi");
        assertEquals(200, get.status());
        assertEquals(DOCKER_LIST, get.header("Content-Type"));
        assertEquals(ld, get.header("Docker-Content-Digest"));
        assertArrayEquals(list, get.body());

        Oci.Res child = oci.get("/v2/" + repo + "/manifests/amd64");
        assertEquals(DOCKER_MANIFEST, child.header("Content-Type"));
        assertArrayEquals(m, child.body());
    }

    @Test
    void ociIndex() {
        String repo = "mf/ociindex";
        byte[] m = imageManifest(OCI_MANIFEST, config(repo, "i"), layer(repo, "i"));
        String md = oci.pushManifest(repo, sha256(m), OCI_MANIFEST, m);
        byte[] idx = index(OCI_INDEX, new Oci.Blob(OCI_MANIFEST, md, m.length));
        String id = oci.pushManifest(repo, "index", OCI_INDEX, idx);
        Oci.Res get = oci.get("/v2/" + repo + "/manifests/index");
        assertEquals(OCI_INDEX, get.header("Content-Type"));
        assertEquals(id, get.header("Docker-Content-Digest"));
        assertArrayEquals(idx, get.body());
    }

    @Test
    void artifactWithAnUnknownMediaType() {
        String repo = "mf/artifact";
        String type = "application/vnd.example.thing.v1+json";
        Oci.Blob empty = oci.pushBlob(repo, OCI_EMPTY, utf8("{}"));
        Oci.Blob payload = oci.pushBlob(repo, "application/vnd.example.payload", random(100, 61));
        byte[] m = utf8("{\"schemaVersion\":2,\"artifactType\":\"application/vnd.example.kind\",\"config\":"
                + empty.descriptor() + ",\"layers\":[" + payload.descriptor() + "]}");
        String d = oci.pushManifest(repo, "thing", type, m);
        Oci.Res get = oci.get("/v2/" + repo + "/manifests/thing");
        assertEquals(200, get.status());
        assertEquals(type, get.header("Content-Type"));
        assertEquals(d, get.header("Docker-Content-Digest"));
        assertArrayEquals(m, get.body());
    }

    @Test
    void manifestWithoutContentTypeIsServedWithItsOwnMediaType() {
        String repo = "mf/notype";
        byte[] m = imageManifest(OCI_MANIFEST, config(repo, "n"), layer(repo, "n"));
        oci.pushManifest(repo, "v1", null, m);
        assertEquals(OCI_MANIFEST, oci.get("/v2/" + repo + "/manifests/v1").header("Content-Type"));
    }

    @Test
    void contentTypeContradictingTheManifestIsInvalid() {
        String repo = "mf/contradiction";
        byte[] m = imageManifest(OCI_MANIFEST, config(repo, "c"), layer(repo, "c"));
        assertError(oci.putManifest(repo, "v1", DOCKER_MANIFEST, m), 400, "MANIFEST_INVALID");
    }

    // ---- BuildKit's registry cache --------------------------------------------------------

    @Test
    void buildkitCacheAsImageManifest() {
        // --cache-to type=registry,image-manifest=true
        String repo = "mf/buildkit-manifest";
        Oci.Blob cacheConfig = oci.pushBlob(repo, BUILDKIT_CACHE_CONFIG,
                utf8("{\"layers\":[{\"blob\":\"sha256:x\"}],\"records\":[{\"digest\":\"sha256:y\"}]}"));
        Oci.Blob l1 = oci.pushBlob(repo, OCI_LAYER, random(2000, 62));
        Oci.Blob l2 = oci.pushBlob(repo, OCI_LAYER, random(3000, 63));
        byte[] m = imageManifest(OCI_MANIFEST, cacheConfig, l1, l2);
        String d = oci.pushManifest(repo, "cache", OCI_MANIFEST, m);
        Oci.Res get = oci.get("/v2/" + repo + "/manifests/cache", "Accept", OCI_MANIFEST + ", " + OCI_INDEX);
        assertEquals(200, get.status());
        assertEquals(d, get.header("Docker-Content-Digest"));
        assertArrayEquals(m, get.body());
    }

    @Test
    void buildkitCacheAsIndexOfBlobs() {
        // --cache-to type=registry (the default): an index whose manifests[] are layer blobs and the cache config.
        String repo = "mf/buildkit-index";
        Oci.Blob l1 = oci.pushBlob(repo, OCI_LAYER, random(2000, 64));
        Oci.Blob l2 = oci.pushBlob(repo, OCI_LAYER, random(3000, 65));
        Oci.Blob cacheConfig = oci.pushBlob(repo, BUILDKIT_CACHE_CONFIG, utf8("{\"layers\":[],\"records\":[]}"));
        byte[] idx = utf8("{\"schemaVersion\":2,\"mediaType\":\"" + OCI_INDEX + "\",\"manifests\":["
                + "{\"mediaType\":\"" + OCI_LAYER + "\",\"digest\":\"" + l1.digest() + "\",\"size\":" + l1.size()
                + ",\"annotations\":{\"buildkit/createdat\":\"2024-01-01T00:00:00Z\","
                + "\"containerd.io/uncompressed\":\"" + sha256(new byte[7]) + "\"}},"
                + l2.descriptor() + "," + cacheConfig.descriptor() + "]}");
        String d = oci.pushManifest(repo, "cache", OCI_INDEX, idx);
        Oci.Res get = oci.get("/v2/" + repo + "/manifests/cache");
        assertEquals(200, get.status());
        assertEquals(OCI_INDEX, get.header("Content-Type"));
        assertEquals(d, get.header("Docker-Content-Digest"));
        assertArrayEquals(idx, get.body());
    }

    @Test
    void buildkitCacheIndexWithAMissingBlobIsRefused() {
        String repo = "mf/buildkit-missing";
        Oci.Blob cacheConfig = oci.pushBlob(repo, BUILDKIT_CACHE_CONFIG, utf8("{\"layers\":[]}"));
        Oci.Blob missing = new Oci.Blob(OCI_LAYER, sha256(random(10, 66)), 10);
        Oci.Res r = oci.putManifest(repo, "cache", OCI_INDEX, index(OCI_INDEX, missing, cacheConfig));
        assertError(r, 400, "MANIFEST_BLOB_UNKNOWN");
    }

    // ---- references that must exist --------------------------------------------------------

    @Test
    void missingConfigIsRefused() {
        String repo = "mf/noconfig";
        Oci.Blob missing = new Oci.Blob(OCI_CONFIG, sha256(random(10, 67)), 10);
        Oci.Res r = oci.putManifest(repo, "v1", OCI_MANIFEST, imageManifest(OCI_MANIFEST, missing, layer(repo, "x")));
        assertError(r, 400, "MANIFEST_BLOB_UNKNOWN");
        assertError(oci.get("/v2/" + repo + "/manifests/v1"), 404, "MANIFEST_UNKNOWN");
    }

    @Test
    void missingLayerIsRefused() {
        String repo = "mf/nolayer";
        Oci.Blob missing = new Oci.Blob(OCI_LAYER, sha256(random(10, 68)), 10);
        Oci.Res r = oci.putManifest(repo, "v1", OCI_MANIFEST,
                imageManifest(OCI_MANIFEST, config(repo, "x"), layer(repo, "x"), missing));
        assertError(r, 400, "MANIFEST_BLOB_UNKNOWN");
        assertError(oci.get("/v2/" + repo + "/manifests/v1"), 404, "MANIFEST_UNKNOWN");
    }

    @Test
    void blobOfAnotherRepositoryDoesNotCount() {
        Oci.Blob cfg = config("mf/elsewhere", "e");
        Oci.Blob lyr = layer("mf/elsewhere", "e");
        Oci.Res r = oci.putManifest("mf/here", "v1", OCI_MANIFEST, imageManifest(OCI_MANIFEST, cfg, lyr));
        assertError(r, 400, "MANIFEST_BLOB_UNKNOWN");
    }

    @Test
    void missingIndexChildIsRefused() {
        String repo = "mf/nochild";
        Oci.Blob missing = new Oci.Blob(OCI_MANIFEST, sha256(random(10, 69)), 10);
        assertError(oci.putManifest(repo, "v1", OCI_INDEX, index(OCI_INDEX, missing)), 400,
                "MANIFEST_BLOB_UNKNOWN");
        assertError(oci.putManifest(repo, "v1", DOCKER_LIST, index(DOCKER_LIST, missing)), 400,
                "MANIFEST_BLOB_UNKNOWN");
    }

    // ---- invalid pushes --------------------------------------------------------------------

    @Test
    void putByDigestWithAnotherDigestIsRefused() {
        String repo = "mf/digestmismatch";
        byte[] m = imageManifest(OCI_MANIFEST, config(repo, "m"), layer(repo, "m"));
        String wrong = sha256(random(5, 70));
        assertError(oci.putManifest(repo, wrong, OCI_MANIFEST, m), 400, "DIGEST_INVALID");
        assertError(oci.get("/v2/" + repo + "/manifests/" + wrong), 404, "MANIFEST_UNKNOWN");
        assertError(oci.get("/v2/" + repo + "/manifests/" + sha256(m)), 404, "MANIFEST_UNKNOWN");
        assertError(oci.putManifest(repo, "sha256:NOTHEX", OCI_MANIFEST, m), 400, "DIGEST_INVALID");
    }

    @Test
    void notAJsonObjectIsInvalid() {
        String repo = "mf/invalid";
        for (String body : List.of("not json at all", "{\"schemaVersion\":2,", "[]", "[{\"schemaVersion\":2}]",
                "\"string\"", "42", "null", "")) {
            Oci.Res r = oci.putManifest(repo, "v1", OCI_MANIFEST, utf8(body));
            assertError(r, 400, "MANIFEST_INVALID");
        }
        assertError(oci.get("/v2/" + repo + "/manifests/v1"), 404, "MANIFEST_UNKNOWN");
    }

    @Test
    void deeplyNestedJsonIsInvalid() {
        String repo = "mf/nested";
        String arrays = "[".repeat(10_000) + "]".repeat(10_000);
        assertError(oci.putManifest(repo, "v1", OCI_MANIFEST, utf8(arrays)), 400, "MANIFEST_INVALID");
        String inObject = "{\"schemaVersion\":2,\"annotations\":" + "{\"a\":".repeat(10_000) + "1"
                + "}".repeat(10_000) + "}";
        assertError(oci.putManifest(repo, "v1", OCI_MANIFEST, utf8(inObject)), 400, "MANIFEST_INVALID");
        // The server is still fine.
        assertEquals(200, oci.get("/v2/").status());
    }

    @Test
    void malformedDescriptorsAreInvalid() {
        String repo = "mf/descriptors";
        for (String body : List.of(
                "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\"},\"layers\":[]}",
                "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:short\",\"size\":1},\"layers\":[]}",
                "{\"schemaVersion\":2,\"layers\":{}}",
                "{\"schemaVersion\":2,\"mediaType\":\"" + OCI_INDEX + "\"}")) {
            Oci.Res r = oci.putManifest(repo, "v1", null, utf8(body));
            assertError(r, 400, "MANIFEST_INVALID");
        }
    }

    @Test
    void invalidTagIsRefused() {
        String repo = "mf/badtag";
        byte[] m = imageManifest(OCI_MANIFEST, config(repo, "b"), layer(repo, "b"));
        for (String tag : List.of("-dash", ".dot", "x".repeat(129), "t%20t", "a+b")) {
            assertError(oci.raw("PUT", "/v2/" + repo + "/manifests/" + tag, List.of("Content-Type: " + OCI_MANIFEST),
                    m), 400, "TAG_INVALID");
            assertError(oci.raw("GET", "/v2/" + repo + "/manifests/" + tag, List.of(), null), 400, "TAG_INVALID");
        }
        // The longest allowed tag works.
        oci.pushManifest(repo, "_" + "x".repeat(127), OCI_MANIFEST, m);
    }

    // ---- size limit ------------------------------------------------------------------------

    @Test
    void manifestOverTheLimitWithContentLengthIs413() throws IOException {
        String repo = "mf/big";
        int size = (4 << 20) + 1;
        // Announce the size and send nothing: the server must answer from the header alone.
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(("PUT /v2/" + repo + "/manifests/big HTTP/1.1\r\nHost: " + server.hostPort()
                    + "\r\nContent-Type: " + OCI_MANIFEST + "\r\nContent-Length: " + size + "\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            Oci.Res r = Oci.fromReply(Http.read(s.getInputStream(), false));
            assertErrorBody(r, 413);
        }
        assertError(oci.get("/v2/" + repo + "/manifests/big"), 404, "MANIFEST_UNKNOWN");
    }

    @Test
    void manifestOverTheLimitSentInFullIs413() throws Exception {
        String repo = "mf/big-full";
        byte[] big = bigManifest((4 << 20) + 100);
        Oci.Res r = oci.sendWhileReading("PUT /v2/" + repo + "/manifests/big HTTP/1.1\r\nHost: " + server.hostPort()
                + "\r\nContent-Type: " + OCI_MANIFEST + "\r\nContent-Length: " + big.length + "\r\n\r\n", big, false);
        assertErrorBody(r, 413);
        assertError(oci.get("/v2/" + repo + "/manifests/big"), 404, "MANIFEST_UNKNOWN");
    }

    @Test
    void manifestOverTheLimitChunkedIs413() throws Exception {
        String repo = "mf/big-chunked";
        byte[] big = bigManifest((4 << 20) + 100_000);
        Oci.Res r = oci.sendWhileReading("PUT /v2/" + repo + "/manifests/big HTTP/1.1\r\nHost: " + server.hostPort()
                + "\r\nContent-Type: " + OCI_MANIFEST + "\r\nTransfer-Encoding: chunked\r\n\r\n", big, true);
        assertErrorBody(r, 413);
        assertError(oci.get("/v2/" + repo + "/manifests/big"), 404, "MANIFEST_UNKNOWN");
        assertEquals(200, oci.get("/v2/").status());
    }

    @Test
    void manifestJustUnderTheLimitIsAccepted() {
        String repo = "mf/almost-big";
        byte[] m = bigManifest(4 << 20);
        assertEquals(4 << 20, m.length);
        String d = oci.pushManifest(repo, "v1", OCI_MANIFEST, m);
        Oci.Res get = oci.get("/v2/" + repo + "/manifests/" + d);
        assertEquals(200, get.status());
        assertArrayEquals(m, get.body());
    }

    /** A valid manifest without references, padded with an annotation to exactly {@code size} bytes. */
    private static byte[] bigManifest(int size) {
        String head = "{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\",\"annotations\":{\"pad\":\"";
        String tail = "\"}}";
        return utf8(head + "p".repeat(size - head.length() - tail.length()) + tail);
    }

    // ---- Accept ----------------------------------------------------------------------------

    @Test
    void acceptOnSeveralLines() {
        String repo = "mf/accept";
        byte[] m = imageManifest(OCI_MANIFEST, config(repo, "acc"), layer(repo, "acc"));
        String d = oci.pushManifest(repo, "v1", OCI_MANIFEST, m);
        Oci.Res r = oci.raw("GET", "/v2/" + repo + "/manifests/v1", List.of(
                "Accept: " + DOCKER_MANIFEST,
                "Accept: " + DOCKER_LIST,
                "Accept: " + OCI_INDEX,
                "Accept: " + OCI_MANIFEST), null);
        assertEquals(200, r.status(), r::toString);
        assertEquals(OCI_MANIFEST, r.header("Content-Type"));
        assertEquals(d, r.header("Docker-Content-Digest"));
        assertArrayEquals(m, r.body());
    }

    @Test
    void acceptOnOneLineWithParameters() {
        String repo = "mf/accept-one";
        byte[] m = imageManifest(OCI_MANIFEST, config(repo, "acc1"), layer(repo, "acc1"));
        oci.pushManifest(repo, "v1", OCI_MANIFEST, m);
        Oci.Res r = oci.get("/v2/" + repo + "/manifests/v1", "Accept",
                DOCKER_MANIFEST + ";q=0.9, " + OCI_MANIFEST + "; q=0.5");
        assertEquals(200, r.status(), r::toString);
        assertArrayEquals(m, r.body());
    }

    @Test
    void acceptWithoutTheStoredTypeIsAMiss() {
        String repo = "mf/accept-miss";
        byte[] m = imageManifest(OCI_MANIFEST, config(repo, "acc2"), layer(repo, "acc2"));
        oci.pushManifest(repo, "v1", OCI_MANIFEST, m);
        Oci.Res r = oci.raw("GET", "/v2/" + repo + "/manifests/v1",
                List.of("Accept: " + DOCKER_MANIFEST, "Accept: " + DOCKER_LIST), null);
        assertError(r, 404, "MANIFEST_UNKNOWN");
        Oci.Res oneLine = oci.get("/v2/" + repo + "/manifests/v1", "Accept", DOCKER_MANIFEST + ", " + OCI_INDEX);
        assertError(oneLine, 404, "MANIFEST_UNKNOWN");
        assertEquals(404, oci.head("/v2/" + repo + "/manifests/v1", "Accept: " + OCI_INDEX).status());
    }

    @Test
    void acceptAnything() {
        String repo = "mf/accept-any";
        byte[] m = imageManifest(OCI_MANIFEST, config(repo, "acc3"), layer(repo, "acc3"));
        oci.pushManifest(repo, "v1", OCI_MANIFEST, m);
        assertEquals(200, oci.get("/v2/" + repo + "/manifests/v1", "Accept", "*/*").status());
        assertEquals(200, oci.raw("GET", "/v2/" + repo + "/manifests/v1",
                List.of("Accept: " + DOCKER_MANIFEST, "Accept: */*"), null).status());
        assertEquals(200, oci.head("/v2/" + repo + "/manifests/v1", "Accept: */*").status());
    }

    // ---- delete ----------------------------------------------------------------------------

    @Test
    void deleteByTag() {
        String repo = "mf/deltag";
        byte[] m = imageManifest(OCI_MANIFEST, config(repo, "dt"), layer(repo, "dt"));
        String d = oci.pushManifest(repo, "v1", OCI_MANIFEST, m);
        oci.pushManifest(repo, "v2", OCI_MANIFEST, m);

        Oci.Res del = oci.delete("/v2/" + repo + "/manifests/v1");
        assertEquals(202, del.status(), del::toString);
        assertError(oci.get("/v2/" + repo + "/manifests/v1"), 404, "MANIFEST_UNKNOWN");
        assertEquals(404, oci.head("/v2/" + repo + "/manifests/v1").status());
        assertArrayEquals(m, oci.get("/v2/" + repo + "/manifests/" + d).body());
        assertArrayEquals(m, oci.get("/v2/" + repo + "/manifests/v2").body());
        assertEquals(List.of("v2"), tags(repo));
        assertError(oci.delete("/v2/" + repo + "/manifests/v1"), 404, "MANIFEST_UNKNOWN");
    }

    @Test
    void deleteByDigest() {
        String repo = "mf/deldigest";
        byte[] m = imageManifest(OCI_MANIFEST, config(repo, "dd"), layer(repo, "dd"));
        byte[] other = imageManifest(OCI_MANIFEST, config(repo, "dd2"), layer(repo, "dd2"));
        String d = oci.pushManifest(repo, "v1", OCI_MANIFEST, m);
        oci.pushManifest(repo, "v2", OCI_MANIFEST, m);
        oci.pushManifest(repo, "keep", OCI_MANIFEST, other);

        Oci.Res del = oci.delete("/v2/" + repo + "/manifests/" + d);
        assertEquals(202, del.status(), del::toString);
        assertError(oci.get("/v2/" + repo + "/manifests/" + d), 404, "MANIFEST_UNKNOWN");
        assertError(oci.get("/v2/" + repo + "/manifests/v1"), 404, "MANIFEST_UNKNOWN");
        assertError(oci.get("/v2/" + repo + "/manifests/v2"), 404, "MANIFEST_UNKNOWN");
        assertEquals(List.of("keep"), tags(repo));
        assertError(oci.delete("/v2/" + repo + "/manifests/" + d), 404, "MANIFEST_UNKNOWN");
    }

    @Test
    void unknownManifest() {
        String repo = "mf/unknown";
        oci.pushImage(repo, "exists", "u");
        assertError(oci.get("/v2/" + repo + "/manifests/missing"), 404, "MANIFEST_UNKNOWN");
        assertError(oci.get("/v2/" + repo + "/manifests/" + sha256(random(3, 71))), 404, "MANIFEST_UNKNOWN");
        assertEquals(404, oci.head("/v2/" + repo + "/manifests/missing").status());
        assertError(oci.delete("/v2/" + repo + "/manifests/missing"), 404, "MANIFEST_UNKNOWN");
        // A manifest of another repository is not visible.
        assertError(oci.get("/v2/mf/unknown-other/manifests/exists"), 404, "MANIFEST_UNKNOWN");
    }

    @Test
    void manifestOfAnotherRepositoryIsNotVisibleByDigest() {
        byte[] m = oci.pushImage("mf/owner", "v1", "owner");
        assertError(oci.get("/v2/mf/stranger/manifests/" + sha256(m)), 404, "MANIFEST_UNKNOWN");
    }

    private List<String> tags(String repo) {
        JsonNode body = oci.get("/v2/" + repo + "/tags/list").json();
        List<String> out = new ArrayList<>();
        body.path("tags").forEach(t -> out.add(t.asText()));
        return out;
    }

    @Test
    void manifestDigestsAreValidatedLikeBlobDigests() {
        String repo = "mf/digests";
        for (String ref : List.of("sha256:" + "A".repeat(64), "sha256:" + "a".repeat(63), "md5:" + "a".repeat(32))) {
            assertError(oci.get("/v2/" + repo + "/manifests/" + ref), 400, "DIGEST_INVALID");
            assertError(oci.delete("/v2/" + repo + "/manifests/" + ref), 400, "DIGEST_INVALID");
        }
    }
}
