package dev.layercache.server.metadata;

import java.util.List;

/**
 * A sorted key-value store with named tables and atomic multi-table batches: the only thing the
 * metadata indexes need from RocksDB. Keys sort as unsigned bytes.
 *
 * <p>Durability: a batch committed with {@code durable = true} survives a crash of the process and
 * of the machine once {@link Batch#commit} returns; with {@code false} it survives a crash of the
 * process (kill -9) but may be lost with the machine. Implementations are thread-safe.
 */
public interface KeyValueStore extends AutoCloseable {

    /** One key and value of a scan. */
    record Entry(byte[] key, byte[] value) {
    }

    byte[] get(Table table, byte[] key);

    /** The length of {@code key}'s value, or -1 when there is none: for callers that need no bytes. */
    default long valueLength(Table table, byte[] key) {
        byte[] v = get(table, key);
        return v == null ? -1 : v.length;
    }

    /**
     * Up to {@code limit} entries of {@code table} whose key starts with {@code prefix}, in key
     * order, beginning after {@code startAfter} (or at the prefix when it is null).
     */
    List<Entry> scan(Table table, byte[] prefix, byte[] startAfter, int limit);

    /** The keys of {@link #scan}, for callers that need no values (a shared store then reads fewer objects). */
    default List<byte[]> scanKeys(Table table, byte[] prefix, byte[] startAfter, int limit) {
        return scan(table, prefix, startAfter, limit).stream().map(Entry::key).toList();
    }

    /**
     * Every entry of {@code table}, in key order, read page by page (so a table of millions never
     * sits in memory at once); for the lifecycle's passes over whole tables.
     */
    default void forEach(Table table, java.util.function.Consumer<Entry> action) {
        final int page = 4096;
        byte[] after = null;
        while (true) {
            List<Entry> entries = scan(table, new byte[0], after, page);
            entries.forEach(action);
            if (entries.size() < page) {
                return;
            }
            after = entries.get(entries.size() - 1).key();
        }
    }

    /** How many records {@code table} holds: a pass over its keys. */
    default long count(Table table) {
        final int page = 4096;
        long n = 0;
        byte[] after = null;
        while (true) {
            List<byte[]> keys = scanKeys(table, new byte[0], after, page);
            n += keys.size();
            if (keys.size() < page) {
                return n;
            }
            after = keys.get(keys.size() - 1);
        }
    }

    /** True when at least one key of {@code table} starts with {@code prefix}. */
    default boolean anyWithPrefix(Table table, byte[] prefix) {
        return !scanKeys(table, prefix, null, 1).isEmpty();
    }

    Batch batch();

    @Override
    void close();

    /**
     * Told of each key a batch put or deleted, once the batch is applied (or failed: the caller
     * then cannot know, so it is told all the same). Runs on the committing thread: it must be
     * cheap and must not block.
     */
    interface ChangeListener {
        void changed(Table table, byte[] key);
    }

    /** Puts and deletes across tables, applied all or nothing. */
    interface Batch {
        Batch put(Table table, byte[] key, byte[] value);

        Batch delete(Table table, byte[] key);

        void commit(boolean durable);
    }
}
