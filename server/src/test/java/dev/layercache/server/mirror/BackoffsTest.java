package dev.layercache.server.mirror;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.layercache.server.testing.TestClock;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import org.junit.jupiter.api.Test;

/** A 429's Retry-After, read and honoured. */
class BackoffsTest {

    @Test
    void retryAfterIsReadAsSecondsOrAnHttpDate() {
        TestClock clock = new TestClock();
        UpstreamClient client = new UpstreamClient(new UpstreamSettings("up.test", URI.create("http://127.0.0.1:9"),
                UpstreamSettings.Credentials.NONE, Duration.ofMinutes(5)), clock);
        assertEquals(Duration.ofSeconds(30), client.retryAfter("30"));
        assertEquals(Duration.ofSeconds(30), client.retryAfter(" 30 "));
        String date = DateTimeFormatter.RFC_1123_DATE_TIME.format(clock.instant().plusSeconds(90).atOffset(ZoneOffset.UTC));
        Duration fromDate = client.retryAfter(date);
        assertNotNull(fromDate, date);
        assertEquals(90, fromDate.toSeconds(), 1.0);
        String past = DateTimeFormatter.RFC_1123_DATE_TIME.format(clock.instant().minusSeconds(90).atOffset(ZoneOffset.UTC));
        assertEquals(Duration.ZERO, client.retryAfter(past));
        assertNull(client.retryAfter(null));
        assertNull(client.retryAfter("soon"));
        assertNull(client.retryAfter("-5"));
    }

    @Test
    void anUpstreamIsLeftAloneForTheWaitItAskedForAndNoLongerThanTenMinutes() {
        Backoffs backoffs = new Backoffs();
        Instant now = Instant.parse("2026-12-06T12:00:00Z");
        assertNull(backoffs.current("up.test", now));
        backoffs.note("up.test", new UpstreamException(UpstreamException.Kind.SERVER_ERROR, 503, "busy"), now);
        assertNull(backoffs.current("up.test", now), "only a 429 asks for a wait");
        backoffs.note("up.test", new UpstreamException(UpstreamException.Kind.RATE_LIMITED, 429, "slow down"), now);
        assertNull(backoffs.current("up.test", now), "a 429 without Retry-After sets no wait");
        backoffs.note("up.test", new UpstreamException(UpstreamException.Kind.RATE_LIMITED, 429, "slow down")
                .retryAfter(Duration.ofSeconds(30)), now);
        UpstreamException wait = backoffs.current("up.test", now.plusSeconds(29));
        assertNotNull(wait);
        assertEquals(UpstreamException.Kind.RATE_LIMITED, wait.kind());
        assertNull(backoffs.current("other.test", now.plusSeconds(29)), "per upstream");
        assertNull(backoffs.current("up.test", now.plusSeconds(30)), "over at the time it asked for");
        backoffs.note("up.test", new UpstreamException(UpstreamException.Kind.RATE_LIMITED, 429, "a day")
                .retryAfter(Duration.ofDays(1)), now);
        assertNotNull(backoffs.current("up.test", now.plus(Backoffs.MAX).minusSeconds(1)));
        assertNull(backoffs.current("up.test", now.plus(Backoffs.MAX)), "never longer than " + Backoffs.MAX);
    }
}
