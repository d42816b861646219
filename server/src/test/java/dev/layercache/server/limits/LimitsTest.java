package dev.layercache.server.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The per-blob, per-identity and per-second limits, each answered as the protocol says. */
class LimitsTest {
    @RegisterExtension
    static TestServer server = new TestServer(c -> c.withLimits(ServerConfig.Limits.builder()
            .maxBlobBytes(10_000).maxUploadsPerIdentity(2).requestsPerSecond(20)
            .idleTimeout(Duration.ofSeconds(60)).readTimeout(Duration.ofSeconds(30)).build()));

    /** The rate limit (20 per second) applies to every test here: each starts with a full budget. */
    @org.junit.jupiter.api.BeforeEach
    void fullBudget() throws InterruptedException {
        Thread.sleep(1100);
    }

    @Test
    void aBlobOverMaxBlobSizeIsRefusedWithNothingStored() throws Exception {
        byte[] big = new byte[10_001];
        new Random(1).nextBytes(big);
        Http.Reply monolithic = Http.exchange(server.port(), "POST", "/v2/limits/app/blobs/uploads/?digest="
                + Registry.sha256(big), List.of("Content-Type: application/octet-stream"), big);
        assertEquals(413, monolithic.status(), monolithic.text());
        assertTrue(monolithic.text().contains("SIZE_INVALID"), monolithic.text());
        assertEquals(404, Http.exchange(server.port(), "HEAD", "/v2/limits/app/blobs/" + Registry.sha256(big),
                List.of(), null).status(), "nothing stored");

        // In chunks: the chunk that crosses the limit is refused, the session stays where it was.
        Http.Reply started = Http.exchange(server.port(), "POST", "/v2/limits/app/blobs/uploads/", List.of(), null);
        String location = started.header("Location");
        Http.Reply first = Http.exchange(server.port(), "PATCH", location, List.of("Content-Range: 0-7999",
                "Content-Type: application/octet-stream"), java.util.Arrays.copyOf(big, 8000));
        assertEquals(202, first.status(), first.text());
        Http.Reply over = Http.exchange(server.port(), "PATCH", location, List.of("Content-Range: 8000-10000",
                "Content-Type: application/octet-stream"), java.util.Arrays.copyOfRange(big, 8000, 10_001));
        assertEquals(413, over.status(), over.text());
        Http.Reply status = Http.exchange(server.port(), "GET", location, List.of(), null);
        assertEquals("0-7999", status.header("Range"), "the refused chunk left nothing behind");
        Http.Reply cancel = Http.exchange(server.port(), "DELETE", location, List.of(), null);
        assertEquals(204, cancel.status());

        byte[] fits = java.util.Arrays.copyOf(big, 10_000);
        assertEquals(201, new Registry(server.port()).pushBlob("limits/app", fits));
    }

    @Test
    void uploadsPerIdentityAreLimitedWith429AndRetryAfter() throws Exception {
        String a = Http.exchange(server.port(), "POST", "/v2/sessions/app/blobs/uploads/", List.of(), null)
                .header("Location");
        String b = Http.exchange(server.port(), "POST", "/v2/sessions/app/blobs/uploads/", List.of(), null)
                .header("Location");
        Http.Reply third = Http.exchange(server.port(), "POST", "/v2/sessions/app/blobs/uploads/", List.of(), null);
        assertEquals(429, third.status(), third.text());
        assertTrue(third.text().contains("TOOMANYREQUESTS"), third.text());
        assertEquals("1", third.header("Retry-After"));
        assertEquals(204, Http.exchange(server.port(), "DELETE", a, List.of(), null).status());
        Http.Reply again = Http.exchange(server.port(), "POST", "/v2/sessions/app/blobs/uploads/", List.of(), null);
        assertEquals(202, again.status(), "a slot was freed");
        assertEquals(204, Http.exchange(server.port(), "DELETE", b, List.of(), null).status());
        assertEquals(204, Http.exchange(server.port(), "DELETE", again.header("Location"), List.of(), null).status());
    }

    @Test
    void requestsPastTheRateAreAnswered429ButProbesNever() throws Exception {
        int limited = 0;
        String retryAfter = null;
        for (int i = 0; i < 60; i++) {
            Http.Reply r = Http.exchange(server.port(), "GET", "/v2/rate/app/tags/list", List.of(), null);
            if (r.status() == 429) {
                limited++;
                retryAfter = r.header("Retry-After");
            } else {
                assertEquals(404, r.status(), r.text());
            }
            assertEquals(200, Http.exchange(server.port(), "GET", "/healthz", List.of(), null).status());
        }
        assertTrue(limited > 0, "60 requests at once against 20 per second");
        assertEquals("1", retryAfter);
        Thread.sleep(1100);
        assertEquals(404, Http.exchange(server.port(), "GET", "/v2/rate/app/tags/list", List.of(), null).status(),
                "the budget refills");
    }

    static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
