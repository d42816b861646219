package dev.layercache.server.mirror;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Bearer tokens from an upstream's token realm, kept per scope until shortly before they expire, so
 * that a pull of many blobs costs one token request rather than one per blob (Docker Hub counts
 * token requests, and each is a round trip to another host).
 *
 * <p>The expiry follows the Docker token spec: {@code expires_in} seconds (60 when absent or
 * smaller, as the spec's minimum) from {@code issued_at}, or from the moment the token arrived when
 * the realm gives no {@code issued_at} or one this node's clock cannot agree with (in the future,
 * or so far past that the token would already be dead: a realm whose clock is off must not make
 * every token useless). A token is dropped a margin before that (a quarter of its life, at most
 * 30 s), so that a request never leaves with a token that expires on its way.
 *
 * <p>The token values are secrets: nothing here logs or prints them.
 */
final class TokenCache {
    /** The token spec's default and minimum lifetime. */
    static final Duration MINIMUM_LIFETIME = Duration.ofSeconds(60);
    private static final Duration MAXIMUM_MARGIN = Duration.ofSeconds(30);
    /** Beyond this many scopes, expired tokens are swept on the next insert (scopes are per repository). */
    private static final int SWEEP_ABOVE = 1024;

    private record Entry(String token, Instant refreshAt) {
    }

    private final Clock clock;
    private final Map<String, Entry> tokens = new ConcurrentHashMap<>();

    TokenCache(Clock clock) {
        this.clock = clock;
    }

    /** The token for {@code key} while it is still good, or null. */
    String get(String key) {
        Entry e = tokens.get(key);
        if (e == null) {
            return null;
        }
        if (!clock.instant().isBefore(e.refreshAt)) {
            tokens.remove(key, e);
            return null;
        }
        return e.token;
    }

    /**
     * Keeps {@code token} for {@code key}.
     *
     * @param expiresIn the realm's {@code expires_in}, or null when it gave none
     * @param issuedAt  the realm's {@code issued_at}, or null when it gave none (or an unreadable one)
     */
    void put(String key, String token, Duration expiresIn, Instant issuedAt) {
        Instant now = clock.instant();
        Duration life = expiresIn == null || expiresIn.compareTo(MINIMUM_LIFETIME) < 0 ? MINIMUM_LIFETIME : expiresIn;
        Instant from = issuedAt == null || issuedAt.isAfter(now) || issuedAt.plus(life).isBefore(now) ? now : issuedAt;
        Duration margin = life.dividedBy(4);
        if (margin.compareTo(MAXIMUM_MARGIN) > 0) {
            margin = MAXIMUM_MARGIN;
        }
        if (tokens.size() >= SWEEP_ABOVE) {
            tokens.values().removeIf(e -> !now.isBefore(e.refreshAt));
        }
        tokens.put(key, new Entry(token, from.plus(life).minus(margin)));
    }

    /** Forgets the token for {@code key} if it is still {@code token} (the upstream refused it). */
    void invalidate(String key, String token) {
        tokens.computeIfPresent(key, (k, e) -> e.token.equals(token) ? null : e);
    }
}
