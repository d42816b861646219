package dev.layercache.server.retention;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.Root;
import dev.layercache.server.metadata.AccessIndex;
import dev.layercache.server.metadata.KeyValueStore;
import java.time.Clock;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * When roots were last used, for least-recently-used eviction, without a metadata write per read:
 * uses are kept to the millisecond in memory (so that roots pushed within one second are
 * still told apart) and written in one batch by {@link #flush} (the lifecycle
 * calls it each run and at shutdown; a crash loses at most the uses since the last flush, which
 * only makes those roots look a little older). Blobs that clients asked about are remembered in
 * memory only: that is what protects a blob a client was just told exists from collection.
 * The records are {@link AccessIndex}'s.
 */
public final class AccessTracker {
    /** Past this many remembered roots the memory is cleared (a flush has written what mattered). */
    private static final int MAX_REMEMBERED = 1_000_000;

    private final KeyValueStore kv;
    private final AccessIndex uses;
    private final Clock clock;
    private final Map<Root, Long> known = new ConcurrentHashMap<>();
    private final Map<Root, Long> dirty = new ConcurrentHashMap<>();
    private final Map<Digest, Long> blobsSeen = new ConcurrentHashMap<>();

    /** How stale a blob's recorded use may be: a minute, or a quarter of a shorter grace period. */
    private final long seenResolutionMillis;

    /** Blob uses protect blobs for {@code gcGrace}; they are recorded often enough to matter within it. */
    public AccessTracker(KeyValueStore kv, Clock clock, java.time.Duration gcGrace) {
        this.kv = kv;
        this.uses = new AccessIndex(kv);
        this.clock = clock;
        this.seenResolutionMillis = Math.min(60_000, gcGrace.toMillis() / 4);
    }

    /** {@code root} was used (read, or published) now. */
    public void touch(Root root) {
        touched.accept(root);
        long millis = now();
        Long previous = known.put(root, millis);
        if (previous == null || previous != millis) {
            dirty.put(root, millis);
        }
    }

    /** A client was told {@code digest} exists (or stored it): keep it through the grace period. */
    public void touchBlob(Digest digest) {
        long now = clock.millis();
        Long seen = blobsSeen.get(digest);
        if (seen == null || now - seen > seenResolutionMillis) {
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
            Long millis = dirty.remove(root);
            if (millis != null) {
                uses.put(batch, root, millis);
            }
        }
        batch.commit(false);
        if (known.size() > MAX_REMEMBERED) {
            known.clear();
        }
    }

    /** Every recorded last use in milliseconds since the epoch, by root (flush first for the latest). */
    public Map<Root, Long> lastUses() {
        Map<Root, Long> out = new HashMap<>();
        uses.forEach(out::put);
        return out;
    }

    /** Drops the record of a root that is gone. */
    public void forget(KeyValueStore.Batch batch, Root root) {
        known.remove(root);
        dirty.remove(root);
        uses.delete(batch, root);
    }

    /** Now, in milliseconds since the epoch: the unit of every last use. */
    public long now() {
        return clock.millis();
    }
}
