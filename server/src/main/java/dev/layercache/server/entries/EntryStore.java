package dev.layercache.server.entries;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.layercache.api.v1.Entry;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.MetadataException;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.metadata.TombstoneIndex;

/**
 * The three tables behind cache entries: ENTRIES (key to entry), STEPS (step identity to its
 * last publication, stored as an entry without layers) and TOMBSTONES (keys the cache held and
 * lost). Values are the API's own protobuf messages.
 */
final class EntryStore {
    private final KeyValueStore kv;
    private final TombstoneIndex tombstones;

    EntryStore(KeyValueStore kv) {
        this.kv = kv;
        this.tombstones = new TombstoneIndex(kv);
    }

    Entry entry(RepositoryName ns, Digest key) {
        return decode(kv.get(Table.ENTRIES, Keys.of(ns.toString(), key.toString())));
    }

    /** The last publication of a step identity, or null. */
    Entry lastPublication(RepositoryName ns, String stepId) {
        return decode(kv.get(Table.STEPS, Keys.of(ns.toString(), stepId)));
    }

    boolean wasRemoved(RepositoryName ns, Digest key) {
        return tombstones.contains(ns.toString(), key.toString());
    }

    void putEntry(KeyValueStore.Batch batch, RepositoryName ns, Entry entry) {
        batch.put(Table.ENTRIES, Keys.of(ns.toString(), entry.getKey()), entry.toByteArray());
        tombstones.delete(batch, ns.toString(), entry.getKey());
    }

    void putPublication(KeyValueStore.Batch batch, RepositoryName ns, Entry publication) {
        batch.put(Table.STEPS, Keys.of(ns.toString(), publication.getStep().getStepId()), publication.toByteArray());
    }

    void removeEntry(KeyValueStore.Batch batch, RepositoryName ns, Digest key, long nowMillis) {
        batch.delete(Table.ENTRIES, Keys.of(ns.toString(), key.toString()));
        tombstones.put(batch, ns.toString(), key.toString(), nowMillis);
    }

    private static Entry decode(byte[] bytes) {
        if (bytes == null) {
            return null;
        }
        try {
            return Entry.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new MetadataException("corrupt entry record", e);
        }
    }
}
