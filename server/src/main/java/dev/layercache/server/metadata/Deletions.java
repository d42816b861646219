package dev.layercache.server.metadata;

import java.util.function.Consumer;

/**
 * Deletions of many records (a pruning pass, a sweep), committed every {@value #BATCH}: one
 * batch of a million deletions would sit in memory whole. Not fsynced: a crash can only bring
 * back records that the next pass removes again.
 */
public final class Deletions {
    static final int BATCH = 10_000;

    private final KeyValueStore kv;
    private KeyValueStore.Batch batch;
    private int pending;
    private long total;

    public Deletions(KeyValueStore kv) {
        this.kv = kv;
    }

    /** Adds one deletion ({@code delete} puts it in the batch it is given, through a typed index). */
    public void add(Consumer<KeyValueStore.Batch> delete) {
        if (batch == null) {
            batch = kv.batch();
        }
        delete.accept(batch);
        total++;
        if (++pending == BATCH) {
            commit();
        }
    }

    /** Commits what is pending; returns how many deletions were added in all. */
    public long finish() {
        if (batch != null) {
            commit();
        }
        return total;
    }

    private void commit() {
        batch.commit(false);
        batch = null;
        pending = 0;
    }
}
