package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Which roots a plan evicts, on roots made up here: the rules, one case each. */
class EvictionPlanTest {
    private static final long BASE = 1;

    private static EvictionPlan.Root root(String name, long lastUse, long... blobsAndSizes) {
        long[] blobs = new long[blobsAndSizes.length / 2];
        long[] sizes = new long[blobs.length];
        for (int i = 0; i < blobs.length; i++) {
            blobs[i] = blobsAndSizes[2 * i];
            sizes[i] = blobsAndSizes[2 * i + 1];
        }
        return new EvictionPlan.Root(name, lastUse, blobs, sizes);
    }

    private static List<Object> chosen(List<EvictionPlan.Root> roots, long toFree) {
        return EvictionPlan.choose(roots, toFree).stream().map(EvictionPlan.Root::id).toList();
    }

    @Test
    void leastRecentlyUsedFirstAndOnlyAsManyAsNeeded() {
        List<EvictionPlan.Root> roots = List.of(
                root("c", 30, BASE, 100, 13, 50),
                root("a", 10, BASE, 100, 11, 50),
                root("b", 20, BASE, 100, 12, 50));
        assertEquals(List.of("a"), chosen(roots, 40));
        assertEquals(List.of("a"), chosen(roots, 50));
        assertEquals(List.of("a", "b"), chosen(roots, 51));
        assertEquals(List.of(), chosen(roots, 0));
    }

    @Test
    void rootsHoldingNoBlobAtAllFreeNothingEvenUnderABudgetOfAByte() {
        // A budget lowered to a byte (min-free-disk on a full disk) asked for a plan over roots
        // with no blobs, and the plan failed on its empty arrays at every run.
        assertEquals(List.of(), chosen(List.of(), Long.MAX_VALUE));
        assertEquals(List.of(), chosen(List.of(root("empty", 10), root("also", 20)), Long.MAX_VALUE));
    }

    @Test
    void theSharedBaseIsFreedOnlyWithTheLastRootHoldingIt() {
        List<EvictionPlan.Root> roots = List.of(
                root("a", 10, BASE, 100, 11, 50),
                root("b", 20, BASE, 100, 12, 50));
        assertEquals(List.of("a", "b"), chosen(roots, 101), "only evicting both frees the base");
        assertEquals(List.of("a", "b"), chosen(roots, 10_000), "not enough to free: every root that frees anything");
    }

    @Test
    void aRootWhoseBlobsNewerRootsAllHoldIsNeverEvicted() {
        List<EvictionPlan.Root> roots = List.of(
                root("old-tag-of-the-same-image", 10, 21, 100, 22, 100),
                root("other", 15, 23, 100),
                root("newer", 30, 21, 100, 22, 100, 24, 10));
        assertEquals(List.of("other"), chosen(roots, 100),
                "the old tag frees nothing while the newer root holds its blobs: it stays");
        assertEquals(List.of("old-tag-of-the-same-image", "other", "newer"), chosen(roots, 250),
                "once the newer root must go too, the old one goes with it");
    }

    @Test
    void rootsTiedInTimeGoTogether() {
        List<EvictionPlan.Root> roots = List.of(
                root("latest", 10, 31, 100),
                root("v1", 10, 31, 100),
                root("next", 20, 32, 100));
        assertEquals(List.of("latest", "v1"), chosen(roots, 1), "two tags of one image, pushed together");
    }

    @Test
    void aRootThatHoldsNoStoredByteIsNeverEvicted() {
        List<EvictionPlan.Root> roots = List.of(
                root("empty", 1),
                root("missing-blobs", 2, 41, 0),
                root("real", 3, 42, 100));
        assertEquals(List.of("real"), chosen(roots, 1_000));
    }
}
