package dev.layercache.server.process;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.ServerProcess;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Memory stays flat for any blob size: a server limited to a 64 MiB heap and 64 MiB of direct
 * memory takes a 3 GiB blob in one streamed PATCH (chunked transfer encoding, as docker sends it)
 * and serves it back, which only works if neither direction ever holds the body.
 */
class LargeBlobTest {
    private static final long SIZE = 3L << 30;

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void threeGibibytesThroughASixtyFourMebibyteServer() throws Exception {
        try (ServerProcess server = ServerProcess.start(dir.resolve("data"), dir.resolve("log"),
                List.of("-Xmx64m", "-XX:MaxDirectMemorySize=64m"))) {
            Http.Reply post = Http.exchange(server.port(), "POST", "/v2/big/blob/blobs/uploads/", List.of(), null);
            assertEquals(202, post.status(), post.text());
            String location = post.header("Location");

            MessageDigest sent = MessageDigest.getInstance("SHA-256");
            try (Socket s = new Socket("127.0.0.1", server.port())) {
                OutputStream out = s.getOutputStream();
                out.write(("PATCH " + location + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                        + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                byte[] chunk = new byte[1 << 20];
                for (long written = 0; written < SIZE; written += chunk.length) {
                    fill(chunk, written);
                    sent.update(chunk);
                    out.write((Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(chunk);
                    out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
                }
                out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                Http.Reply patched = Http.read(s.getInputStream(), false);
                assertEquals(202, patched.status(), patched.text());
                assertEquals("0-" + (SIZE - 1), patched.header("Range"));
            }
            String digest = "sha256:" + HexFormat.of().formatHex(sent.digest());
            Http.Reply put = Http.exchange(server.port(), "PUT", location + "?digest=" + digest, List.of(), null);
            assertEquals(201, put.status(), put.text() + "\n" + server.log());

            MessageDigest received = MessageDigest.getInstance("SHA-256");
            long total = 0;
            try (Socket s = new Socket("127.0.0.1", server.port())) {
                s.getOutputStream().write(("GET /v2/big/blob/blobs/" + digest + " HTTP/1.1\r\nHost: x\r\n"
                        + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                InputStream in = s.getInputStream();
                Http.Reply head = Http.read(in, true);
                assertEquals(200, head.status());
                assertEquals(Long.toString(SIZE), head.header("Content-Length"));
                byte[] buf = new byte[1 << 20];
                int n;
                while ((n = in.read(buf)) > 0) {
                    received.update(buf, 0, n);
                    total += n;
                }
            }
            assertEquals(SIZE, total);
            assertEquals(digest, "sha256:" + HexFormat.of().formatHex(received.digest()));
        }
    }

    /** Cheap, position-dependent content, so that a misplaced chunk changes the digest. */
    private static void fill(byte[] chunk, long offset) {
        long x = offset * 0x9E3779B97F4A7C15L + 1;
        for (int i = 0; i < chunk.length; i += 8) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            for (int j = 0; j < 8; j++) {
                chunk[i + j] = (byte) (x >>> (j * 8));
            }
        }
    }
}
