package dev.layercache.server.metrics;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the store holds, for the gauges and the stats API: the last {@link StoreCensus} count,
 * taken on a thread of its own every {@link #EVERY} and whenever the lifecycle has changed the
 * store, and the disk budget the lifecycle reports.
 */
final class StoreWatch implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StoreWatch.class);
    /** How often the store is counted. */
    static final Duration EVERY = Duration.ofSeconds(30);

    private volatile StoreCensus.Totals totals = StoreCensus.Totals.NONE;
    private volatile long budgetBytes;
    private StoreCensus census;
    private ScheduledExecutorService thread;

    /** Shows the store's gauges in {@code registry}; they read zeros until the first count. */
    void gauges(MeterRegistry registry) {
        Gauge.builder("layercache.store.bytes", () -> totals.bytes()).description("Bytes of blobs on disk")
                .baseUnit("bytes").register(registry);
        Gauge.builder("layercache.store.blobs", () -> totals.blobs()).description("Blobs on disk").register(registry);
        Gauge.builder("layercache.store.roots", () -> totals.tags()).tag("kind", "tag")
                .description("Roots that keep blobs alive").register(registry);
        Gauge.builder("layercache.store.roots", () -> totals.manifests()).tag("kind", "manifest")
                .description("Roots that keep blobs alive").register(registry);
        Gauge.builder("layercache.store.roots", () -> totals.entries()).tag("kind", "entry")
                .description("Roots that keep blobs alive").register(registry);
        Gauge.builder("layercache.store.budget", () -> budgetBytes).baseUnit("bytes")
                .description("Disk budget of the store (0: none)").register(registry);
    }

    /** Counts the store at once and every {@link #EVERY} on a thread of its own; also reports open upload sessions. */
    void start(StoreCensus census, LongSupplier uploadsInProgress, MeterRegistry registry) {
        this.census = census;
        Gauge.builder("layercache.uploads.in.progress", uploadsInProgress::getAsLong)
                .description("Open upload sessions").register(registry);
        thread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "layercache-census");
            t.setDaemon(true);
            return t;
        });
        // The first count too runs on the census's thread, not on the way to ready: it reads every
        // blob record, seconds on a store of a million (issue 24). The gauges read zeros until then.
        thread.scheduleWithFixedDelay(this::refreshQuietly, 0, EVERY.toSeconds(), TimeUnit.SECONDS);
    }

    /** Counts the store now (nothing before {@link #start}). */
    void refresh() {
        if (census != null) {
            totals = census.count();
        }
    }

    private void refreshQuietly() {
        try {
            refresh();
        } catch (RuntimeException e) {
            log.warn("counting the store failed", e);
        }
    }

    void budget(long bytes) {
        this.budgetBytes = bytes;
    }

    StoreCensus.Totals totals() {
        return totals;
    }

    long budgetBytes() {
        return budgetBytes;
    }

    @Override
    public void close() {
        if (thread != null) {
            thread.shutdownNow();
            // A count in progress reads the metadata store, which closes next: let it finish.
            try {
                thread.awaitTermination(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
