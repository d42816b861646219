package dev.layercache.server.entries;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.LookupResult;
import dev.layercache.api.v1.MissExplanation;
import dev.layercache.api.v1.MissReason;
import dev.layercache.server.core.LookupOutcome;
import org.junit.jupiter.api.Test;

/** What an entry lookup came to for the cache, from its answer. */
class EntryLookupTest {
    @Test
    void anEntryIsAHitAnEvictionACapacityMissAnyOtherReasonAMiss() {
        assertEquals(LookupOutcome.HIT, EntryLookup.of(LookupResult.newBuilder()
                .setEntry(Entry.newBuilder().setKey("k")).build()).outcome());
        for (MissReason reason : MissReason.values()) {
            if (reason == MissReason.UNRECOGNIZED) {
                continue;
            }
            LookupResult miss = LookupResult.newBuilder().setMiss(MissExplanation.newBuilder().setReason(reason)).build();
            assertEquals(reason == MissReason.EVICTED ? LookupOutcome.CAPACITY_MISS : LookupOutcome.MISS,
                    EntryLookup.of(miss).outcome(), reason.name());
        }
    }
}
