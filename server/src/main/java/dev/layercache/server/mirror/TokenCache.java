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
 * smaller, as the spec's minimum) from {@code issued_at}. But {@code issued_at} is read on the
 * realm's clock: it is trusted only when it lies within the first half of the token's life on this
 * node's clock, and the arrival time is used otherwise (also when it is absent). A realm whose clock
 * is minutes behind would otherwise make every token look expired on arrival and cost a realm
 * request per registry request; the price of distrusting a truly old token is at worst one 401,
 * after which the client drops the token and fetches another. A token is dropped a margin before
 * its expiry (a quarter of its life, at most 30 s), so that a request never leaves with a token
 * that expires on its way.
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
        boolean plausible = issuedAt != null && !issuedAt.isAfter(now) && !issuedAt.plus(life.dividedBy(2)).isBefore(now);
        Instant from = plausible ? issuedAt : now;
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
