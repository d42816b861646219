package dev.layercache.server.cluster;

import dev.layercache.server.core.Root;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.storage.ObjectStore;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells the bucket's collector which roots are in use: for a root this node served, an empty
 * object {@code access/<table>/<key>} whose time is the use, rewritten at most once per
 * {@code every} per root and node, off the request path. A lost mark costs at most an early
 * eviction of a cache entry, never a broken root.
 */
public final class AccessMarks {
    private static final Logger log = LoggerFactory.getLogger(AccessMarks.class);
    private static final int REMEMBERED = 100_000;

    private final ObjectStore bucket;
    private final long everyMillis;
    private final Clock clock;
    private final Map<Root, Long> marked = new ConcurrentHashMap<>();
    /** One writer, a bounded queue: when the bucket is slow, marks are dropped, requests never wait. */
    private final ExecutorService writer = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(10_000), r -> {
                Thread t = new Thread(r, "layercache-access-marks");
                t.setDaemon(true);
                return t;
            }, new ThreadPoolExecutor.DiscardPolicy());

    public AccessMarks(ObjectStore bucket, Duration every, Clock clock) {
        this.bucket = bucket;
        this.everyMillis = every.toMillis();
        this.clock = clock;
    }

    /** The object that marks {@code root}'s use. */
    static String object(Root root) {
        Table table = switch (root.kind()) {
            case TAG -> Table.TAGS;
            case ENTRY -> Table.ENTRIES;
            case MANIFEST -> Table.MANIFESTS;
        };
        return BucketCollector.ACCESS + MetaKeys.object(table, Keys.of(root.repository(), root.name()))
                .substring("meta/".length());
    }

    /** {@code root} was used now (on the request path: one map lookup unless a mark is due). */
    public void used(Root root) {
        long now = clock.millis();
        Long last = marked.get(root);
        if (last != null && now - last < everyMillis) {
            return;
        }
        if (marked.size() > REMEMBERED) {
            marked.clear();
        }
        Long raced = last == null ? marked.putIfAbsent(root, now) : marked.replace(root, last, now) ? null : last;
        if (raced != null) {
            return; // another request is writing this mark
        }
        writer.execute(() -> {
            try {
                bucket.put(object(root), new byte[0]);
            } catch (Exception e) {
                log.debug("access mark of {} not written: {}", root.reference(), e.toString());
            }
        });
    }

    public void close() {
        writer.shutdownNow();
    }
}
