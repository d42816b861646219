package dev.layercache.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.Digest;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A blob's {@code HEAD} that the memory of answers cannot give (the digest's lock is busy) goes the
 * usual way having taken nothing from the client's rate limit: one request, one token, whichever
 * way it is answered.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FastPathRateLimitTest {
    /** One request per second, bursts of one: a second token taken for one request is a 429. */
    @RegisterExtension
    static TestServer server = new TestServer(c -> c.withLimits(ServerConfig.Limits.builder()
            .requestsPerSecond(1).idleTimeout(Duration.ofSeconds(60)).readTimeout(Duration.ofSeconds(30)).build()));

    private static void fullBudget() throws InterruptedException {
        Thread.sleep(1100);
    }

    @Test
    void aHeadTheMemoryGivesWayOnIsChargedOnce() throws Exception {
        byte[] blob = "a blob asked about while its lock is busy".getBytes(StandardCharsets.UTF_8);
        String digest = Registry.sha256(blob);
        String path = "/v2/fast/limited/blobs/" + digest;
        fullBudget();
        assertEquals(201, Http.exchange(server.port(), "POST", "/v2/fast/limited/blobs/uploads/?digest=" + digest,
                List.of("Content-Type: application/octet-stream"), blob).status());
        fullBudget();
        assertEquals(200, Http.exchange(server.port(), "HEAD", path, List.of(), null).status(), "fills the memory");
        fullBudget();

        // The digest's lock held (as a collection or a commit holds it): the event loop does not wait for it.
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread holder = new Thread(() -> server.server().services().guard().asking(Digest.parse(digest), () -> {
            held.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return null;
        }));
        holder.start();
        held.await();
        CompletableFuture<Http.Reply> head = CompletableFuture.supplyAsync(() -> {
            try {
                return Http.exchange(server.port(), "HEAD", path, List.of(), null);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(300); // the request reaches the node, finds the lock busy, goes the usual way and waits
        boolean waitedForTheLock = !head.isDone();
        release.countDown();
        holder.join();
        Http.Reply reply = head.get(30, TimeUnit.SECONDS);
        assertEquals(200, reply.status(), "charged twice for one request: " + reply.text());
        assertTrue(waitedForTheLock, "answered the usual way (it waits for the lock), not from memory");
    }
}
