package dev.layercache.server.tls;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.TestPki;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The OCI API over TLS from tls-cert and tls-key, and certificates replaced while the node runs. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HttpsTest {
    @TempDir
    Path dir;

    @Test
    void blobsGoUpAndComeBackOverTls() throws Exception {
        TestPki pki = TestPki.create(dir.resolve("pki"), "server");
        TestPki.Issued cert = pki.server("localhost", 1);
        ServerConfig config = ServerConfig.forTesting(dir.resolve("data"))
                .withTls(new ServerConfig.Tls(cert.cert(), cert.key(), null));
        try (LayerCacheServer server = LayerCacheServer.start(config)) {
            HttpClient http = HttpClient.newBuilder().sslContext(pki.trustingContext())
                    .version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
            String base = "https://127.0.0.1:" + server.httpPort();

            assertEquals(200, http.send(get(base + "/v2/").build(), HttpResponse.BodyHandlers.discarding())
                    .statusCode());
            assertEquals(200, http.send(get(base + "/healthz").build(), HttpResponse.BodyHandlers.discarding())
                    .statusCode());
            assertEquals(200, http.send(get(base + "/readyz").build(), HttpResponse.BodyHandlers.discarding())
                    .statusCode());

            byte[] blob = new byte[(5 << 20) + 12345];
            new Random(7).nextBytes(blob);
            String digest = "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(blob));
            HttpResponse<String> pushed = http.send(HttpRequest.newBuilder(
                            URI.create(base + "/v2/tls/test/blobs/uploads/?digest=" + digest))
                    .header("Content-Type", "application/octet-stream")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(blob)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(201, pushed.statusCode(), pushed.body());

            // The file path of the dispatcher: chunks through the TLS engine instead of sendfile.
            HttpResponse<byte[]> whole = http.send(get(base + "/v2/tls/test/blobs/" + digest).build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(200, whole.statusCode());
            assertArrayEquals(blob, whole.body());

            HttpResponse<byte[]> part = http.send(get(base + "/v2/tls/test/blobs/" + digest)
                    .header("Range", "bytes=1000000-3099999").build(), HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(206, part.statusCode());
            assertEquals("bytes 1000000-3099999/" + blob.length, part.headers().firstValue("Content-Range").orElse(""));
            assertArrayEquals(Arrays.copyOfRange(blob, 1_000_000, 3_100_000), part.body());

            // Several downloads on one kept-alive connection stay in step.
            for (int i = 0; i < 3; i++) {
                HttpResponse<byte[]> tail = http.send(get(base + "/v2/tls/test/blobs/" + digest)
                        .header("Range", "bytes=-" + (100 + i)).build(), HttpResponse.BodyHandlers.ofByteArray());
                assertArrayEquals(Arrays.copyOfRange(blob, blob.length - 100 - i, blob.length), tail.body());
            }

            // Plain HTTP on the TLS port: the connection closes at once rather than hanging.
            try (Socket plain = new Socket()) {
                plain.connect(new InetSocketAddress("127.0.0.1", server.httpPort()), 5000);
                plain.setSoTimeout(5000);
                plain.getOutputStream().write("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                try {
                    InputStream in = plain.getInputStream();
                    byte[] got = in.readAllBytes();
                    assertTrue(got.length == 0 || !new String(got, StandardCharsets.ISO_8859_1).startsWith("HTTP/1.1 200"),
                            "plain HTTP must not be answered");
                } catch (SocketTimeoutException e) {
                    throw new AssertionError("plain HTTP to the TLS port hung", e);
                } catch (IOException reset) {
                    // closed with a reset: as good
                }
            }
            HttpClient plainClient = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            assertThrows(IOException.class, () -> plainClient.send(get("http://127.0.0.1:" + server.httpPort()
                    + "/v2/").timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.discarding()));

            // A client that does not trust the test CA is refused in the handshake.
            HttpClient untrusting = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            assertThrows(SSLHandshakeException.class, () -> untrusting.send(get(base + "/v2/").build(),
                    HttpResponse.BodyHandlers.discarding()));
        }
    }

    @Test
    void replacedCertificatesServeNewConnectionsWithoutARestart() throws Exception {
        TestPki pki = TestPki.create(dir.resolve("pki"), "server");
        TestPki.Issued first = pki.server("first.localhost", 101);
        TestPki.Issued second = pki.server("second.localhost", 202);
        Path live = Files.createDirectories(dir.resolve("live"));
        Path cert = Files.copy(first.cert(), live.resolve("tls.crt"));
        Path key = Files.copy(first.key(), live.resolve("tls.key"));
        ServerConfig config = ServerConfig.forTesting(dir.resolve("data"))
                .withTls(new ServerConfig.Tls(cert, key, null));
        try (LayerCacheServer server = LayerCacheServer.start(config)) {
            assertEquals(BigInteger.valueOf(101), serial(pki, server.httpPort(), null));
            assertEquals(BigInteger.valueOf(101), serial(pki, server.grpcPort(), "h2"));
            try (SSLSocket open = connect(pki.trustingContext(), server.httpPort(), null)) {
                // Replaced as a deployment would: new files renamed over the old ones.
                Files.copy(second.key(), live.resolve("tls.key.new"));
                Files.copy(second.cert(), live.resolve("tls.crt.new"));
                Files.move(live.resolve("tls.key.new"), key, StandardCopyOption.REPLACE_EXISTING,
                        StandardCopyOption.ATOMIC_MOVE);
                Files.move(live.resolve("tls.crt.new"), cert, StandardCopyOption.REPLACE_EXISTING,
                        StandardCopyOption.ATOMIC_MOVE);

                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
                BigInteger seen = serial(pki, server.httpPort(), null);
                while (!seen.equals(BigInteger.valueOf(202)) && System.nanoTime() < deadline) {
                    Thread.sleep(200);
                    seen = serial(pki, server.httpPort(), null);
                }
                assertEquals(BigInteger.valueOf(202), seen, "new connections present the new certificate");
                assertEquals(BigInteger.valueOf(202), serial(pki, server.grpcPort(), "h2"));

                // The connection opened before keeps its certificate and still works.
                assertEquals(BigInteger.valueOf(101),
                        ((X509Certificate) open.getSession().getPeerCertificates()[0]).getSerialNumber());
                open.getOutputStream().write("GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                String answer = new String(open.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
                assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
            }

            // A broken replacement is ignored: the last good certificate stays in use.
            Files.writeString(cert, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
            Thread.sleep(1500);
            assertEquals(BigInteger.valueOf(202), serial(pki, server.httpPort(), null));
            Thread.sleep(1100);
            assertEquals(BigInteger.valueOf(202), serial(pki, server.httpPort(), null));
        }
    }

    private static HttpRequest.Builder get(String url) {
        return HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60)).GET();
    }

    private static SSLSocket connect(SSLContext ssl, int port, String alpn) throws IOException {
        SSLSocket s = (SSLSocket) ssl.getSocketFactory().createSocket("127.0.0.1", port);
        s.setSoTimeout(10_000);
        SSLParameters p = s.getSSLParameters();
        p.setEndpointIdentificationAlgorithm("HTTPS");
        if (alpn != null) {
            p.setApplicationProtocols(new String[] {alpn});
        }
        s.setSSLParameters(p);
        s.startHandshake();
        return s;
    }

    /**
     * The serial number of the certificate a new connection to {@code port} is shown (a new
     * client context each time, so that no session is resumed with the certificate it had).
     */
    private static BigInteger serial(TestPki pki, int port, String alpn) throws Exception {
        try (SSLSocket s = connect(pki.trustingContext(), port, alpn)) {
            return ((X509Certificate) s.getSession().getPeerCertificates()[0]).getSerialNumber();
        }
    }
}
