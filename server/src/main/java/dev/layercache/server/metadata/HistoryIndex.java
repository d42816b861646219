package dev.layercache.server.metadata;

/**
 * A table of per-repository records of when something happened (names lost, steps published):
 * written as a side effect of traffic, kept bounded by the lifecycle's pruning, which needs no
 * more of such a table than this.
 */
public interface HistoryIndex {
    /** One record: its repository (or namespace), its name there, and when it happened. */
    @FunctionalInterface
    interface Visitor {
        /** @param atMillis epoch millis; 0 for a value this version cannot read (as old as can be) */
        void record(String repository, String name, long atMillis);
    }

    /** Every record, in key order: one repository's records come together. */
    void forEach(Visitor visitor);

    void delete(KeyValueStore.Batch batch, String repository, String name);
}
