package dev.layercache.server.lifecycle;

import dev.layercache.server.config.ServerConfig;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * When the lifecycle works: once at start (count the store, once the start-up check has ended),
 * every {@code lifecycle-interval},
 * at once when writes take the store past the high watermark of its budget, and the scrub every
 * {@code scrub-every} on a low-priority thread of its own. Runs never overlap: they share one
 * thread, and requests go on meanwhile.
 */
final class LifecycleScheduler implements AutoCloseable {
    /** The least time between write-triggered runs while the store stays over its watermark. */
    private static final long PAUSE_AFTER_RUN_OVER_NANOS = 1_000_000_000L;
    private static final Logger log = LoggerFactory.getLogger(LifecycleScheduler.class);

    private final ServerConfig.Lifecycle settings;
    private final StoreStatus status;
    private final Runnable count;
    private final Runnable run;
    private final Runnable scrub;
    private final AtomicBoolean runRequested = new AtomicBoolean();
    private volatile ScheduledExecutorService thread;
    private ScheduledExecutorService scrubThread;

    /**
     * @param count counts the store and sets the budget in force (first thing on the thread)
     * @param run   one scheduled run
     * @param scrub one scrub pass
     */
    LifecycleScheduler(ServerConfig.Lifecycle settings, StoreStatus status, Runnable count, Runnable run,
                       Runnable scrub) {
        this.settings = settings;
        this.status = status;
        this.count = count;
        this.run = run;
        this.scrub = scrub;
    }

    /** Counts the store on the lifecycle's thread, then runs every interval from now on. */
    void start() {
        thread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "layercache-lifecycle");
            t.setDaemon(true);
            return t;
        });
        thread.execute(() -> {
            try {
                // The start-up check may still be forgetting records and adopting files in the
                // background: a count before its end would be of a half-repaired store, and every
                // run on this thread comes after the count.
                status.awaitStartupCheck();
                count.run();
                blobStored(0); // over the watermark already: a run now
            } catch (InterruptedException stopping) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                log.error("counting the store failed", e);
            }
        });
        long every = settings.interval().toMillis();
        thread.scheduleWithFixedDelay(() -> runSafely(false), every, every, TimeUnit.MILLISECONDS);
        if (settings.scrubRate() > 0) {
            scrubThread = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "layercache-scrub");
                t.setDaemon(true);
                t.setPriority(Thread.MIN_PRIORITY);
                return t;
            });
            scrubThread.scheduleWithFixedDelay(scrub, settings.scrubEvery().toMillis(),
                    settings.scrubEvery().toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private void runSafely(boolean requested) {
        try {
            run.run();
        } catch (RuntimeException | Error e) {
            log.error("lifecycle run failed", e);
        } finally {
            if (requested) {
                // Writes during the run asked for no other: check once, against the run's last count.
                runRequested.set(false);
                blobStored(0);
            }
        }
    }

    /**
     * A blob of {@code bytes} was stored: when that takes the store past the high watermark of
     * its budget, a run starts now rather than at the next interval (a burst of pushes can
     * bring many times the budget within one interval).
     */
    void blobStored(long bytes) {
        long since = status.stored(bytes);
        long estimate = status.countedBytes() + since;
        Budget b = status.budget();
        ScheduledExecutorService t = thread;
        // After a run that could not get under the watermark (blobs in their grace period), the
        // next one waits for another watermark's gap of new bytes and a second: not a full pass
        // per upload, also when the gap is next to nothing (a budget lowered to a few bytes by
        // min-free-disk on a full disk made every stored blob a pass over the whole store).
        boolean worthARun = !status.endedOverHighWatermark()
                || (since >= b.highBytes() - b.lowBytes() && status.nanosSinceRunEnded() >= PAUSE_AFTER_RUN_OVER_NANOS);
        if (b.maxBytes() > 0 && estimate > b.highBytes() && worthARun && t != null
                && runRequested.compareAndSet(false, true)) {
            try {
                t.execute(() -> runSafely(true));
            } catch (RejectedExecutionException stopping) {
                runRequested.set(false);
            }
        }
    }

    /** Stops the threads; waits for a run in progress to end (up to ten seconds). */
    @Override
    public void close() {
        if (scrubThread != null) {
            scrubThread.shutdownNow();
        }
        ScheduledExecutorService t = thread;
        if (t != null) {
            t.shutdownNow();
            try {
                t.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
