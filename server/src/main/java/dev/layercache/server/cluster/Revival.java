package dev.layercache.server.cluster;

import dev.layercache.server.core.Digest;
import dev.layercache.server.storage.ObjectStore;
import java.io.IOException;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The publication side of the bucket's collection: before a node publishes a root (a manifest,
 * an entry, a link), it revives every blob the root names that a collector marked pending, so the
 * collector's next run keeps it. One {@code LIST} of the pending marks (usually empty) per
 * publication; past a thousand marks, one {@code HEAD} per named blob instead.
 */
public final class Revival {
    private static final int LIST_LIMIT = 1000;

    private final ObjectStore bucket;
    private final BucketHealth health;

    public Revival(ObjectStore bucket, BucketHealth health) {
        this.bucket = bucket;
        this.health = health;
    }

    /** Revives those of {@code digests} that are pending; UNAVAILABLE when the bucket is unreachable. */
    public void revive(Collection<Digest> digests) {
        if (digests.isEmpty()) {
            return;
        }
        try {
            List<String> marks = bucket.list(BucketCollector.PENDING, null, LIST_LIMIT + 1);
            Set<String> pending = new HashSet<>();
            boolean complete = marks.size() <= LIST_LIMIT;
            marks.forEach(m -> pending.add(m.substring(BucketCollector.PENDING.length())));
            for (Digest d : digests) {
                String mark = BucketCollector.PENDING + d;
                if (complete ? pending.contains(d.toString()) : bucket.size(mark) >= 0) {
                    bucket.delete(mark);
                }
            }
            health.up();
        } catch (ObjectStore.UnavailableException e) {
            throw health.refuse(e);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
