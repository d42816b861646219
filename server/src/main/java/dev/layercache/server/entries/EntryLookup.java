package dev.layercache.server.entries;

import dev.layercache.api.v1.LookupResult;
import dev.layercache.api.v1.MissReason;
import dev.layercache.server.core.LookupOutcome;

/**
 * One lookup of an entry: the answer for the client ({@code result}: the entry, or why it
 * missed) and what it came to for the cache ({@code outcome}). A miss the classifier calls
 * {@link MissReason#EVICTED} is a capacity miss: the key's entry was here and was removed.
 */
public record EntryLookup(LookupResult result, LookupOutcome outcome) {
    static EntryLookup of(LookupResult result) {
        LookupOutcome outcome = result.hasEntry() ? LookupOutcome.HIT
                : result.getMiss().getReason() == MissReason.EVICTED ? LookupOutcome.CAPACITY_MISS
                : LookupOutcome.MISS;
        return new EntryLookup(result, outcome);
    }

}
