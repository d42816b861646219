package dev.layercache.server.lifecycle;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Which roots to evict so that at least a given number of bytes are freed, least recently used
 * first, without evicting a root whose removal frees nothing.
 *
 * <p>A blob is freed once every root that references it is gone, so a blob is as recent as the
 * most recently used root that holds it. Evicting the roots used at or before some time T frees
 * exactly the blobs no more recent than T. The plan takes the earliest T whose blobs add up to
 * the bytes wanted, and evicts the roots used by T that hold at least one of those blobs. A root
 * whose blobs are all held by more recently used roots (a base layer, an image tagged again, a
 * per-step cache tag whose layers the final image repeats) stays: evicting it would lose its
 * hits and free no byte. Roots tied at T go together, as they free their shared blobs together.
 *
 * <p>Blobs are identified by the first 64 bits of their digest and kept in primitive arrays: a
 * plan over a million references costs a few tens of megabytes, not objects per blob.
 */
final class EvictionPlan {
    /** A root as the plan sees it: when it was last used and the blobs it holds, with their sizes. */
    record Root(Object id, long lastUse, long[] blobs, long[] sizes) {
    }

    private EvictionPlan() {
    }

    /**
     * The roots to evict, least recently used first, to free at least {@code toFree} bytes; all
     * roots that free anything when even that is not enough; none when {@code toFree <= 0}.
     */
    static List<Root> choose(List<Root> roots, long toFree) {
        if (toFree <= 0 || roots.isEmpty()) {
            return List.of();
        }
        // Every distinct blob, its size, and the last use of the most recent root holding it.
        int references = 0;
        for (Root r : roots) {
            references += r.blobs().length;
        }
        long[] ids = new long[references];
        int n = 0;
        for (Root r : roots) {
            System.arraycopy(r.blobs(), 0, ids, n, r.blobs().length);
            n += r.blobs().length;
        }
        Arrays.sort(ids);
        int distinct = 0;
        for (int i = 0; i < ids.length; i++) {
            if (i == 0 || ids[i] != ids[i - 1]) {
                ids[distinct++] = ids[i];
            }
        }
        if (distinct == 0) {
            return List.of(); // no root holds a blob (none at all, or only empty ones): none frees anything
        }
        ids = Arrays.copyOf(ids, distinct);
        long[] recency = new long[distinct];
        long[] size = new long[distinct];
        Arrays.fill(recency, Long.MIN_VALUE);
        for (Root r : roots) {
            for (int j = 0; j < r.blobs().length; j++) {
                int at = Arrays.binarySearch(ids, r.blobs()[j]);
                recency[at] = Math.max(recency[at], r.lastUse());
                size[at] = Math.max(size[at], r.sizes()[j]);
            }
        }
        long threshold = threshold(recency, size, toFree);
        List<Root> chosen = new ArrayList<>();
        for (Root r : roots) {
            if (r.lastUse() <= threshold && freesSomething(r, ids, recency, size, threshold)) {
                chosen.add(r);
            }
        }
        chosen.sort(Comparator.comparingLong(Root::lastUse));
        return chosen;
    }

    /** The earliest time T whose blobs (recency at most T) add up to {@code toFree}; the latest if none does. */
    private static long threshold(long[] recency, long[] size, long toFree) {
        long[] times = recency.clone();
        Arrays.sort(times);
        int lo = 0;
        int hi = times.length - 1;
        while (lo < hi) { // the first time whose freed bytes reach toFree
            int mid = (lo + hi) >>> 1;
            if (freedBy(times[mid], recency, size) >= toFree) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return times[lo];
    }

    private static long freedBy(long time, long[] recency, long[] size) {
        long bytes = 0;
        for (int i = 0; i < recency.length; i++) {
            if (recency[i] <= time) {
                bytes += size[i];
            }
        }
        return bytes;
    }

    private static boolean freesSomething(Root r, long[] ids, long[] recency, long[] size, long threshold) {
        for (long blob : r.blobs()) {
            int at = Arrays.binarySearch(ids, blob);
            if (recency[at] <= threshold && size[at] > 0) {
                return true;
            }
        }
        return false;
    }
}
