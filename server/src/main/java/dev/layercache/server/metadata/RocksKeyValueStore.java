package dev.layercache.server.metadata;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;
import org.slf4j.LoggerFactory;

/**
 * {@link KeyValueStore} on an embedded RocksDB, one column family per {@link Table}.
 *
 * <p>RocksDB's native code crashes the whole process when it is used after {@code close()} (a
 * background scan still running at shutdown did exactly that). Every operation is therefore
 * counted in and out; {@link #close} first refuses new operations, then waits for those in
 * progress, and only then frees the native handles. A late caller gets a {@link MetadataException}.
 */
public final class RocksKeyValueStore implements KeyValueStore {

    static {
        RocksNative.load();
    }

    private final RocksDB db;
    private final DBOptions dbOptions;
    private final ColumnFamilyOptions cfOptions;
    private final List<ColumnFamilyHandle> handles;
    private final Map<Table, ColumnFamilyHandle> tables = new EnumMap<>(Table.class);
    private final WriteOptions durableWrite = new WriteOptions().setSync(true);
    private final WriteOptions processSafeWrite = new WriteOptions().setSync(false);
    /** Operations in progress: striped, so that counting costs the hot paths no shared cache line. */
    private final LongAdder inFlight = new LongAdder();
    private volatile boolean closed;
    /** Told of the changes to {@link #watched} tables (see {@link #whenCommitted}); null: nobody. */
    private volatile ChangeListener changes;
    private volatile java.util.Set<Table> watched = java.util.Set.of();

    /**
     * Tells {@code listener} of every key of {@code tables} that any batch puts or deletes, after
     * the batch is written: every writer of this store, whatever its path (push, eviction,
     * collection, repair...), so that a memory of answers over these tables (the HTTP fast path's
     * {@code registry.AnswerCache}) never depends on each writer remembering to say so.
     */
    public void whenCommitted(java.util.Set<Table> tables, ChangeListener listener) {
        this.watched = java.util.EnumSet.copyOf(tables);
        this.changes = listener;
    }

    public RocksKeyValueStore(Path directory) {
        try {
            Files.createDirectories(directory);
            // Bounded on disk and in memory whatever the traffic: with a dozen column families and
            // RocksDB's defaults, the write-ahead log may reach gigabytes (max_total_wal_size 0 is
            // four times all write buffers) and the memtables as much native memory before any
            // flush, and the MANIFEST a gigabyte before it rolls over. In a soak of a CI fleet the
            // log grew steadily with nothing flushed (BENCHMARKS.md, "Figures behind choices in
            // the code"); with 16 MiB the folder's size is a sawtooth of that height over the
            // live records.
            dbOptions = new DBOptions()
                    .setCreateIfMissing(true)
                    .setCreateMissingColumnFamilies(true)
                    .setKeepLogFileNum(5)
                    .setMaxTotalWalSize(16L << 20)
                    .setDbWriteBufferSize(64L << 20)
                    .setMaxManifestFileSize(64L << 20);
            cfOptions = new ColumnFamilyOptions().optimizeForPointLookup(64);
            List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
            descriptors.add(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY, cfOptions));
            for (Table t : Table.values()) {
                descriptors.add(new ColumnFamilyDescriptor(t.columnFamily().getBytes(), cfOptions));
            }
            handles = new ArrayList<>();
            db = RocksDB.open(dbOptions, directory.toString(), descriptors, handles);
            for (Table t : Table.values()) {
                tables.put(t, handles.get(t.ordinal() + 1));
            }
        } catch (RocksDBException | java.io.IOException e) {
            String why = String.valueOf(e.getMessage());
            if (why.contains("LOCK") && (why.contains("temporarily unavailable") || why.contains("lock hold"))) {
                // RocksDB's own folder lock: another process (a node of an older version, or a
                // tool) has this store open. Said plainly rather than as RocksDB's errno text.
                throw new MetadataException("metadata store " + directory + " is in use by another process"
                        + " (RocksDB's LOCK file is held): stop it, or choose another --data-dir", e);
            }
            throw new MetadataException("cannot open metadata store in " + directory + ": " + e.getMessage(), e);
        }
    }

    @Override
    public byte[] get(Table table, byte[] key) {
        enter();
        try {
            return db.get(tables.get(table), key);
        } catch (RocksDBException e) {
            throw new MetadataException("metadata read failed: " + e.getMessage(), e);
        } finally {
            inFlight.decrement();
        }
    }

    /** Counts an operation in; refuses it once the store is closing. Pair with {@code inFlight.decrement()}. */
    private void enter() {
        inFlight.increment();
        if (closed) {
            inFlight.decrement();
            throw new MetadataException("the metadata store is closed", null);
        }
    }

    @Override
    public List<Entry> scan(Table table, byte[] prefix, byte[] startAfter, int limit) {
        List<Entry> out = new ArrayList<>(Math.min(limit, 1024));
        scan(table, prefix, startAfter, limit, (key, it) -> out.add(new Entry(key, it.value())), out::size);
        return out;
    }

    /**
     * Keys only: a value is copied across JNI for nothing otherwise (the tags list reads fifty
     * keys per request; their values were an eighth of its CPU).
     */
    @Override
    public List<byte[]> scanKeys(Table table, byte[] prefix, byte[] startAfter, int limit) {
        List<byte[]> out = new ArrayList<>(Math.min(limit, 1024));
        scan(table, prefix, startAfter, limit, (key, it) -> out.add(key), out::size);
        return out;
    }

    private void scan(Table table, byte[] prefix, byte[] startAfter, int limit,
                      java.util.function.BiConsumer<byte[], RocksIterator> take, java.util.function.IntSupplier taken) {
        enter();
        try (ReadOptions ro = new ReadOptions().setPrefixSameAsStart(false);
             RocksIterator it = db.newIterator(tables.get(table), ro)) {
            if (startAfter != null && compare(startAfter, prefix) >= 0) {
                it.seek(startAfter);
                if (it.isValid() && Arrays.equals(it.key(), startAfter)) {
                    it.next();
                }
            } else {
                it.seek(prefix);
            }
            while (it.isValid() && taken.getAsInt() < limit) {
                byte[] key = it.key();
                if (!startsWith(key, prefix)) {
                    break;
                }
                take.accept(key, it);
                it.next();
            }
        } finally {
            inFlight.decrement();
        }
    }

    @Override
    public Batch batch() {
        return new RocksBatch();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (inFlight.sum() > 0) {
            if (System.nanoTime() > deadline) {
                // Freeing the handles now could crash the process; leaving them is only a leak at exit.
                LoggerFactory.getLogger(RocksKeyValueStore.class).warn(
                        "metadata operations still running after 30 s; leaving the store open");
                return;
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
        // Flush the memtables so that a clean restart replays no WAL (replaying one took most of a
        // start in the week-of-a-fleet benchmark); closing handles before the DB is required.
        try (org.rocksdb.FlushOptions flush = new org.rocksdb.FlushOptions().setWaitForFlush(true)) {
            db.flush(flush, handles);
            db.syncWal();
        } catch (RocksDBException ignored) {
            // closing anyway; the WAL is replayed at the next open
        }
        for (ColumnFamilyHandle h : handles) {
            h.close();
        }
        db.close();
        dbOptions.close();
        cfOptions.close();
        durableWrite.close();
        processSafeWrite.close();
    }

    private final class RocksBatch implements Batch {
        private final WriteBatch batch = new WriteBatch();
        /** The keys of watched tables this batch changes, alternating table and key; null: none yet. */
        private List<Object> changed;

        private void note(Table table, byte[] key) {
            if (changes != null && watched.contains(table)) {
                if (changed == null) {
                    changed = new ArrayList<>(4);
                }
                changed.add(table);
                changed.add(key);
            }
        }

        @Override
        public Batch put(Table table, byte[] key, byte[] value) {
            note(table, key);
            enter(); // the column family handle is native too
            try {
                batch.put(tables.get(table), key, value);
            } catch (RocksDBException e) {
                throw new MetadataException("metadata write failed: " + e.getMessage(), e);
            } finally {
                inFlight.decrement();
            }
            return this;
        }

        @Override
        public Batch delete(Table table, byte[] key) {
            note(table, key);
            enter(); // the column family handle is native too
            try {
                batch.delete(tables.get(table), key);
            } catch (RocksDBException e) {
                throw new MetadataException("metadata write failed: " + e.getMessage(), e);
            } finally {
                inFlight.decrement();
            }
            return this;
        }

        @Override
        public void commit(boolean durable) {
            try (batch) {
                enter();
                try {
                    db.write(durable ? durableWrite : processSafeWrite, batch);
                } finally {
                    inFlight.decrement();
                }
            } catch (RocksDBException e) {
                throw new MetadataException("metadata write failed: " + e.getMessage(), e);
            } finally {
                tell();
            }
        }

        private void tell() {
            ChangeListener listener = changes;
            if (changed == null || listener == null) {
                return;
            }
            for (int i = 0; i < changed.size(); i += 2) {
                listener.changed((Table) changed.get(i), (byte[]) changed.get(i + 1));
            }
        }
    }

    private static boolean startsWith(byte[] key, byte[] prefix) {
        return key.length >= prefix.length && Arrays.equals(key, 0, prefix.length, prefix, 0, prefix.length);
    }

    private static int compare(byte[] a, byte[] b) {
        return Arrays.compareUnsigned(a, b);
    }
}
