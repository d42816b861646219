package dev.layercache.server.lifecycle;

import dev.layercache.server.core.Digest;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.Table;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * When roots were last used, for least-recently-used eviction, without a metadata write per read:
 * uses are kept to the minute in memory and written in one batch by {@link #flush} (the lifecycle
 * calls it each run and at shutdown; a crash loses at most the uses since the last flush, which
 * only makes those roots look a little older). Blobs that clients asked about are remembered in
 * memory only: that is what protects a blob a client was just told exists from collection.
 */
public final class AccessTracker {
    /** Past this many remembered roots the memory is cleared (a flush has written what mattered). */
    private static final int MAX_REMEMBERED = 1_000_000;

    private final KeyValueStore kv;
    private final Clock clock;
    private final Map<Root, Long> known = new ConcurrentHashMap<>();
    private final Map<Root, Long> dirty = new ConcurrentHashMap<>();
    private final Map<Digest, Long> blobsSeen = new ConcurrentHashMap<>();

    public AccessTracker(KeyValueStore kv, Clock clock) {
        this.kv = kv;
        this.clock = clock;
    }

    /** {@code root} was used (read, or published) now. */
    public void touch(Root root) {
        touched.accept(root);
        long minute = minute();
        Long previous = known.put(root, minute);
        if (previous == null || previous != minute) {
            dirty.put(root, minute);
        }
    }

    /** A client was told {@code digest} exists (or stored it): keep it through the grace period. */
    public void touchBlob(Digest digest) {
        long now = clock.millis();
        Long seen = blobsSeen.get(digest);
        if (seen == null || now - seen > 60_000) {
            blobsSeen.put(digest, now);
        }
    }

    /** When a client last heard of {@code digest} from this process, or 0. */
    public long blobSeenAt(Digest digest) {
        return blobsSeen.getOrDefault(digest, 0L);
    }

    /** Forgets blobs seen before {@code millis}: the grace period is over for them. */
    public void forgetBlobsSeenBefore(long millis) {
        blobsSeen.values().removeIf(t -> t < millis);
    }

    /** In a cluster: told of every use of a root, to mark it in the bucket too (it must be cheap). */
    private volatile java.util.function.Consumer<Root> touched = root -> { };

    public void whenTouched(java.util.function.Consumer<Root> listener) {
        this.touched = listener;
    }

    /** Writes the uses since the last flush. */
    public void flush() {
        if (dirty.isEmpty()) {
            return;
        }
        KeyValueStore.Batch batch = kv.batch();
        for (Root root : List.copyOf(dirty.keySet())) {
            Long minute = dirty.remove(root);
            if (minute != null) {
                batch.put(Table.ACCESS, key(root), ByteBuffer.allocate(8).putLong(minute).array());
            }
        }
        batch.commit(false);
        if (known.size() > MAX_REMEMBERED) {
            known.clear();
        }
    }

    /** Every recorded last use, by root (flush first for the latest). */
    public Map<Root, Long> lastUses() {
        Map<Root, Long> uses = new HashMap<>();
        kv.forEach(Table.ACCESS, e -> {
            String[] parts = Keys.string(e.key()).split("\0", 3);
            if (parts.length == 3) {
                uses.put(new Root(Root.Kind.valueOf(parts[0]), parts[1], parts[2]), ByteBuffer.wrap(e.value()).getLong(0));
            }
        });
        return uses;
    }

    /** Drops the record of a root that is gone. */
    public void forget(KeyValueStore.Batch batch, Root root) {
        known.remove(root);
        dirty.remove(root);
        batch.delete(Table.ACCESS, key(root));
    }

    public long minute() {
        return Math.floorDiv(clock.millis(), 60_000L);
    }

    private static byte[] key(Root root) {
        return Keys.of(root.kind().name(), root.repository(), root.name());
    }
}
