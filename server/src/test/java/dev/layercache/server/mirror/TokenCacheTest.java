package dev.layercache.server.mirror;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.layercache.server.testing.TestClock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** How long a token is kept: its life from {@code issued_at} when that is believable, from its arrival otherwise. */
class TokenCacheTest {
    final TestClock clock = new TestClock();
    final TokenCache tokens = new TokenCache(clock);

    @Test
    void keptUntilAMarginBeforeItExpires() {
        tokens.put("k", "t", Duration.ofSeconds(300), null);
        clock.advance(Duration.ofSeconds(269));
        assertEquals("t", tokens.get("k"));
        clock.advance(Duration.ofSeconds(1));
        assertNull(tokens.get("k"), "dropped 30 s before its 300 s end");
    }

    @Test
    void shortOrMissingLivesAreTheSpecsMinute() {
        tokens.put("short", "t", Duration.ofSeconds(5), null);
        tokens.put("none", "t", null, null);
        clock.advance(Duration.ofSeconds(44));
        assertEquals("t", tokens.get("short"));
        assertEquals("t", tokens.get("none"));
        clock.advance(Duration.ofSeconds(1));
        assertNull(tokens.get("short"), "60 s less a quarter");
        assertNull(tokens.get("none"));
    }

    @Test
    void issuedAtCountsWhenBelievable() {
        tokens.put("recent", "t", Duration.ofSeconds(300), clock.instant().minusSeconds(100));
        tokens.put("future", "t", Duration.ofSeconds(300), clock.instant().plusSeconds(100));
        tokens.put("ancient", "t", Duration.ofSeconds(300), clock.instant().minusSeconds(3600));
        clock.advance(Duration.ofSeconds(171));
        assertNull(tokens.get("recent"), "issued 100 s before it came: 170 s left");
        assertEquals("t", tokens.get("future"), "a realm clock ahead of ours: counted from arrival");
        assertEquals("t", tokens.get("ancient"), "a realm clock far behind ours: counted from arrival");
    }

    @Test
    void aRefusedTokenIsForgottenButNotItsSuccessor() {
        tokens.put("k", "old", Duration.ofSeconds(300), null);
        tokens.invalidate("k", "old");
        assertNull(tokens.get("k"));
        tokens.put("k", "new", Duration.ofSeconds(300), null);
        tokens.invalidate("k", "old");
        assertEquals("new", tokens.get("k"));
    }
}
