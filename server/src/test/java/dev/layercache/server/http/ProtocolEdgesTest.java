package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.OCI_CONFIG;
import static dev.layercache.server.http.Oci.OCI_INDEX;
import static dev.layercache.server.http.Oci.OCI_LAYER;
import static dev.layercache.server.http.Oci.OCI_MANIFEST;
import static dev.layercache.server.http.Oci.assertError;
import static dev.layercache.server.http.Oci.imageManifest;
import static dev.layercache.server.http.Oci.sha256;
import static dev.layercache.server.http.Oci.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The edges of HTTP/1.1 a request can fall off: a chunked body whose chunk size is not a number,
 * a body shorter than its {@code Content-Length}, a manifest whose descriptors misstate the size
 * of what they name, a path that is not ASCII. Each one gets a proper answer (status and OCI
 * error body, then the connection closed where the request cannot be finished), and an upload
 * keeps exactly what was acknowledged before the failed request.
 */
@Timeout(60)
class ProtocolEdgesTest {
    /** A short read timeout, so that a body cut short is noticed within a test's patience. */
    private static final Duration READ_TIMEOUT = Duration.ofMillis(1000);

    @RegisterExtension
    static final TestServer server = new TestServer(c -> c.withLimits(ServerConfig.Limits.builder()
            .maxUploadsPerIdentity(0).idleTimeout(Duration.ofSeconds(60)).readTimeout(READ_TIMEOUT).build()));
    private final Oci oci = new Oci(server);

    private static final byte[] TEN = utf8("0123456789");

    // ---- a chunk size that is not one ----------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"ZZZZ", "FFFFFFFFFFFFFFFFFF", "-1"})
    void aMalformedChunkSizeInAPatchIs400AndKeepsWhatWasAcknowledged(String size) throws Exception {
        String location = uploadWithTenBytes(repo("edges/chunk-patch", size));
        try {
            Oci.Res r = sendAndExpectClose("PATCH " + location + " HTTP/1.1\r\nHost: x\r\n"
                    + "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "5\r\nabcde\r\n" + size + "\r\nfghij\r\n0\r\n\r\n");
            assertError(r, 400, "BAD_REQUEST");
            assertResumesAtTen(location);
        } finally {
            oci.delete(location);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ZZZZ", "FFFFFFFFFFFFFFFFFF"})
    void aMalformedChunkSizeInAnUploadPutIs400AndCommitsNothing(String size) throws Exception {
        String repo = repo("edges/chunk-put", size);
        String location = uploadWithTenBytes(repo);
        byte[] whole = utf8("0123456789abcdefghij");
        try {
            Oci.Res r = sendAndExpectClose("PUT " + Oci.withQuery(location, "digest=" + sha256(whole))
                    + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n" + size + "\r\nfghij\r\n0\r\n\r\n");
            assertError(r, 400, "BAD_REQUEST");
            assertEquals(404, oci.raw("HEAD", "/v2/" + repo + "/blobs/" + sha256(whole), List.of(), null).status());
            assertResumesAtTen(location);
        } finally {
            oci.delete(location);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ZZZZ", "FFFFFFFFFFFFFFFFFF"})
    void aMalformedChunkSizeInAMonolithicPostIs400AndStoresNothing(String size) throws Exception {
        String repo = repo("edges/chunk-post", size);
        byte[] whole = utf8("abcdefghij");
        Oci.Res r = sendAndExpectClose("POST /v2/" + repo + "/blobs/uploads/?digest=" + sha256(whole)
                + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n" + size + "\r\nfghij\r\n0\r\n\r\n");
        assertError(r, 400, "BAD_REQUEST");
        assertEquals(404, oci.raw("HEAD", "/v2/" + repo + "/blobs/" + sha256(whole), List.of(), null).status());
    }

    @ParameterizedTest
    @ValueSource(strings = {"ZZZZ", "FFFFFFFFFFFFFFFFFF"})
    void aMalformedChunkSizeInAManifestPutIs400AndStoresNothing(String size) throws Exception {
        String repo = repo("edges/chunk-manifest", size);
        byte[] manifest = smallImage(repo);
        String body = new String(manifest, StandardCharsets.ISO_8859_1);
        String half = body.substring(0, 40);
        String rest = body.substring(40);
        Oci.Res r = sendAndExpectClose("PUT /v2/" + repo + "/manifests/v1 HTTP/1.1\r\nHost: x\r\n"
                + "Content-Type: " + OCI_MANIFEST + "\r\nTransfer-Encoding: chunked\r\n\r\n"
                + Integer.toHexString(half.length()) + "\r\n" + half + "\r\n" + size + "\r\n" + rest
                + "\r\n0\r\n\r\n");
        assertError(r, 400, "BAD_REQUEST");
        assertError(oci.get("/v2/" + repo + "/manifests/v1"), 404, "MANIFEST_UNKNOWN");
        // The same body, well formed, is a fine manifest.
        assertEquals(201, oci.putManifest(repo, "v1", OCI_MANIFEST, manifest).status());
    }

    // ---- a body shorter than its Content-Length ------------------------------------------------

    @Test
    void aPatchBodyShorterThanItsLengthIs408AndKeepsWhatWasAcknowledged() throws Exception {
        String location = uploadWithTenBytes("edges/short-patch");
        try {
            Oci.Res r = sendStalledAndExpectAnswer("PATCH " + location + " HTTP/1.1\r\nHost: x\r\n"
                    + "Content-Type: application/octet-stream\r\nContent-Range: 10-1009\r\n"
                    + "Content-Length: 1000\r\n\r\n", new byte[100]);
            assertError(r, 408, "REQUEST_TIMEOUT");
            assertResumesAtTen(location);
        } finally {
            oci.delete(location);
        }
    }

    @Test
    void anUploadPutBodyShorterThanItsLengthIs408AndCommitsNothing() throws Exception {
        String location = uploadWithTenBytes("edges/short-put");
        byte[] rest = new byte[1000];
        byte[] whole = new byte[1010];
        System.arraycopy(TEN, 0, whole, 0, 10);
        try {
            Oci.Res r = sendStalledAndExpectAnswer("PUT " + Oci.withQuery(location, "digest=" + sha256(whole))
                    + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: "
                    + rest.length + "\r\n\r\n", new byte[100]);
            assertError(r, 408, "REQUEST_TIMEOUT");
            assertEquals(404, oci.raw("HEAD", "/v2/edges/short-put/blobs/" + sha256(whole), List.of(), null).status());
            assertResumesAtTen(location);
        } finally {
            oci.delete(location);
        }
    }

    @Test
    void aManifestBodyShorterThanItsLengthIs408AndStoresNothing() throws Exception {
        byte[] manifest = smallImage("edges/short-manifest");
        Oci.Res r = sendStalledAndExpectAnswer("PUT /v2/edges/short-manifest/manifests/v1 HTTP/1.1\r\nHost: x\r\n"
                + "Content-Type: " + OCI_MANIFEST + "\r\nContent-Length: " + manifest.length + "\r\n\r\n",
                java.util.Arrays.copyOf(manifest, manifest.length / 2));
        assertError(r, 408, "REQUEST_TIMEOUT");
        assertError(oci.get("/v2/edges/short-manifest/manifests/v1"), 404, "MANIFEST_UNKNOWN");
    }

    // ---- descriptors must state the size of what they name -------------------------------------

    @Test
    void aLayerOrConfigDescriptorWithTheWrongSizeIsManifestInvalid() {
        String repo = "edges/sizes";
        Oci.Blob config = oci.pushBlob(repo, OCI_CONFIG, utf8("{\"os\":\"linux\"}"));
        Oci.Blob layer = oci.pushBlob(repo, OCI_LAYER, utf8("13 bytes here"));
        assertEquals(13, layer.size());
        Oci.Blob bigLayer = new Oci.Blob(OCI_LAYER, layer.digest(), 99_999);
        Oci.Blob smallConfig = new Oci.Blob(OCI_CONFIG, config.digest(), config.size() - 1);
        for (byte[] bad : List.of(imageManifest(OCI_MANIFEST, config, bigLayer),
                imageManifest(OCI_MANIFEST, smallConfig, layer),
                imageManifest(OCI_MANIFEST, config, layer, new Oci.Blob(OCI_LAYER, layer.digest(), 0)))) {
            Oci.Res r = oci.putManifest(repo, "bad", OCI_MANIFEST, bad);
            assertError(r, 400, "MANIFEST_INVALID");
            assertTrue(r.text().contains("size"), r::toString);
            assertError(oci.get("/v2/" + repo + "/manifests/bad"), 404, "MANIFEST_UNKNOWN");
        }
        // The true sizes are accepted; so is a descriptor that states none.
        oci.pushManifest(repo, "good", OCI_MANIFEST, imageManifest(OCI_MANIFEST, config, layer));
        byte[] unsized = utf8("{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\",\"config\":"
                + config.descriptor() + ",\"layers\":[{\"mediaType\":\"" + OCI_LAYER + "\",\"digest\":\""
                + layer.digest() + "\"}]}");
        oci.pushManifest(repo, "unsized", OCI_MANIFEST, unsized);
    }

    @Test
    void anIndexChildWithTheWrongSizeIsManifestInvalid() {
        String repo = "edges/index-sizes";
        byte[] child = smallImage(repo);
        String childDigest = oci.pushManifest(repo, sha256(child), OCI_MANIFEST, child);
        Oci.Blob right = new Oci.Blob(OCI_MANIFEST, childDigest, child.length);
        Oci.Blob wrong = new Oci.Blob(OCI_MANIFEST, childDigest, child.length + 1);
        Oci.Res r = oci.putManifest(repo, "bad", OCI_INDEX, Oci.index(OCI_INDEX, wrong));
        assertError(r, 400, "MANIFEST_INVALID");
        assertError(oci.get("/v2/" + repo + "/manifests/bad"), 404, "MANIFEST_UNKNOWN");
        oci.pushManifest(repo, "good", OCI_INDEX, Oci.index(OCI_INDEX, right));
        // An index may list blobs too (BuildKit's cache index lists its layers and its cache config).
        Oci.Blob layer = oci.pushBlob(repo, OCI_LAYER, utf8("a cached layer"));
        oci.pushManifest(repo, "cache", OCI_INDEX, Oci.index(OCI_INDEX, right, layer));
        assertError(oci.putManifest(repo, "cache-bad", OCI_INDEX, Oci.index(OCI_INDEX, right,
                new Oci.Blob(OCI_LAYER, layer.digest(), layer.size() + 7))), 400, "MANIFEST_INVALID");
    }

    // ---- names that are not ASCII --------------------------------------------------------------

    @Test
    void aNonAsciiNameComesBackInTheErrorAsSent() throws Exception {
        String name = "t\u00fc/caf\u00e9";
        Oci.Res r = rawUtf8("POST", "/v2/" + name + "/blobs/uploads/");
        assertError(r, 400, "NAME_INVALID");
        assertValidUtf8(r.body());
        JsonNode error = r.json().path("errors").get(0);
        assertTrue(error.path("message").asText().contains(name), r::toString);
        assertEquals(name, error.path("detail").asText(), r::toString);
        // The bytes are UTF-8 once, not UTF-8 of ISO-8859-1 of UTF-8.
        assertFalse(r.text().contains("\u00c3"), r::toString);
    }

    @Test
    void aNonAsciiTagComesBackInTheErrorAsSent() throws Exception {
        oci.pushImage("edges/tags", "v1", "tags");
        String tag = "gr\u00fc\u00dfe-\u65e5\u672c";
        Oci.Res r = rawUtf8("GET", "/v2/edges/tags/manifests/" + tag);
        assertError(r, 400, "TAG_INVALID");
        assertValidUtf8(r.body());
        assertTrue(r.json().path("errors").get(0).path("message").asText().contains(tag), r::toString);
        // Percent-escapes are not decoded in a path: the name comes back as it was sent.
        Oci.Res escaped = oci.raw("GET", "/v2/edges/tags/manifests/gr%C3%BC%C3%9Fe", List.of(), null);
        assertError(escaped, 400, "TAG_INVALID");
        assertTrue(escaped.text().contains("gr%C3%BC%C3%9Fe"), escaped::toString);
        // Bytes that are not UTF-8 still make a valid JSON error.
        Oci.Res latin1 = oci.raw("GET", "/v2/edges/tags/manifests/gr\u00fc\u00dfe", List.of(), null);
        assertError(latin1, 400, "TAG_INVALID");
        assertValidUtf8(latin1.body());
    }

    // ---- support -----------------------------------------------------------------------------

    /** A repository of its own for each case of a parameterized test. */
    private static String repo(String base, String parameter) {
        return base + "-" + Integer.toUnsignedString(parameter.hashCode(), 36);
    }

    /** Starts an upload in {@code repo} and stores ten acknowledged bytes; returns its location. */
    private String uploadWithTenBytes(String repo) {
        String location = oci.startUpload(repo);
        Oci.Res first = oci.patch(location, TEN, "Content-Range", "0-9");
        assertEquals(202, first.status(), first::toString);
        assertEquals("0-9", first.header("Range"));
        return location;
    }

    /** The session stands at ten bytes, with nothing of the failed request, and goes on from there. */
    private void assertResumesAtTen(String location) {
        Oci.Res status = oci.get(location);
        assertEquals(204, status.status(), status::toString);
        assertEquals("0-9", status.header("Range"), "the failed request's bytes were kept");
        byte[] more = utf8("abcdefghij");
        Oci.Res next = oci.patch(location, more, "Content-Range", "10-19");
        assertEquals(202, next.status(), next::toString);
        assertEquals("0-19", next.header("Range"));
        byte[] whole = utf8("0123456789abcdefghij");
        Oci.Res put = oci.put(Oci.withQuery(location, "digest=" + sha256(whole)), null);
        assertEquals(201, put.status(), put::toString);
    }

    /** Pushes a config and a layer to {@code repo} and returns a manifest of them (not pushed). */
    private byte[] smallImage(String repo) {
        Oci.Blob config = oci.pushBlob(repo, OCI_CONFIG, utf8("{\"os\":\"linux\",\"repo\":\"" + repo + "\"}"));
        Oci.Blob layer = oci.pushBlob(repo, OCI_LAYER, utf8("a layer of " + repo));
        return imageManifest(OCI_MANIFEST, config, layer);
    }

    /**
     * Sends a whole request on a keep-alive connection and reads its answer; the server must
     * then close the connection (a request it could not read to its end leaves nothing to resume).
     */
    private static Oci.Res sendAndExpectClose(String request) throws IOException {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            Http.Reply reply;
            try {
                reply = Http.read(s.getInputStream(), false);
            } catch (SocketTimeoutException hung) {
                throw new AssertionError("no answer within 10 s: the connection hangs", hung);
            }
            assertEquals("close", reply.header("Connection"), "the answer announces the close");
            assertClosed(s, 5_000);
            return Oci.fromReply(reply);
        }
    }

    /**
     * Sends {@code head} and only {@code part} of the body it announces, then waits: the server
     * must answer within a few read timeouts and close the connection.
     */
    private static Oci.Res sendStalledAndExpectAnswer(String head, byte[] part) throws IOException {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            OutputStream out = s.getOutputStream();
            out.write(head.getBytes(StandardCharsets.ISO_8859_1));
            out.write(part);
            out.flush();
            long started = System.nanoTime();
            s.setSoTimeout((int) (READ_TIMEOUT.toMillis() * 8));
            Http.Reply reply;
            try {
                reply = Http.read(s.getInputStream(), false);
            } catch (SocketTimeoutException hung) {
                throw new AssertionError("no answer to a stalled body", hung);
            } catch (IOException closed) {
                throw new AssertionError("the connection was closed without an answer", closed);
            }
            double waited = (System.nanoTime() - started) / 1e9;
            assertTrue(waited >= READ_TIMEOUT.toMillis() / 1000.0 * 0.9, "answered only after the read timeout: "
                    + waited);
            assertEquals("close", reply.header("Connection"), "the answer announces the close");
            assertClosed(s, 5_000);
            return Oci.fromReply(reply);
        }
    }

    /** The server closes the connection after its answer, within {@code millis}. */
    private static void assertClosed(Socket s, int millis) throws IOException {
        s.setSoTimeout(millis);
        try {
            int b = s.getInputStream().read();
            assertEquals(-1, b, "bytes after the answer");
        } catch (SocketTimeoutException hung) {
            fail("the connection stays open after the answer");
        } catch (SocketException reset) {
            // closed, abruptly: closed all the same
        }
    }

    /** One request whose path is sent as UTF-8 bytes on the request line, not percent-encoded. */
    private static Oci.Res rawUtf8(String method, String path) throws IOException {
        String wire = new String(path.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
        return Oci.fromReply(Http.exchange(server.port(), method, wire, List.of(), null));
    }

    private static void assertValidUtf8(byte[] body) {
        try {
            StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(body));
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new AssertionError("the error body is not UTF-8: " + java.util.Arrays.toString(body), e);
        }
    }
}
