package dev.layercache.server.metadata;

import java.nio.ByteBuffer;

/**
 * TOMBSTONES: names a repository held and lost (a tag, or a cache entry's key), with when. A miss
 * on such a name is a capacity miss: the cache had the answer and let it go. Tags cannot contain
 * ':' and entry keys are digests, so both share the table without colliding. A name published
 * again loses its tombstone.
 */
public final class TombstoneIndex implements HistoryIndex {
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

    @Override
    public void delete(KeyValueStore.Batch batch, String repository, String name) {
        batch.delete(Table.TOMBSTONES, Keys.of(repository, name));
    }

    /**
     * Every tombstone with when its name was lost (0 for a value this version cannot read); a
     * key without a repository (this version never writes one) is skipped.
     */
    @Override
    public void forEach(Visitor visitor) {
        kv.forEach(Table.TOMBSTONES, e -> {
            String[] key = Keys.split(e.key());
            if (key.length == 2) {
                visitor.record(key[0], key[1], e.value().length == 8 ? ByteBuffer.wrap(e.value()).getLong(0) : 0);
            }
        });
    }
}
