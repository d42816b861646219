package dev.layercache.server.mirror;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The upstreams that asked not to be asked for a while (a 429 with {@code Retry-After}): until
 * then the mirror does not ask them, serving what it holds stale and answering misses 429 at once.
 * Asking a rate-limited upstream again only spends the limit it is waiting on (harbor#13112).
 */
final class Backoffs {
    /** The longest wait honoured, whatever an upstream says: a tag is not left unchecked for hours. */
    static final Duration MAX = Duration.ofMinutes(10);

    private record Hold(Instant until) {
    }

    private final Map<String, Hold> holds = new ConcurrentHashMap<>();

    /** Remembers the wait a failure asked for, if it is a 429 that said how long. */
    void note(String upstream, UpstreamException e, Instant now) {
        Duration wait = e.kind() == UpstreamException.Kind.RATE_LIMITED ? e.retryAfter() : null;
        if (wait != null && !wait.isNegative() && !wait.isZero()) {
            holds.put(upstream, new Hold(now.plus(wait.compareTo(MAX) > 0 ? MAX : wait)));
        }
    }

    /** The refusal to answer with while {@code upstream} asked to be left alone; null when it may be asked. */
    UpstreamException current(String upstream, Instant now) {
        Hold h = holds.get(upstream);
        if (h == null) {
            return null;
        }
        if (!now.isBefore(h.until())) {
            holds.remove(upstream, h);
            return null;
        }
        return new UpstreamException(UpstreamException.Kind.RATE_LIMITED, 429, "upstream " + upstream
                + " asked not to be asked before " + h.until() + " (Retry-After)")
                .retryAfter(Duration.between(now, h.until()));
    }
}
