package dev.layercache.server.metrics;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/** The last evictions, newest first, for the stats API and the dashboard. */
final class RecentEvictions {
    /** One root removed to stay within the budget. */
    record Eviction(Instant at, String namespace, String kind, String reference, long bytes) {
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

    synchronized List<Eviction> list() {
        return new ArrayList<>(recent);
    }
}
