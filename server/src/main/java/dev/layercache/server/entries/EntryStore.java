package dev.layercache.server.entries;

import dev.layercache.api.v1.Entry;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.EntryIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.StepIndex;
import dev.layercache.server.metadata.TombstoneIndex;

/**
 * The three tables behind cache entries: ENTRIES (key to entry), STEPS (step identity to its
 * last publication, stored as an entry without layers) and TOMBSTONES (keys the cache held and
 * lost), kept together: an entry published under a key removes its tombstone, a removed one
 * leaves one.
 */
final class EntryStore {
    private final EntryIndex entries;
    private final StepIndex steps;
    private final TombstoneIndex tombstones;

    EntryStore(KeyValueStore kv) {
        this.entries = new EntryIndex(kv);
        this.steps = new StepIndex(kv);
        this.tombstones = new TombstoneIndex(kv);
    }

    Entry entry(RepositoryName ns, Digest key) {
        return entries.get(ns, key);
    }

    /** The last publication of a step identity, or null. */
    Entry lastPublication(RepositoryName ns, String stepId) {
        return steps.get(ns, stepId);
    }

    boolean wasRemoved(RepositoryName ns, Digest key) {
        return tombstones.contains(ns.toString(), key.toString());
    }

    void putEntry(KeyValueStore.Batch batch, RepositoryName ns, Entry entry) {
        entries.put(batch, ns, entry);
        tombstones.delete(batch, ns.toString(), entry.getKey());
    }

    void putPublication(KeyValueStore.Batch batch, RepositoryName ns, Entry publication) {
        steps.put(batch, ns, publication);
    }

    void removeEntry(KeyValueStore.Batch batch, RepositoryName ns, Digest key, long nowMillis) {
        entries.delete(batch, ns, key);
        tombstones.put(batch, ns.toString(), key.toString(), nowMillis);
    }
}
