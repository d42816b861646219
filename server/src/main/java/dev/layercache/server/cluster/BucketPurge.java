package dev.layercache.server.cluster;

import dev.layercache.server.core.Digest;
import dev.layercache.server.lifecycle.NamespacePurge;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.storage.ObjectStore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A namespace purge's share of the bucket: removing the bucket's copy of a blob no other
 * repository references, and telling the other nodes that a namespace was purged.
 *
 * <p><b>Blobs</b> go by the bucket collection's protocol ({@link BucketCollector}): a pending
 * mark, then a claim, then a last look at the mark, so a node publishing against the blob at that
 * moment (which revives it: deletes the mark, then waits out the claim) either keeps it or learns
 * that it is gone. Unlike the collector's, the mark is not left for a grace period first: the
 * operator asked for the space now. The purge has already found that no other repository
 * references the blob, so only a publication in another repository naming that very blob within
 * the same second can race it; such a publication finds the blob gone or names bytes a read then
 * reports missing (and the node forgets the root), as after a lost blob.
 *
 * <p><b>Notices</b>: tags and cache entries are read from the bucket on every lookup, but each node keeps its own copy of records that never change (manifests by
 * digest, links) and of blob bytes. A purge leaves {@code purges/<epoch millis>-<uuid>} holding
 * the namespace; every node lists new notices with its bucket probe (every 2 s, the listing it
 * made anyway, so a purge costs no extra request) and purges its own copies. A node that was down
 * applies every notice when it starts. Notices are a few bytes each and are kept, so a node
 * restored from an old backup still drops what was purged since.
 */
public final class BucketPurge implements NamespacePurge.SharedCopy {
    private static final Logger log = LoggerFactory.getLogger(BucketPurge.class);
    static final String NOTICES = "purges/";
    /** Notices are listed from this long before the newest one seen: nodes' clocks differ a little. */
    private static final Duration SKEW = Duration.ofMinutes(5);
    private static final int PAGE = 1000;

    private final ObjectStore bucket;
    private final Clock clock;
    private volatile Consumer<String> apply;
    private long newestSeen;
    private final Set<String> applied = new HashSet<>();

    public BucketPurge(ObjectStore bucket, Clock clock) {
        this.bucket = bucket;
        this.clock = clock;
    }

    @Override
    public boolean remove(Digest digest) throws IOException {
        String mark = BucketCollector.PENDING + digest;
        String claim = BucketCollector.SWEEPING + digest;
        bucket.put(mark, new byte[0]);
        bucket.put(claim, (UUID.randomUUID() + " purge " + clock.instant()).getBytes(StandardCharsets.UTF_8));
        // As in BucketCollector.sweep: the claim stays if a request fails (a delete whose answer
        // was lost may still land); the next collection removes it.
        boolean answered = false;
        try {
            if (bucket.size(mark) < 0) {
                answered = true;
                return false; // a node revived it since the mark
            }
            bucket.delete(MetaKeys.object(Table.BLOBS, Keys.utf8(digest.toString())));
            bucket.delete(TieredBlobBackend.object(digest));
            bucket.delete(mark);
            answered = true;
            return true;
        } finally {
            if (answered) {
                bucket.delete(claim);
            }
        }
    }

    /** Tells the other nodes that {@code namespace} was purged. */
    public void announce(String namespace) throws IOException {
        String key = NOTICES + String.format("%013d", clock.millis()) + "-" + UUID.randomUUID();
        bucket.put(key, namespace.getBytes(StandardCharsets.UTF_8));
        log.info("purge of {} announced to the cluster as {}", namespace, key);
    }

    /** From now on, each new notice (and, at the first listing, every one there is) goes to {@code action}. */
    public void whenPurged(Consumer<String> action) {
        this.apply = action;
    }

    /**
     * The bucket probe: lists the notices since the newest seen (less the clocks' skew) and
     * applies the new ones; before {@link #whenPurged}, a one-key listing only.
     */
    public void poll() throws IOException {
        Consumer<String> action = apply;
        if (action == null) {
            bucket.list(NOTICES, null, 1);
            return;
        }
        synchronized (this) {
            String after = newestSeen == 0 ? null
                    : NOTICES + String.format("%013d", Math.max(0, newestSeen - SKEW.toMillis()));
            while (true) {
                List<String> page = bucket.list(NOTICES, after, PAGE);
                for (String key : page) {
                    if (applied.add(key)) {
                        byte[] namespace = bucket.get(key);
                        if (namespace != null) {
                            action.accept(new String(namespace, StandardCharsets.UTF_8));
                        }
                        newestSeen = Math.max(newestSeen, millisOf(key));
                    }
                }
                if (page.size() < PAGE) {
                    break;
                }
                after = page.get(page.size() - 1);
            }
            long forgetBefore = newestSeen - 2 * SKEW.toMillis();
            applied.removeIf(k -> millisOf(k) < forgetBefore);
        }
    }

    private static long millisOf(String key) {
        try {
            return Long.parseLong(key.substring(NOTICES.length(), NOTICES.length() + 13));
        } catch (RuntimeException e) {
            return 0;
        }
    }
}
