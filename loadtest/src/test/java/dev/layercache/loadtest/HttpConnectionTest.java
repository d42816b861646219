package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The benchmark's minimal HTTP/1.1 client against scripted responses: framing it must get right. */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class HttpConnectionTest {
    /** Serves one connection: reads a request head per response, answers with the next script. */
    private static CompletableFuture<String> serve(ServerSocket server, String... responses) {
        return CompletableFuture.supplyAsync(() -> {
            StringBuilder requests = new StringBuilder();
            try (Socket s = server.accept()) {
                InputStream in = s.getInputStream();
                OutputStream out = s.getOutputStream();
                for (String response : responses) {
                    StringBuilder head = new StringBuilder();
                    while (!head.toString().endsWith("\r\n\r\n")) {
                        head.append((char) in.read());
                    }
                    requests.append(head);
                    out.write(response.getBytes(StandardCharsets.ISO_8859_1));
                    out.flush();
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
            return requests.toString();
        });
    }

    @Test
    void lengthsChunksHeadAndClose() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<String> seen = serve(server,
                    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
                            + "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n",
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
            URI base = URI.create("http://127.0.0.1:" + server.getLocalPort());
            try (HttpConnection c = new HttpConnection(base)) {
                HttpConnection.Response r = c.send("GET", "/a", Map.of(), HttpConnection.Body.KEEP);
                assertEquals(200, r.status());
                assertArrayEquals("hello".getBytes(StandardCharsets.US_ASCII), r.body());
                r = c.send("GET", "/b", Map.of(), HttpConnection.Body.KEEP);
                assertEquals("abcdefg", new String(r.body(), StandardCharsets.US_ASCII));
                assertEquals(7, r.bodyLength());
                assertEquals("1,2", r.header("X-A"), "repeated headers are joined");
                r = c.send("HEAD", "/c", Map.of(), HttpConnection.Body.DISCARD);
                assertEquals(1L << 30, r.bodyLength(), "HEAD: the length is announced, no body follows");
                assertTrue(c.isOpen());
                r = c.send("PUT", "/d", Map.of("Content-Type", "x/y"), new byte[] {1, 2, 3}, HttpConnection.Body.KEEP);
                assertEquals(404, r.status());
                assertFalse(c.isOpen(), "the server said Connection: close");
            }
            String requests = seen.get(5, TimeUnit.SECONDS);
            assertTrue(requests.contains("HEAD /c HTTP/1.1\r\nHost: 127.0.0.1:"), requests);
            assertTrue(requests.contains("PUT /d HTTP/1.1\r\n") && requests.contains("Content-Length: 3\r\n"), requests);
        }
    }

    @Test
    void locationsAbsoluteOrRelative() {
        assertEquals("/v2/a/blobs/uploads/1?_state=x", HttpConnection.pathOf("/v2/a/blobs/uploads/1?_state=x"));
        assertEquals("/v2/a/blobs/uploads/1?_state=a%3Db",
                HttpConnection.pathOf("http://127.0.0.1:5000/v2/a/blobs/uploads/1?_state=a%3Db"));
        assertEquals("/v2/a/blobs/uploads/1?digest=sha256:ab",
                Oci.withDigest("/v2/a/blobs/uploads/1", "sha256:ab"));
        assertEquals("/v2/a/blobs/uploads/1?_state=x&digest=sha256:ab",
                Oci.withDigest("/v2/a/blobs/uploads/1?_state=x", "sha256:ab"));
    }
}
