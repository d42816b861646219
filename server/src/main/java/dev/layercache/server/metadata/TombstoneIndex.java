package dev.layercache.server.metadata;

import java.nio.ByteBuffer;

/**
 * TOMBSTONES: names a repository held and lost (a tag, or a cache entry's key), with when. A miss
 * on such a name is a capacity miss: the cache had the answer and let it go. Tags cannot contain
 * ':' and entry keys are digests, so both share the table without colliding. A name published
 * again loses its tombstone.
 */
public final class TombstoneIndex {
    private final KeyValueStore kv;

    public TombstoneIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    public boolean contains(String repository, String name) {
        return kv.get(Table.TOMBSTONES, Keys.of(repository, name)) != null;
    }

    public void put(KeyValueStore.Batch batch, String repository, String name, long removedAtMillis) {
        batch.put(Table.TOMBSTONES, Keys.of(repository, name), ByteBuffer.allocate(8).putLong(removedAtMillis).array());
    }

    public void delete(KeyValueStore.Batch batch, String repository, String name) {
        batch.delete(Table.TOMBSTONES, Keys.of(repository, name));
    }
}
