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
 * Slow-loris: clients that trickle their headers, stall in the middle of a body, or trickle a body
 * below {@code min-body-rate}, are answered 408 (bodies) or disconnected (headers) after
 * {@code idle-timeout} / {@code read-timeout}, while the node keeps serving everybody else; a
 * stalled or trickled upload leaves nothing behind.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SlowClientTest {
    @RegisterExtension
    static TestServer server = new TestServer(c -> c.withLimits(ServerConfig.Limits.builder()
            .maxUploadsPerIdentity(0).idleTimeout(Duration.ofMillis(1500)).readTimeout(Duration.ofMillis(1500))
            .minBodyRate(1024).build()));

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
            String answer = readUntilClosed(in);
            double waited = (System.nanoTime() - t0) / 1e9;
            assertTrue(waited < 5, "closed within a few seconds of read-timeout (1.5 s): " + waited);
            assertTrue(answer.startsWith("HTTP/1.1 408 "), "answered before the close: " + answer);
            assertTrue(answer.contains("read-timeout") && answer.contains("\"errors\""), answer);
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
            double waited = secondsUntilClosed(s, System.nanoTime());
            assertTrue(waited > 1.0 && waited < 5, "after about idle-timeout (1.5 s): " + waited);
        }
    }

    /**
     * The idle deadline moves with every request without a new timer (the one timer runs at the
     * old deadline, finds it moved and waits on): a connection asking every 0.6 s stays open well
     * past idle-timeout (1.5 s), and is closed about idle-timeout after its last answer.
     */
    @Test
    void aConnectionInUseOutlivesIdleTimeoutAndClosesWhenIdle() throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(10_000);
            long t0 = System.nanoTime();
            for (int i = 0; i < 7; i++) {
                s.getOutputStream().write("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                assertEquals(200, Http.read(s.getInputStream(), false).status(), "request " + i + " answered");
                Thread.sleep(600);
            }
            assertTrue((System.nanoTime() - t0) / 1e9 > 3.5, "in use for more than twice idle-timeout");
            double idle = secondsUntilClosed(s, System.nanoTime() - 600_000_000L);
            assertTrue(idle > 1.0 && idle < 5, "about idle-timeout (1.5 s) after the last answer: " + idle);
        }
    }

    /**
     * A body that keeps coming, above min-body-rate and never pausing for read-timeout, is taken
     * however long it takes: 3 s here, twice read-timeout, in 1 KiB pieces every 0.25 s.
     */
    @Test
    void aSteadyBodyLongerThanReadTimeoutIsTaken() throws Exception {
        String location = Http.exchange(server.port(), "POST", "/v2/steady/app/blobs/uploads/", List.of(), null)
                .header("Location");
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            OutputStream out = s.getOutputStream();
            out.write(("PATCH " + location + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                    + "Content-Length: 12288\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            for (int i = 0; i < 12; i++) {
                out.write(new byte[1024]);
                out.flush();
                Thread.sleep(250);
            }
            s.setSoTimeout(10_000);
            Http.Reply answer = Http.read(s.getInputStream(), false);
            assertEquals(202, answer.status(), answer.text());
            assertEquals("0-12287", answer.header("Range"));
        }
    }

    /**
     * Bodies trickled a byte at a time reset the pause timer forever; before, 200 of them held the
     * node's upload buffers until nothing else could upload. Below {@code min-body-rate} (1 KiB/s
     * here, once read-timeout has passed) each is answered 408 and closed, its chunk rolled back,
     * while an ordinary upload goes through meanwhile.
     */
    @Test
    void bodiesTrickledBelowTheMinimumRateAreAnswered408() throws Exception {
        List<String> locations = new ArrayList<>();
        List<Socket> trickles = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            String location = Http.exchange(server.port(), "POST", "/v2/trickle/app/blobs/uploads/", List.of(), null)
                    .header("Location");
            locations.add(location);
            Socket s = new Socket("127.0.0.1", server.port());
            s.getOutputStream().write(("PATCH " + location + " HTTP/1.1\r\nHost: x\r\n"
                    + "Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            trickles.add(s);
        }
        long t0 = System.nanoTime();
        List<Socket> open = new ArrayList<>(trickles);
        List<String> answers = new ArrayList<>();
        while (!open.isEmpty() && System.nanoTime() - t0 < 15_000_000_000L) {
            for (java.util.Iterator<Socket> it = open.iterator(); it.hasNext(); ) {
                Socket s = it.next();
                try {
                    s.getOutputStream().write(7); // one byte a tenth of a second: never a 1.5 s pause
                    s.getOutputStream().flush();
                    s.setSoTimeout(1);
                    int first = s.getInputStream().read();
                    if (first != -1) {
                        s.setSoTimeout(10_000);
                        answers.add((char) first + readUntilClosed(s.getInputStream()));
                    }
                    it.remove();
                } catch (java.net.SocketTimeoutException stillOpen) {
                    // not answered yet
                } catch (SocketException closed) {
                    it.remove();
                }
            }
            Thread.sleep(100);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(open.isEmpty(), open.size() + " trickling bodies still open after " + seconds + " s");
        assertEquals(trickles.size(), answers.size(), "every one was answered before the close");
        for (String answer : answers) {
            assertTrue(answer.startsWith("HTTP/1.1 408 ") && answer.contains("min-body-rate"), answer);
        }
        byte[] layer = new byte[1 << 20];
        new java.util.Random(3).nextBytes(layer);
        assertEquals(201, new dev.layercache.server.testing.Registry(server.port()).pushBlob("other/app", layer),
                "another client uploads meanwhile");
        for (Socket s : trickles) {
            s.close();
        }
        for (String location : locations) {
            Http.Reply status = Http.exchange(server.port(), "GET", location, List.of(), null);
            for (long deadline = System.nanoTime() + 5_000_000_000L;
                 status.status() == 400 && status.text().contains("in use") && System.nanoTime() < deadline; ) {
                Thread.sleep(50);
                status = Http.exchange(server.port(), "GET", location, List.of(), null);
            }
            assertEquals("0-0", status.header("Range"), "the trickled bytes were rolled back: " + status.text());
        }
    }

    /** Seconds from {@code sinceNanos} until the server closes {@code s}, which must send nothing more. */
    private static double secondsUntilClosed(Socket s, long sinceNanos) throws IOException {
        int b;
        try {
            b = s.getInputStream().read();
        } catch (IOException reset) {
            b = -1;
        }
        assertEquals(-1, b, "the server closed the idle connection");
        return (System.nanoTime() - sinceNanos) / 1e9;
    }

    /** What the server sends until it closes the connection, as text. */
    private static String readUntilClosed(InputStream in) throws IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        try {
            for (int n; (n = in.read(buf)) != -1; ) {
                out.write(buf, 0, n);
            }
        } catch (SocketException reset) {
            // closed with unread bytes on our side: what arrived is what counts
        }
        return out.toString(StandardCharsets.ISO_8859_1);
    }

}
