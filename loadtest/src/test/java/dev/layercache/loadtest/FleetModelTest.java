package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.client.CacheKey;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The simulator's model of the cache: which answers it allows while builders publish and
 * overwrite concurrently. Each case is a timeline of begin and end events.
 */
class FleetModelTest {
    private static final CacheKey KEY = CacheKey.parse("sha256:" + "ab".repeat(32));

    @Test
    void aPublishedKeyMustHitAndAnUnpublishedOneMustMiss() {
        PublishedKeys keys = new PublishedKeys();
        assertEquals(Expectation.MISS, keys.expectation(KEY, keys.isPublished(KEY)));
        keys.beginPublishing(KEY);
        keys.endPublishing(KEY, true);
        assertTrue(keys.isPublished(KEY));
        assertEquals(Expectation.HIT, keys.expectation(KEY, keys.isPublished(KEY)));
    }

    @Test
    void aLookupOverlappingAPublicationMayGoEitherWay() {
        PublishedKeys keys = new PublishedKeys();
        boolean before = keys.isPublished(KEY); // the lookup is sent
        keys.beginPublishing(KEY); // another builder's PutEntry is sent
        assertEquals(Expectation.EITHER, keys.expectation(KEY, before)); // the lookup's answer comes
        keys.endPublishing(KEY, true);
        assertEquals(Expectation.EITHER, keys.expectation(KEY, before));
    }

    @Test
    void aFailedPublicationLeavesTheKeyUncertainForGood() {
        PublishedKeys keys = new PublishedKeys();
        keys.beginPublishing(KEY);
        keys.endPublishing(KEY, false);
        assertFalse(keys.isPublished(KEY));
        assertEquals(Expectation.EITHER, keys.expectation(KEY, keys.isPublished(KEY)));
    }

    @Test
    void aValueIsTheLastWriteOnceNothingOverlaps() {
        OverwrittenValue<String> ref = new OverwrittenValue<>("none");
        assertEquals(List.of("none"), observe(ref));
        ref.endWrite(ref.beginWrite("a"), true);
        ref.endWrite(ref.beginWrite("b"), true);
        assertEquals(List.of("b"), observe(ref));
    }

    @Test
    void anObservationSeesWritesInFlightAndWritesThatBeginDuringIt() {
        OverwrittenValue<String> ref = new OverwrittenValue<>("none");
        long a = ref.beginWrite("a");
        OverwrittenValue.Observation<String> o = ref.beginObservation();
        long b = ref.beginWrite("b");
        ref.endWrite(a, true);
        ref.endWrite(b, true);
        assertEquals(Set.of("none", "a", "b"), Set.copyOf(ref.endObservation(o)));
    }

    @Test
    void overlappingWritesMayLandInEitherOrder() {
        OverwrittenValue<String> ref = new OverwrittenValue<>("none");
        long a = ref.beginWrite("a");
        long b = ref.beginWrite("b");
        ref.endWrite(a, true);
        assertEquals(Set.of("a", "b"), Set.copyOf(observe(ref))); // b may be applied already
        ref.endWrite(b, true);
        assertEquals(Set.of("a", "b"), Set.copyOf(observe(ref)));
        ref.endWrite(ref.beginWrite("c"), true);
        assertEquals(List.of("c"), observe(ref));
    }

    @Test
    void aWriteThatDidNotOverlapTheLastCannotBeLast() {
        // y [0, 2], x [1, 4], w [3, 5]: y was applied before w began, x may land after w.
        OverwrittenValue<String> ref = new OverwrittenValue<>("none");
        long y = ref.beginWrite("y");
        long x = ref.beginWrite("x");
        ref.endWrite(y, true);
        long w = ref.beginWrite("w");
        ref.endWrite(x, true);
        ref.endWrite(w, true);
        assertEquals(Set.of("w", "x"), Set.copyOf(observe(ref)));
    }

    @Test
    void aFailedWriteMayOrMayNotHaveLanded() {
        OverwrittenValue<String> ref = new OverwrittenValue<>("none");
        ref.endWrite(ref.beginWrite("a"), true);
        ref.endWrite(ref.beginWrite("b"), false);
        assertEquals(Set.of("a", "b"), Set.copyOf(observe(ref)));
    }

    @Test
    void anExpectationHoldsOnlyInEveryPossibleState() {
        List<Set<String>> states = List.of(Set.of("k1", "k2"), Set.of("k2"));
        assertEquals(Expectation.HIT, Expectation.over(states, s -> s.contains("k2")));
        assertEquals(Expectation.EITHER, Expectation.over(states, s -> s.contains("k1")));
        assertEquals(Expectation.MISS, Expectation.over(states, s -> s.contains("k3")));
    }

    private static List<String> observe(OverwrittenValue<String> ref) {
        return ref.endObservation(ref.beginObservation());
    }
}
