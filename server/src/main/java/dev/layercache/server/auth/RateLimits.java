package dev.layercache.server.auth;

import com.google.common.util.concurrent.RateLimiter;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Requests per second per identity (Guava's smooth-bursty limiter: a second's worth may come at
 * once). Past it a request is answered {@code 429} with {@code Retry-After} (gRPC:
 * {@code RESOURCE_EXHAUSTED}), so that one runaway build cannot starve the others. Anonymous
 * requests share one budget.
 */
public final class RateLimits {
    /** No limit. */
    public static final RateLimits NONE = new RateLimits(0);
    private static final int REMEMBERED = 100_000;

    private final double perSecond;
    private final Map<String, RateLimiter> limiters = new ConcurrentHashMap<>();

    public RateLimits(double perSecond) {
        this.perSecond = perSecond;
    }

    /** Takes one request from {@code who}'s budget; TOO_MANY_REQUESTS (with seconds to wait) when it is spent. */
    public void take(Identity who) {
        if (perSecond <= 0) {
            return;
        }
        if (limiters.size() > REMEMBERED) {
            limiters.clear(); // identities come from files: only a flood of bad names gets here
        }
        if (!limiters.computeIfAbsent(who.name(), n -> RateLimiter.create(perSecond)).tryAcquire()) {
            long seconds = Math.max(1, (long) Math.ceil(1 / perSecond));
            throw new RegistryException(ErrorCode.TOO_MANY_REQUESTS,
                    who.name() + " sends more than " + perSecond + " requests per second", seconds);
        }
    }
}
