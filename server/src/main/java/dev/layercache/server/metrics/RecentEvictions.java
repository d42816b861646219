package dev.layercache.server.metrics;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/** The last evictions, newest first, for the stats API and the dashboard. */
final class RecentEvictions {
    /** One root removed to stay within the budget; {@code repository} decides who may see it. */
    record Eviction(Instant at, String namespace, String repository, String kind, String reference, long bytes) {
    }

    private final int capacity;
    private final Deque<Eviction> recent = new ArrayDeque<>();

    RecentEvictions(int capacity) {
        this.capacity = capacity;
    }

    synchronized void add(Eviction e) {
        recent.addFirst(e);
        while (recent.size() > capacity) {
            recent.removeLast();
        }
    }

    /** The evictions in repositories {@code shown} accepts, newest first. */
    synchronized List<Eviction> list(java.util.function.Predicate<String> shown) {
        List<Eviction> out = new ArrayList<>();
        for (Eviction e : recent) {
            if (shown.test(e.repository())) {
                out.add(e);
            }
        }
        return out;
    }
}
