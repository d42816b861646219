package dev.layercache.server.cluster;

import dev.layercache.server.core.Digest;
import dev.layercache.server.storage.ObjectStore;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The publication side of the bucket's collection: before a node publishes a root (a manifest,
 * an entry, a link), it revives every blob the root names that a collector marked pending, so the
 * collector's next run keeps it. One {@code LIST} of the pending marks (usually empty) per
 * publication; past a thousand marks, one {@code HEAD} per named blob instead.
 *
 * <p>A blob it revived may be in the middle of its deletion: a collector that looked at the mark
 * before it went deletes all the same. So, for each blob it revived, and only then, the
 * publisher looks for the collector's claim after deleting the mark, waits while there is one,
 * and finally looks whether the bytes survived; the order of these looks against the collector's
 * is what makes the pair safe, see {@link BucketCollector}. Bytes that did not survive are
 * reported to {@code collected}, which makes this node forget what it cached about the blob, so
 * the publication's own checks see that it is gone.
 */
public final class Revival {
    private static final Logger log = LoggerFactory.getLogger(Revival.class);
    private static final int LIST_LIMIT = 1000;
    /**
     * How long a claim may stay unchanged before its collector is taken for dead: more than a
     * collector deletes for ({@link BucketCollector#SWEEP_LIMIT}) plus the deadline of the request
     * it may have sent last.
     */
    static final Duration ABANDONED_AFTER = BucketCollector.SWEEP_LIMIT.plus(Duration.ofSeconds(25));
    private static final long FIRST_PAUSE_MILLIS = 10;
    private static final long LONGEST_PAUSE_MILLIS = 500;

    private final ObjectStore bucket;
    private final BucketHealth health;
    private final BiConsumer<Digest, String> collected;
    private final Duration abandonedAfter;

    /**
     * @param collected told of a blob this node published against that was deleted from the
     *                  bucket meanwhile (the node forgets its records and copy of it)
     */
    public Revival(ObjectStore bucket, BucketHealth health, BiConsumer<Digest, String> collected) {
        this(bucket, health, collected, ABANDONED_AFTER);
    }

    Revival(ObjectStore bucket, BucketHealth health, BiConsumer<Digest, String> collected, Duration abandonedAfter) {
        this.bucket = bucket;
        this.health = health;
        this.collected = collected;
        this.abandonedAfter = abandonedAfter;
    }

    /**
     * Revives those of {@code digests} that are pending, and returns once none of them is being
     * deleted any more; UNAVAILABLE when the bucket is unreachable.
     */
    public void revive(Collection<Digest> digests) {
        if (digests.isEmpty()) {
            return;
        }
        try {
            List<String> marks = bucket.list(BucketCollector.PENDING, null, LIST_LIMIT + 1);
            Set<String> pending = new HashSet<>();
            boolean complete = marks.size() <= LIST_LIMIT;
            marks.forEach(m -> pending.add(m.substring(BucketCollector.PENDING.length())));
            List<Digest> revived = new ArrayList<>();
            for (Digest d : digests) {
                String mark = BucketCollector.PENDING + d;
                if (complete ? pending.contains(d.toString()) : bucket.size(mark) >= 0) {
                    bucket.delete(mark);
                    revived.add(d);
                }
            }
            for (Digest d : revived) {
                awaitSweep(d);
                if (bucket.size(TieredBlobBackend.object(d)) < 0) {
                    collected.accept(d, "was deleted from the bucket by its collection as it was published against");
                }
            }
            health.up();
        } catch (ObjectStore.UnavailableException e) {
            throw health.refuse(e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Returns when no collector claims {@code digest}, or when the one that did has been silent too long. */
    private void awaitSweep(Digest digest) throws IOException {
        String claim = BucketCollector.SWEEPING + digest;
        byte[] seen = bucket.get(claim);
        long since = System.nanoTime();
        long pause = FIRST_PAUSE_MILLIS;
        while (seen != null) {
            if (System.nanoTime() - since > abandonedAfter.toNanos()) {
                log.warn("{} has been claimed by a collector for {} ms without change; taking it for dead",
                        claim, abandonedAfter.toMillis());
                bucket.delete(claim);
                return;
            }
            try {
                Thread.sleep(pause);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted waiting for the collection of " + digest);
            }
            pause = Math.min(pause * 2, LONGEST_PAUSE_MILLIS);
            byte[] now = bucket.get(claim);
            if (now != null && !Arrays.equals(now, seen)) {
                since = System.nanoTime(); // another collector's claim: it gets its own time
            }
            seen = now;
        }
    }
}
