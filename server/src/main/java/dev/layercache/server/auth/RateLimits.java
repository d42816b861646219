package dev.layercache.server.auth;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Requests per second per identity, as a token bucket holding a second's worth: a client may
 * burst that much at once, including its first second, then gets the rate. Past it a request is
 * answered {@code 429} with {@code Retry-After} (gRPC: {@code RESOURCE_EXHAUSTED}), so that one
 * runaway build cannot starve the others. Anonymous requests share one budget. (Guava's
 * RateLimiter was the first choice, but it starts empty: a new client could not burst.)
 */
public final class RateLimits {
    /** No limit. */
    public static final RateLimits NONE = new RateLimits(0);
    private static final int REMEMBERED = 100_000;

    private final double perSecond;
    private final Map<String, Bucket> buckets = new ConcurrentHashMap<>();

    public RateLimits(double perSecond) {
        this.perSecond = perSecond;
    }

    /** Takes one request from {@code who}'s budget; TOO_MANY_REQUESTS (with seconds to wait) when it is spent. */
    public void take(Identity who) {
        if (perSecond <= 0) {
            return;
        }
        if (buckets.size() > REMEMBERED) {
            buckets.clear(); // identities come from files: only a flood of bad names gets here
        }
        if (!buckets.computeIfAbsent(who.name(), n -> new Bucket(perSecond)).take(System.nanoTime())) {
            long seconds = Math.max(1, (long) Math.ceil(1 / perSecond));
            throw new RegistryException(ErrorCode.TOO_MANY_REQUESTS,
                    who.name() + " sends more than " + perSecond + " requests per second", seconds);
        }
    }

    /** Tokens refill continuously at the rate, up to one second's worth; a request takes one. */
    private static final class Bucket {
        private final double rate;
        private final double capacity;
        private double tokens;
        private long lastNanos;

        Bucket(double rate) {
            this.rate = rate;
            this.capacity = Math.max(1, rate);
            this.tokens = capacity;
            this.lastNanos = System.nanoTime();
        }

        synchronized boolean take(long nowNanos) {
            tokens = Math.min(capacity, tokens + (nowNanos - lastNanos) / 1e9 * rate);
            lastNanos = nowNanos;
            if (tokens < 1) {
                return false;
            }
            tokens -= 1;
            return true;
        }
    }
}
