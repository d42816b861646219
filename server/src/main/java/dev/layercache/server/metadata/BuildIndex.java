package dev.layercache.server.metadata;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * BUILDS: what a stock builder's build reused and rebuilt (a build record, JSON written by
 * {@code builds.BuildRecord}), per repository, newest first. The name of a record is its time
 * subtracted from {@link Long#MAX_VALUE} in 16 hex digits (so that key order is newest first and a
 * repository's latest builds are one short scan) and 8 random hex digits (so that two builds in
 * the same millisecond, or from two nodes of a cluster, never overwrite each other). Written once,
 * never changed; kept bounded by the lifecycle's history pruning like the other per-repository
 * records.
 */
public final class BuildIndex implements HistoryIndex {
    /**
     * Build records (and cache exports) kept per repository at most, whatever the history bound:
     * a build record is a few kilobytes where a tombstone is a few bytes.
     */
    public static final int MAX_PER_REPOSITORY = 1000;

    private final KeyValueStore kv;

    public BuildIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    /** Adds a record of a build made at {@code atMillis}. */
    public void put(KeyValueStore.Batch batch, String repository, long atMillis, byte[] record) {
        String name = HexFormat.of().toHexDigits(Long.MAX_VALUE - Math.max(0, atMillis))
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        batch.put(Table.BUILDS, Keys.of(repository, name), record);
    }

    /** The newest {@code limit} records of {@code repository}, newest first. */
    public List<byte[]> newest(String repository, int limit) {
        List<byte[]> out = new ArrayList<>();
        for (KeyValueStore.Entry e : kv.scan(Table.BUILDS, Keys.prefix(repository), null, limit)) {
            out.add(e.value());
        }
        return out;
    }

    @Override
    public void forEach(Visitor visitor) {
        kv.forEach(Table.BUILDS, e -> {
            String[] key = Keys.split(e.key());
            if (key.length == 2) {
                visitor.record(key[0], key[1], atMillis(key[1]));
            }
        });
    }

    @Override
    public void delete(KeyValueStore.Batch batch, String repository, String name) {
        batch.delete(Table.BUILDS, Keys.of(repository, name));
    }

    /** When a record was made, from its name; 0 (as old as can be) for a name this version did not write. */
    static long atMillis(String name) {
        if (name.length() < 16) {
            return 0;
        }
        try {
            return Long.MAX_VALUE - HexFormat.fromHexDigitsToLong(name, 0, 16);
        } catch (IllegalArgumentException e) {
            return 0;
        }
    }
}
