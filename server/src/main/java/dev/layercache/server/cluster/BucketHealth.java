package dev.layercache.server.cluster;

import dev.layercache.server.storage.ObjectStore;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether this node can reach the shared bucket: every bucket request reports its outcome here,
 * and a probe every few seconds finds out when an unreachable bucket is back. {@code /readyz}
 * answers from it, so a load balancer sends writes elsewhere while it is down.
 */
public final class BucketHealth implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BucketHealth.class);

    private final AtomicBoolean up = new AtomicBoolean(true);
    private final ScheduledExecutorService probe = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "layercache-bucket-probe");
        t.setDaemon(true);
        return t;
    });

    /** What a probe does: one cheap bucket request, which fails when the bucket cannot be reached. */
    @FunctionalInterface
    public interface Probe {
        void run() throws Exception;
    }

    /** Probes {@code bucket} every {@code every} (a one-key listing: the cheapest request there is). */
    public void watch(ObjectStore bucket, Duration every) {
        watch(every, () -> bucket.list("nodes/", null, 1));
    }

    /**
     * Runs {@code request} every {@code every}: a cluster node's probe lists the purge notices
     * ({@link BucketPurge#poll}), a listing it would make anyway.
     */
    public void watch(Duration every, Probe request) {
        probe.scheduleWithFixedDelay(() -> {
            try {
                request.run();
                up();
            } catch (Exception e) {
                down(e);
            }
        }, 0, every.toMillis(), TimeUnit.MILLISECONDS);
    }

    public boolean isUp() {
        return up.get();
    }

    public void up() {
        if (up.compareAndSet(false, true)) {
            log.info("the shared bucket is reachable again");
        }
    }

    public void down(Throwable why) {
        if (up.compareAndSet(true, false)) {
            log.warn("the shared bucket cannot be reached: {}", why.toString());
        }
    }

    /**
     * Marks the bucket down and returns the protocol error for a write that could not reach it:
     * {@code 503 UNAVAILABLE} on HTTP, {@code UNAVAILABLE} on gRPC, nothing stored.
     */
    public dev.layercache.server.core.RegistryException refuse(ObjectStore.UnavailableException e) {
        down(e);
        return new dev.layercache.server.core.RegistryException(dev.layercache.server.core.ErrorCode.UNAVAILABLE,
                "the shared bucket cannot be reached; nothing was stored, try again", null);
    }

    @Override
    public void close() {
        probe.shutdownNow();
    }
}
