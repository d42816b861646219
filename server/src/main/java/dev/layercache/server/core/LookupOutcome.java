package dev.layercache.server.core;

/**
 * What a lookup came to, as the cache's hit rate sees it: the domain says what happened, and each
 * surface's recorder turns that into meters (docs/metrics.md, "What counts as a lookup"). A capacity miss
 * is a miss of something this cache held and removed to stay within its budget: it is a miss,
 * and tells the operator the budget is too small.
 */
public enum LookupOutcome {
    HIT,
    MISS,
    CAPACITY_MISS;

    /** True for a hit; both kinds of miss are misses. */
    public boolean hit() {
        return this == HIT;
    }
}
