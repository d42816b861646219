package dev.layercache.server.cluster;

import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.storage.ObjectStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * The metadata of a cluster node: the bucket holds the truth, this node's RocksDB a cache of it.
 *
 * <p>Every shared record is an object {@code meta/<table>/<key>} (see {@link MetaKeys}). What a
 * read costs depends on whether the record can change once written:
 * <ul>
 *   <li><b>Write-once</b> records (blob sizes, repository links, manifests by digest, referrers,
 *       the repository list) are read from the local cache, and from the bucket only on a local
 *       miss, which then fills the cache. Their bytes never change, so a cached copy is never
 *       wrong; a deletion on another node reaches this one when its cache lets the record go.
 *   <li><b>Changing</b> records (tags, cache entries, step history, tombstones) are read from the
 *       bucket every time, one {@code GET}, so a tag pushed through one node is what every node
 *       answers at once; last writer wins. When the bucket cannot be reached, the cached copy
 *       answers (a stale hit beats no build cache at all).
 *   <li><b>Local</b> records (access times, upload sessions, analyses, blob releases) never leave the node.
 * </ul>
 *
 * <p>A batch is written to the bucket first, one object per change, and only then to the local
 * cache; it is acknowledged only when the bucket has all of it. The bucket has no multi-object
 * transactions, so puts go in dependency order (blobs, links, manifests, then the tags and entries
 * that name them) and deletes in reverse: a crash half-way leaves at most unreferenced records,
 * which collection removes, never a tag naming a missing manifest.
 */
public final class SharedKeyValueStore implements KeyValueStore {

    /** How a table is kept; see the class comment. */
    enum Sharing { LOCAL, WRITE_ONCE, CHANGING }

    private static final int PAGE = 1000;

    private final KeyValueStore local;
    private final ObjectStore bucket;
    private final BucketHealth health;

    public SharedKeyValueStore(KeyValueStore local, ObjectStore bucket, BucketHealth health) {
        this.local = local;
        this.bucket = bucket;
        this.health = health;
    }

    static Sharing sharing(Table table) {
        return switch (table) {
            // BLOB_BYTES: a node alone's small blobs; a cluster keeps every blob as a file (TieredBlobBackend).
            case ACCESS, UPLOADS, ANALYSES, RELEASES, BLOB_BYTES -> Sharing.LOCAL;
            case BLOBS, LINKS, MANIFESTS, REFERRERS, REPOSITORIES, BUILDS -> Sharing.WRITE_ONCE;
            case TAGS, ENTRIES, STEPS, TOMBSTONES, EXPORTS -> Sharing.CHANGING;
        };
    }

    /** Tables whose values are always empty: a listed key is the whole record, no {@code GET} needed. */
    private static boolean keyOnly(Table table) {
        return table == Table.REPOSITORIES || table == Table.REFERRERS;
    }

    /**
     * Order of writes within a batch: what a record names is written before the record. BLOBS
     * comes first because a link or manifest must never name bytes the bucket lacks.
     */
    private static int rank(Table table) {
        return switch (table) {
            case BLOBS -> 0;
            case LINKS, REPOSITORIES -> 1;
            case MANIFESTS -> 2;
            case REFERRERS, STEPS -> 3;
            case ENTRIES, TAGS -> 4;
            case TOMBSTONES, ACCESS, UPLOADS, ANALYSES, RELEASES, BUILDS, EXPORTS, BLOB_BYTES -> 5;
        };
    }

    @Override
    public byte[] get(Table table, byte[] key) {
        Sharing sharing = sharing(table);
        if (sharing == Sharing.LOCAL) {
            return local.get(table, key);
        }
        byte[] cached = local.get(table, key);
        if (sharing == Sharing.WRITE_ONCE && cached != null) {
            return cached;
        }
        byte[] shared;
        try {
            shared = bucket.get(MetaKeys.object(table, key));
            health.up();
        } catch (ObjectStore.UnavailableException e) {
            health.down(e);
            return cached; // a changing record: the last copy seen beats no answer
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        refresh(table, key, cached, shared);
        return shared;
    }

    /**
     * Brings the local copy in line with the bucket. Blob records stay out of the cache: on this
     * node a BLOBS row means "the bytes are on this disk" to the local lifecycle.
     */
    private void refresh(Table table, byte[] key, byte[] cached, byte[] shared) {
        if (table == Table.BLOBS || Arrays.equals(cached, shared)) {
            return;
        }
        Batch b = local.batch();
        if (shared == null) {
            b.delete(table, key);
        } else {
            b.put(table, key, shared);
        }
        b.commit(false);
    }

    @Override
    public List<Entry> scan(Table table, byte[] prefix, byte[] startAfter, int limit) {
        if (sharing(table) == Sharing.LOCAL) {
            return local.scan(table, prefix, startAfter, limit);
        }
        List<Entry> out = new ArrayList<>();
        try {
            for (String object : objects(table, prefix, startAfter, limit)) {
                byte[] key = MetaKeys.key(table, object);
                byte[] value = keyOnly(table) ? new byte[0] : valueOf(table, key, object);
                if (value != null) {
                    out.add(new Entry(key, value));
                }
            }
            health.up();
            return out;
        } catch (ObjectStore.UnavailableException e) {
            health.down(e);
            return local.scan(table, prefix, startAfter, limit);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The objects of the records of {@code table} whose key starts with {@code prefix}, in order.
     * One listing of the prefix's objects, except for a prefix ending in {@code /}: a key's last
     * slash is escaped in its object ({@code x/} is {@code x%2F}, since object keys never end in
     * a slash), so no single object prefix matches both {@code x/} and {@code x/y}. The listing is
     * then of the prefix without its slash, filtered. No index scans with such a prefix (theirs
     * end in a NUL); the contract asks for it all the same.
     */
    private List<String> objects(Table table, byte[] prefix, byte[] startAfter, int limit) throws IOException {
        String after = startAfter == null ? null : MetaKeys.object(table, startAfter);
        boolean slash = prefix.length > 0 && prefix[prefix.length - 1] == '/';
        if (!slash) {
            return bucket.list(MetaKeys.object(table, prefix), after, limit);
        }
        String listed = MetaKeys.object(table, Arrays.copyOf(prefix, prefix.length - 1));
        List<String> out = new ArrayList<>();
        while (out.size() < limit) {
            List<String> page = bucket.list(listed, after, PAGE);
            for (String object : page) {
                byte[] key = MetaKeys.key(table, object);
                if (out.size() < limit && key.length >= prefix.length
                        && Arrays.equals(key, 0, prefix.length, prefix, 0, prefix.length)) {
                    out.add(object);
                }
            }
            if (page.size() < PAGE) {
                break;
            }
            after = page.get(page.size() - 1);
        }
        return out;
    }

    private byte[] valueOf(Table table, byte[] key, String object) throws IOException {
        if (sharing(table) == Sharing.WRITE_ONCE) {
            byte[] cached = local.get(table, key);
            if (cached != null) {
                return cached;
            }
        }
        byte[] shared = bucket.get(object);
        if (shared != null) {
            refresh(table, key, local.get(table, key), shared);
        }
        return shared;
    }

    @Override
    public List<byte[]> scanKeys(Table table, byte[] prefix, byte[] startAfter, int limit) {
        if (sharing(table) == Sharing.LOCAL) {
            return local.scanKeys(table, prefix, startAfter, limit);
        }
        try {
            List<byte[]> keys = new ArrayList<>();
            for (String object : objects(table, prefix, startAfter, limit)) {
                keys.add(MetaKeys.key(table, object));
            }
            health.up();
            return keys;
        } catch (ObjectStore.UnavailableException e) {
            health.down(e);
            return local.scanKeys(table, prefix, startAfter, limit);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public Batch batch() {
        return new SharedBatch();
    }

    @Override
    public void close() {
        local.close();
    }

    private record Change(Table table, byte[] key, byte[] value) {
        boolean isDelete() {
            return value == null;
        }
    }

    private final class SharedBatch implements Batch {
        private final List<Change> changes = new ArrayList<>();

        @Override
        public Batch put(Table table, byte[] key, byte[] value) {
            changes.add(new Change(table, key, value));
            return this;
        }

        @Override
        public Batch delete(Table table, byte[] key) {
            changes.add(new Change(table, key, null));
            return this;
        }

        @Override
        public void commit(boolean durable) {
            List<Change> shared = new ArrayList<>();
            for (Change c : changes) {
                if (sharing(c.table()) != Sharing.LOCAL && !alreadyShared(c)) {
                    shared.add(c);
                }
            }
            // Puts by rank, then deletes by reverse rank; stable, so one table keeps its order.
            shared.sort(Comparator.comparingInt((Change c) -> c.isDelete() ? 1 : 0)
                    .thenComparingInt(c -> c.isDelete() ? -rank(c.table()) : rank(c.table())));
            try {
                for (Change c : shared) {
                    String object = MetaKeys.object(c.table(), c.key());
                    if (c.isDelete()) {
                        bucket.delete(object);
                    } else {
                        bucket.put(object, c.value());
                    }
                }
                if (!shared.isEmpty()) {
                    health.up();
                }
            } catch (ObjectStore.UnavailableException e) {
                throw health.refuse(e);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Batch b = local.batch();
            for (Change c : changes) {
                if (c.isDelete()) {
                    b.delete(c.table(), c.key());
                } else {
                    b.put(c.table(), c.key(), c.value()); // a BLOBS put comes with the bytes on this disk
                }
            }
            b.commit(durable);
        }

        /** A repository already listed needs no second {@code PUT} for every blob pushed to it. */
        private boolean alreadyShared(Change c) {
            return c.table() == Table.REPOSITORIES && !c.isDelete() && local.get(c.table(), c.key()) != null;
        }
    }
}
