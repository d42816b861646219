package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.OCI_MANIFEST;
import static dev.layercache.server.http.Oci.assertErrorBody;
import static dev.layercache.server.http.Oci.imageManifest;
import static dev.layercache.server.http.Oci.utf8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.TestServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Connection handling: TLS probes, keep-alive, pipelining, garbage. */
@Timeout(60)
class HttpHygieneTest {
    @RegisterExtension
    static final TestServer server = new TestServer();
    private final Oci oci = new Oci(server);

    /** The start of a TLS 1.2/1.3 ClientHello record, as skopeo sends when it tries https first. */
    private static final byte[] CLIENT_HELLO = {
        0x16, 0x03, 0x01, 0x00, (byte) 0xc8, 0x01, 0x00, 0x00, (byte) 0xc4, 0x03, 0x03,
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
        30, 31, 32, 0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00};

    private Socket connect() throws IOException {
        Socket s = new Socket("127.0.0.1", server.port());
        s.setSoTimeout(10_000);
        return s;
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    /**
     * Go's crypto/tls reads a first record starting with {@code HTTP/} as "server gave HTTP response
     * to HTTPS client": the answer must start so, say what to do, and end at once.
     */
    @Test
    void tlsClientHelloIsAnsweredWithPlainHttp400() throws IOException {
        assertPlainHttpAnswer(CLIENT_HELLO);
        // Plain HTTP still works.
        assertEquals(200, oci.get("/v2/").status());
    }

    /** The same with a whole ClientHello as the JDK's TLS client writes it (several hundred bytes). */
    @Test
    void aRealClientHelloGetsTheSameAnswer() throws Exception {
        javax.net.ssl.SSLEngine engine = javax.net.ssl.SSLContext.getDefault().createSSLEngine("127.0.0.1", server.port());
        engine.setUseClientMode(true);
        java.nio.ByteBuffer hello = java.nio.ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        engine.beginHandshake();
        engine.wrap(java.nio.ByteBuffer.allocate(0), hello);
        hello.flip();
        byte[] bytes = new byte[hello.remaining()];
        hello.get(bytes);
        assertEquals(0x16, bytes[0], "a TLS handshake record");
        assertTrue(bytes.length > 100, "a whole ClientHello: " + bytes.length + " bytes");
        assertPlainHttpAnswer(bytes);
    }

    /** skopeo without --tls-verify=false says at once that the port speaks plain HTTP. */
    @Test
    void skopeoSaysTheServerSpeaksPlainHttp() throws Exception {
        java.nio.file.Path skopeo = dev.layercache.server.testing.RealTools.require("skopeo",
                "the TLS probe answer is checked against Go's HTTPS client");
        long start = System.nanoTime();
        Process p = new ProcessBuilder(skopeo.toString(), "inspect", "--retry-times", "0",
                "docker://127.0.0.1:" + server.port() + "/x/y:1").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(p.exitValue() != 0, out);
        assertTrue(out.contains("server gave HTTP response to HTTPS client"), out);
        assertTrue(millis < 5000, "skopeo took " + millis + " ms: " + out);
    }

    private void assertPlainHttpAnswer(byte[] hello) throws IOException {
        try (Socket s = connect()) {
            s.setSoTimeout(5_000);
            s.getOutputStream().write(hello);
            s.getOutputStream().flush();
            long start = System.nanoTime();
            byte[] answer = s.getInputStream().readAllBytes(); // to the end: the server closes its side
            long millis = (System.nanoTime() - start) / 1_000_000;
            String text = new String(answer, StandardCharsets.US_ASCII);
            assertTrue(text.startsWith("HTTP/1.0 400 "), text);
            assertTrue(text.contains("http://") && text.contains("--tls-verify=false"), text);
            assertTrue(millis < 1000, "answered and closed after " + millis + " ms");
        }
    }

    @Test
    void keepAlive() throws IOException {
        try (Socket s = connect()) {
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            for (int i = 0; i < 5; i++) {
                out.write(ascii("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"));
                out.flush();
                Http.Reply r = Http.read(in, false);
                assertEquals(200, r.status());
                assertEquals("{}", r.text());
                assertEquals("registry/2.0", r.header("Docker-Distribution-Api-Version"));
            }
            // A HEAD and an error on the same connection, then it still serves.
            out.write(ascii("HEAD /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"));
            out.flush();
            assertEquals(200, Http.read(in, true).status());
            out.write(ascii("GET /v2/nope/blobs/sha256:" + "a".repeat(64) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
            out.flush();
            Http.Reply miss = Http.read(in, false);
            assertErrorBody(Oci.fromReply(miss), 404);
            out.write(ascii("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
            out.flush();
            assertEquals(200, Http.read(in, false).status());
        }
    }

    @Test
    void uploadsOnAKeptAliveConnection() throws IOException {
        byte[] content = Oci.random(50_000, 90);
        String d = Oci.sha256(content);
        try (Socket s = connect()) {
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            out.write(ascii("POST /v2/hygiene/ka/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
            out.flush();
            Http.Reply post = Http.read(in, false);
            assertEquals(202, post.status());
            String location = Oci.path(post.header("Location"));

            out.write(ascii("PATCH " + location + " HTTP/1.1\r\nHost: x\r\nContent-Range: 0-29999\r\n"
                    + "Content-Length: 30000\r\n\r\n"));
            out.write(content, 0, 30_000);
            out.flush();
            Http.Reply patch = Http.read(in, false);
            assertEquals(202, patch.status());
            assertEquals("0-29999", patch.header("Range"));

            out.write(ascii("PUT " + location + "?digest=" + d + " HTTP/1.1\r\nHost: x\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n" + Integer.toHexString(20_000) + "\r\n"));
            out.write(content, 30_000, 20_000);
            out.write(ascii("\r\n0\r\n\r\n"));
            out.flush();
            Http.Reply put = Http.read(in, false);
            assertEquals(201, put.status(), () -> put.text());
            assertEquals(d, put.header("Docker-Content-Digest"));

            out.write(ascii("GET /v2/hygiene/ka/blobs/" + d + " HTTP/1.1\r\nHost: x\r\n\r\n"));
            out.flush();
            Http.Reply get = Http.read(in, false);
            assertEquals(200, get.status());
            assertArrayEquals(content, get.body());
        }
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws IOException {
        String repo = "hygiene/pipeline";
        Oci.Blob cfg = oci.pushBlob(repo, Oci.OCI_CONFIG, utf8("{\"p\":1}"));
        Oci.Blob lyr = oci.pushBlob(repo, Oci.OCI_LAYER, utf8("pipelined layer"));
        byte[] m = imageManifest(OCI_MANIFEST, cfg, lyr);

        ByteArrayOutputStream batch = new ByteArrayOutputStream();
        batch.writeBytes(ascii("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"));
        batch.writeBytes(ascii("HEAD /v2/" + repo + "/blobs/" + lyr.digest() + " HTTP/1.1\r\nHost: x\r\n\r\n"));
        batch.writeBytes(ascii("GET /v2/" + repo + "/blobs/" + lyr.digest() + " HTTP/1.1\r\nHost: x\r\n\r\n"));
        batch.writeBytes(ascii("PUT /v2/" + repo + "/manifests/piped HTTP/1.1\r\nHost: x\r\nContent-Type: "
                + OCI_MANIFEST + "\r\nContent-Length: " + m.length + "\r\n\r\n"));
        batch.writeBytes(m);
        batch.writeBytes(ascii("GET /v2/" + repo + "/manifests/piped HTTP/1.1\r\nHost: x\r\n\r\n"));
        batch.writeBytes(ascii("GET /v2/" + repo + "/manifests/missing HTTP/1.1\r\nHost: x\r\n\r\n"));
        batch.writeBytes(ascii("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));

        try (Socket s = connect()) {
            s.getOutputStream().write(batch.toByteArray());
            s.getOutputStream().flush();
            InputStream in = s.getInputStream();

            Http.Reply base = Http.read(in, false);
            assertEquals(200, base.status());
            assertEquals("{}", base.text());

            Http.Reply head = Http.read(in, true);
            assertEquals(200, head.status());
            assertEquals(lyr.digest(), head.header("Docker-Content-Digest"));

            Http.Reply blob = Http.read(in, false);
            assertEquals(200, blob.status());
            assertEquals("pipelined layer", blob.text());

            Http.Reply put = Http.read(in, false);
            assertEquals(201, put.status(), put::text);
            assertEquals(Oci.sha256(m), put.header("Docker-Content-Digest"));

            Http.Reply get = Http.read(in, false);
            assertEquals(200, get.status(), get::text);
            assertArrayEquals(m, get.body());

            Http.Reply missing = Http.read(in, false);
            assertEquals(404, missing.status());
            assertTrue(missing.text().contains("MANIFEST_UNKNOWN"), missing::text);

            Http.Reply health = Http.read(in, false);
            assertEquals(200, health.status());
            assertEquals("ok", health.text().trim());
        }
    }

    /**
     * A client may pipeline any number of requests; the server answers them in order as it reads
     * them. It must not drop the connection, unanswered, because it decoded more than it has answered.
     */
    @Test
    void twoHundredPipelinedRequestsAreAllAnswered() throws IOException {
        ByteArrayOutputStream batch = new ByteArrayOutputStream();
        int n = 200;
        for (int i = 0; i < n; i++) {
            String path = i % 2 == 0 ? "/v2/" : "/healthz";
            batch.writeBytes(ascii("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
        }
        try (Socket s = connect()) {
            s.getOutputStream().write(batch.toByteArray());
            s.getOutputStream().flush();
            for (int i = 0; i < n; i++) {
                Http.Reply r;
                try {
                    r = Http.read(s.getInputStream(), false);
                } catch (IOException e) {
                    throw new AssertionError("response " + i + " of " + n + " never came", e);
                }
                assertEquals(200, r.status());
                assertEquals(i % 2 == 0 ? "{}" : "ok", r.text().trim(), "response " + i);
            }
        }
    }

    @Test
    void malformedRequestLineIs400AndCloses() throws IOException {
        for (String garbage : new String[] {"THIS IS NOT HTTP\r\n\r\n", "GET / HTTP/9\r\n\r\n",
                "GET /v2/ HTTP/1.1\r\nBad Header Without Colon\r\n\r\n"}) {
            try (Socket s = connect()) {
                s.getOutputStream().write(ascii(garbage));
                s.getOutputStream().flush();
                InputStream in = s.getInputStream();
                Http.Reply r = Http.read(in, false);
                assertEquals(400, r.status(), garbage);
                assertEquals(-1, in.read(), "connection must be closed after a malformed request");
            }
        }
        assertEquals(200, oci.get("/v2/").status());
    }

    @Test
    void connectionCloseIsHonoured() throws IOException {
        try (Socket s = connect()) {
            s.getOutputStream().write(ascii("GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
            s.getOutputStream().flush();
            InputStream in = s.getInputStream();
            Http.Reply r = Http.read(in, false);
            assertEquals(200, r.status());
            assertEquals(-1, in.read());
        }
    }

    /**
     * An HTTP/1.0 client asking for keep-alive (ab -k, which the small-request benchmark of HEAD
     * uses) is told the connection stays open, or it waits for a close that never comes; a HEAD
     * then a GET on the one connection.
     */
    @Test
    void http10KeepAliveIsConfirmed() throws IOException {
        try (Socket s = connect()) {
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            out.write(ascii("HEAD /v2/ HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
            out.flush();
            Http.Reply head = Http.read(in, true);
            assertEquals(200, head.status());
            assertEquals("keep-alive", head.header("Connection").toLowerCase(java.util.Locale.ROOT));
            out.write(ascii("GET /v2/ HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
            out.flush();
            Http.Reply get = Http.read(in, false);
            assertEquals(200, get.status());
            assertEquals("{}", get.text());
            assertEquals("keep-alive", get.header("Connection").toLowerCase(java.util.Locale.ROOT));
        }
    }

    @Test
    void http10WithoutKeepAliveCloses() throws IOException {
        try (Socket s = connect()) {
            s.getOutputStream().write(ascii("GET /v2/ HTTP/1.0\r\n\r\n"));
            s.getOutputStream().flush();
            InputStream in = s.getInputStream();
            Http.Reply r = Http.read(in, false);
            assertEquals(200, r.status());
            assertEquals(-1, in.read());
        }
    }

    @Test
    void overlongRequestLineIsRefused() throws IOException {
        try (Socket s = connect()) {
            s.getOutputStream().write(ascii("GET /v2/" + "a".repeat(20_000) + "/tags/list HTTP/1.1\r\nHost: x\r\n\r\n"));
            s.getOutputStream().flush();
            Http.Reply r = Http.read(s.getInputStream(), false);
            assertEquals(414, r.status());
        }
        assertEquals(200, oci.get("/v2/").status());
    }
}
