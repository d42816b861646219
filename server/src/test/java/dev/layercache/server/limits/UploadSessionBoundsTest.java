package dev.layercache.server.limits;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.concurrent.WriteBehind;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Upload sessions cannot exhaust the node: the sessions that cancelled CI jobs leave behind (and
 * anyone may start) hold no open file and no buffer between requests, one client cannot take them
 * all, the node's total is bounded with sessions idle a while giving way, idle sessions expire
 * long before a day, and sessions restored after a restart are counted.
 *
 * <p>Each node here is its own (per test): {@code max-uploads-per-identity} 20,
 * {@code max-uploads} 50, {@code upload-idle-timeout} 15 minutes, on a clock the test moves.
 * Several clients are played from different loopback addresses (127.0.0.2, 127.0.0.3...): without
 * access control every client is {@code anonymous}, and only its address tells it apart.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class UploadSessionBoundsTest {
    private static final int PER_CLIENT = 20;
    private static final int PER_NODE = 50;
    private final TestClock clock = new TestClock();

    @RegisterExtension
    final TestServer server = new TestServer(c -> c.withLimits(ServerConfig.Limits.builder()
            .maxUploadsPerIdentity(PER_CLIENT).idleTimeout(Duration.ofSeconds(60)).readTimeout(Duration.ofSeconds(30))
            .maxUploads(PER_NODE).uploadIdleTimeout(Duration.ofMinutes(15)).build()), clock);

    /**
     * Cancelled jobs: sessions that received a 5 MiB PATCH and were never finished. Before, each
     * kept its two files open and 4-8 MiB of direct memory, and about 62 of them made every upload
     * of every client fail. Now, between requests, none of the node's descriptors points into
     * {@code uploads/} and no write stage is held; every session can still be finished later.
     */
    @Test
    void sessionsHoldNoFileAndNoBufferBetweenRequests() throws Exception {
        byte[] chunk = new byte[5 << 20];
        new Random(7).nextBytes(chunk);
        List<String> sessions = new ArrayList<>();
        for (int i = 0; i < 3 * PER_CLIENT / 2; i++) {
            String client = i % 2 == 0 ? "127.0.0.2" : "127.0.0.3";
            Http.Reply started = Http.exchangeFrom(client, server.port(), "POST", "/v2/cancelled/job/blobs/uploads/",
                    List.of(), null);
            assertEquals(202, started.status(), started.text());
            String location = started.header("Location");
            Http.Reply patched = Http.exchangeFrom(client, server.port(), "PATCH", location,
                    List.of("Content-Type: application/octet-stream"), chunk);
            assertEquals(202, patched.status(), patched.text());
            sessions.add(location);
        }
        assertEquals(0, openFilesUnder(server.dataDir().resolve("uploads")),
                "no descriptor of the node points at an upload file between requests");
        assertEquals(0, WriteBehind.stagesInUse(), "no write stage is held between requests");

        // Every one can still be finished, from where it stands.
        byte[] tail = "and the rest".getBytes();
        byte[] whole = new byte[chunk.length + tail.length];
        System.arraycopy(chunk, 0, whole, 0, chunk.length);
        System.arraycopy(tail, 0, whole, chunk.length, tail.length);
        String digest = Registry.sha256(whole);
        for (int i = 0; i < sessions.size(); i += 10) {
            String client = i % 2 == 0 ? "127.0.0.2" : "127.0.0.3";
            String location = sessions.get(i);
            Http.Reply put = Http.exchangeFrom(client, server.port(), "PUT",
                    location + (location.contains("?") ? "&" : "?") + "digest=" + digest,
                    List.of("Content-Type: application/octet-stream"), tail);
            assertEquals(201, put.status(), put.text());
        }
        Http.Reply get = Http.exchange(server.port(), "GET", "/v2/cancelled/job/blobs/" + digest, List.of(), null);
        assertEquals(200, get.status());
        assertArrayEquals(whole, get.body());
        assertEquals(0, openFilesUnder(server.dataDir().resolve("uploads")));
        assertEquals(0, WriteBehind.stagesInUse());
    }

    /**
     * Without access control every client is anonymous: the per-identity limit tells them apart by
     * address, so a client opening sessions without end gets 429 with Retry-After while the others
     * go on.
     */
    @Test
    void oneClientCannotTakeEverySession() throws Exception {
        int accepted = 0;
        Http.Reply refused = null;
        for (int i = 0; i < PER_CLIENT + 5 && refused == null; i++) {
            Http.Reply r = Http.exchangeFrom("127.0.0.2", server.port(), "POST", "/v2/greedy/app/blobs/uploads/",
                    List.of(), null);
            if (r.status() == 202) {
                accepted++;
            } else {
                refused = r;
            }
        }
        assertEquals(PER_CLIENT, accepted);
        assertNotNull(refused, "the client past its limit is refused");
        assertEquals(429, refused.status(), refused.text());
        assertTrue(refused.text().contains("TOOMANYREQUESTS") && refused.text().contains("max-uploads-per-identity"),
                refused.text());
        assertNotNull(refused.header("Retry-After"));

        byte[] blob = "another client's layer".getBytes();
        Http.Reply other = Http.exchangeFrom("127.0.0.3", server.port(), "POST",
                "/v2/polite/app/blobs/uploads/?digest=" + Registry.sha256(blob),
                List.of("Content-Type: application/octet-stream"), blob);
        assertEquals(201, other.status(), "another client is served meanwhile: " + other.text());
        assertEquals(202, Http.exchangeFrom("127.0.0.3", server.port(), "POST", "/v2/polite/app/blobs/uploads/",
                List.of(), null).status());
    }

    /**
     * The node's total: at {@code max-uploads}, a new session is refused (429) while every session
     * was worked on within the last minute, and takes the place of the one idle longest once that
     * one has been idle a minute. The session that gave way is unknown from then on.
     */
    @Test
    void theNodeHoldsAtMostMaxUploadsAndIdleSessionsGiveWay() throws Exception {
        List<String> first = startSessions("127.0.0.2", PER_CLIENT);
        clock.advance(Duration.ofSeconds(30));
        startSessions("127.0.0.3", PER_CLIENT);
        startSessions("127.0.0.4", PER_NODE - 2 * PER_CLIENT);

        Http.Reply full = Http.exchangeFrom("127.0.0.5", server.port(), "POST", "/v2/late/app/blobs/uploads/",
                List.of(), null);
        assertEquals(429, full.status(), full.text());
        assertTrue(full.text().contains("max-uploads"), full.text());
        assertNotNull(full.header("Retry-After"));

        // Keep one of the first client's sessions busy: it is not the idlest any more.
        Http.Reply touched = Http.exchangeFrom("127.0.0.2", server.port(), "PATCH", first.get(0),
                List.of("Content-Type: application/octet-stream"), new byte[10]);
        assertEquals(202, touched.status(), touched.text());
        clock.advance(Duration.ofSeconds(45)); // the first client's others: idle 75 s; the rest 45 s

        Http.Reply late = Http.exchangeFrom("127.0.0.5", server.port(), "POST", "/v2/late/app/blobs/uploads/",
                List.of(), null);
        assertEquals(202, late.status(), late.text());
        int gone = 0;
        for (String idle : first.subList(1, first.size())) {
            gone += Http.exchangeFrom("127.0.0.2", server.port(), "GET", idle, List.of(), null).status() == 404 ? 1 : 0;
        }
        assertEquals(1, gone, "one of the sessions idle longest gave way");
        Http.Reply kept = Http.exchangeFrom("127.0.0.2", server.port(), "GET", first.get(0), List.of(), null);
        assertEquals(204, kept.status(), "a session worked on recently is kept");
        assertEquals("0-9", kept.header("Range"));
        assertEquals(PER_NODE, gauge("layercache_uploads_in_progress"));
    }

    /** Sessions nobody continues go after {@code upload-idle-timeout}, not after a day; worked-on ones stay. */
    @Test
    void idleSessionsExpireAfterTheIdleTimeout() throws Exception {
        List<String> sessions = startSessions("127.0.0.2", 3);
        clock.advance(Duration.ofMinutes(10));
        Http.Reply patched = Http.exchangeFrom("127.0.0.2", server.port(), "PATCH", sessions.get(0),
                List.of("Content-Type: application/octet-stream"), new byte[100]);
        assertEquals(202, patched.status(), patched.text());
        clock.advance(Duration.ofMinutes(6));
        assertEquals(2, server.server().lifecycle().run().uploadsExpired());

        assertEquals(204, Http.exchangeFrom("127.0.0.2", server.port(), "GET", sessions.get(0), List.of(), null)
                .status(), "worked on 6 minutes ago: kept");
        for (String idle : sessions.subList(1, 3)) {
            Http.Reply gone = Http.exchangeFrom("127.0.0.2", server.port(), "GET", idle, List.of(), null);
            assertEquals(404, gone.status(), gone.text());
            assertTrue(gone.text().contains("BLOB_UPLOAD_UNKNOWN"), gone.text());
        }
        try (Stream<Path> files = Files.list(server.dataDir().resolve("uploads"))) {
            assertEquals(1, files.count(), "the expired sessions' files are gone");
        }
    }

    /** After a restart, resumable sessions are in progress: the gauge counts them, and they still expire. */
    @Test
    void sessionsRestoredAfterARestartAreCounted() throws Exception {
        List<String> sessions = startSessions("127.0.0.2", 7);
        Http.exchangeFrom("127.0.0.2", server.port(), "PATCH", sessions.get(0),
                List.of("Content-Type: application/octet-stream"), new byte[4097]);
        assertEquals(7, gauge("layercache_uploads_in_progress"));
        server.restart();
        assertEquals(7, gauge("layercache_uploads_in_progress"), "restored sessions are in progress");

        String moved = sessions.get(0).replaceFirst("^http://[^/]+", "");
        Http.Reply resumed = Http.exchangeFrom("127.0.0.2", server.port(), "GET", moved, List.of(), null);
        assertEquals(204, resumed.status(), resumed.text());
        assertEquals("0-4096", resumed.header("Range"));

        clock.advance(Duration.ofMinutes(16));
        server.server().lifecycle().run();
        assertEquals(0, gauge("layercache_uploads_in_progress"), "restored sessions expire like the others");
    }

    private List<String> startSessions(String client, int count) throws IOException {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Http.Reply r = Http.exchangeFrom(client, server.port(), "POST", "/v2/many/app/blobs/uploads/", List.of(),
                    null);
            assertEquals(202, r.status(), r.text());
            out.add(r.header("Location"));
        }
        return out;
    }

    private long gauge(String name) throws IOException {
        String text = Http.exchange(server.port(), "GET", "/metrics", List.of(), null).text();
        return text.lines().filter(l -> l.startsWith(name + " ") || l.startsWith(name + "{"))
                .mapToLong(l -> (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
                .findFirst().orElseThrow(() -> new AssertionError(name + " not in /metrics"));
    }

    /** Descriptors of this process (the node runs in it) whose file is under {@code dir}. */
    private static long openFilesUnder(Path dir) throws IOException {
        Path real = dir.toRealPath();
        long count = 0;
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    if (Files.readSymbolicLink(fd).startsWith(real)) {
                        count++;
                    }
                } catch (IOException closedMeanwhile) {
                    // the listing's own descriptor, or one closed since
                }
            }
        }
        return count;
    }
}
