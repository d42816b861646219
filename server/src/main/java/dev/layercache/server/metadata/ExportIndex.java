package dev.layercache.server.metadata;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * EXPORTS: the last BuildKit cache export pushed under each reference of a repository (its cache
 * config, as BuildKit's JSON), with when: what the next export of that reference is compared
 * with. Kept here rather than read back from the previous manifest, which the new push untags and
 * collection may have removed by the time of the next build. The value is the push time (8 bytes)
 * and the JSON. Kept bounded by the lifecycle's history pruning: a reference whose export was
 * pruned is compared as a first export.
 */
public final class ExportIndex implements HistoryIndex {
    private final KeyValueStore kv;

    /** An export as stored: when it was pushed and its cache config JSON. */
    public record StoredExport(long atMillis, byte[] cacheConfig) {
    }

    public ExportIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    public StoredExport get(String repository, String reference) {
        byte[] value = kv.get(Table.EXPORTS, Keys.of(repository, reference));
        if (value == null || value.length < 8) {
            return null;
        }
        return new StoredExport(ByteBuffer.wrap(value).getLong(0), Arrays.copyOfRange(value, 8, value.length));
    }

    public void put(KeyValueStore.Batch batch, String repository, String reference, long atMillis, byte[] cacheConfig) {
        byte[] value = ByteBuffer.allocate(8 + cacheConfig.length).putLong(atMillis).put(cacheConfig).array();
        batch.put(Table.EXPORTS, Keys.of(repository, reference), value);
    }

    @Override
    public void forEach(Visitor visitor) {
        kv.forEach(Table.EXPORTS, e -> {
            String[] key = Keys.split(e.key());
            if (key.length == 2) {
                visitor.record(key[0], key[1], e.value().length >= 8 ? ByteBuffer.wrap(e.value()).getLong(0) : 0);
            }
        });
    }

    @Override
    public void delete(KeyValueStore.Batch batch, String repository, String name) {
        batch.delete(Table.EXPORTS, Keys.of(repository, name));
    }
}
