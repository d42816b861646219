package dev.layercache.server.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Slow-loris: clients that trickle their headers, or stall in the middle of a body, are
 * disconnected after {@code idle-timeout} / {@code read-timeout}, while the node keeps serving
 * everybody else; a stalled upload leaves nothing behind.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SlowClientTest {
    @RegisterExtension
    static TestServer server = new TestServer(c -> c.withLimits(new ServerConfig.Limits(0, 0, 0,
            Duration.ofMillis(1500), Duration.ofMillis(1500))));

    @Test
    void tricklingHeadersAreCutOffAndOthersAreServed() throws Exception {
        List<Socket> lorises = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            Socket s = new Socket("127.0.0.1", server.port());
            s.getOutputStream().write("GET /v2/ HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
            lorises.add(s);
        }
        long started = System.nanoTime();
        int closed = 0;
        // One more header byte every 300 ms: never a complete header block.
        for (int round = 0; round < 20 && closed < lorises.size(); round++) {
            Thread.sleep(300);
            closed = 0;
            for (Socket s : lorises) {
                try {
                    s.getOutputStream().write("X-Slow: a\r\n".getBytes(StandardCharsets.US_ASCII));
                    s.getOutputStream().flush();
                    s.setSoTimeout(1);
                    if (s.getInputStream().read() == -1) {
                        closed++;
                    }
                } catch (java.net.SocketTimeoutException stillOpen) {
                    // the server has not closed it yet
                } catch (SocketException reset) {
                    closed++;
                }
            }
            assertEquals(200, Http.exchange(server.port(), "GET", "/v2/", List.of(), null).status(),
                    "other clients are served meanwhile");
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        assertEquals(lorises.size(), closed, "every trickling connection is closed");
        assertTrue(seconds < 5, "within a few seconds of idle-timeout (1.5 s): " + seconds);
        for (Socket s : lorises) {
            s.close();
        }
    }

    @Test
    void aStalledBodyIsCutOffAndTheUploadRollsBack() throws Exception {
        Http.Reply started = Http.exchange(server.port(), "POST", "/v2/slow/app/blobs/uploads/", List.of(), null);
        String location = started.header("Location");
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            OutputStream out = s.getOutputStream();
            out.write(("PATCH " + location + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                    + "Content-Length: 1000\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(new byte[100]);
            out.flush();
            s.setSoTimeout(10_000);
            InputStream in = s.getInputStream();
            long t0 = System.nanoTime();
            int b;
            try {
                do {
                    b = in.read();
                } while (b != -1);
            } catch (SocketException reset) {
                b = -1;
            }
            double waited = (System.nanoTime() - t0) / 1e9;
            assertTrue(waited < 5, "closed within a few seconds of read-timeout (1.5 s): " + waited);
        }
        // The roll-back runs on the disk pool once the connection is gone: give it a moment.
        Http.Reply status = Http.exchange(server.port(), "GET", location, List.of(), null);
        for (long deadline = System.nanoTime() + 5_000_000_000L;
             status.status() == 400 && status.text().contains("in use") && System.nanoTime() < deadline; ) {
            Thread.sleep(50);
            status = Http.exchange(server.port(), "GET", location, List.of(), null);
        }
        assertEquals(204, status.status(), status.text());
        assertEquals("0-0", status.header("Range"), "the stalled chunk was rolled back");
    }

    @Test
    void anIdleKeepAliveConnectionIsClosedAfterIdleTimeout() throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.getOutputStream().write("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            s.setSoTimeout(10_000);
            Http.Reply first = Http.read(s.getInputStream(), false);
            assertEquals(200, first.status());
            long t0 = System.nanoTime();
            int b;
            try {
                b = s.getInputStream().read();
            } catch (IOException reset) {
                b = -1;
            }
            assertEquals(-1, b, "the server closed the idle connection");
            double waited = (System.nanoTime() - t0) / 1e9;
            assertTrue(waited > 1.0 && waited < 5, "after about idle-timeout (1.5 s): " + waited);
        }
    }
}
