package dev.layercache.server.lifecycle;

import java.util.concurrent.atomic.AtomicLong;

/**
 * What the lifecycle reports of the store ({@code GET /api/v1/store}, the budget gauge): the budget
 * in force, the last run, collection and scrub, and the start-up check. Also the blob bytes at the
 * last count and those stored since, which {@link LifecycleScheduler} compares with the high
 * watermark at each write. Written by the lifecycle's thread, read by any.
 */
public final class StoreStatus {
    private volatile Budget budget = Budget.NONE;
    private volatile Lifecycle.Run lastRun;
    private volatile Collector.Report lastCollection;
    private volatile Scrubber.Report lastScrub;
    private volatile StartupCheck.Report startupCheck;
    private volatile NamespaceUsage namespaces = NamespaceUsage.NONE;
    /** Blob bytes at the last count, and stored since: what a write compares with the high watermark. */
    private volatile long countedBytes;
    private final AtomicLong storedSinceCount = new AtomicLong();
    /** The last run could not get under the high watermark (blobs in their grace period). */
    private volatile boolean endedOverHighWatermark;

    StoreStatus() {
    }

    /** The budget in force at the last run (or at start). */
    public Budget budget() {
        return budget;
    }

    /** What the last run did; null before the first. */
    public Lifecycle.Run lastRun() {
        return lastRun;
    }

    /** The last collection that was not a dry run; null before the first. */
    public Collector.Report lastCollection() {
        return lastCollection;
    }

    /** The last scrub; null before the first. */
    public Scrubber.Report lastScrub() {
        return lastScrub;
    }

    /** The consistency pass this start ran. */
    public StartupCheck.Report startupCheck() {
        return startupCheck;
    }

    /** Each namespace's bytes and what protect holds, at the last run that looked at ages; {@code at} null before. */
    public NamespaceUsage namespaces() {
        return namespaces;
    }

    void namespaces(NamespaceUsage counted) {
        this.namespaces = counted;
    }

    void budget(Budget inForce) {
        this.budget = inForce;
    }

    /** A run ended with {@code blobBytes} of blobs under {@code inForce}. */
    void runEnded(Budget inForce, long blobBytes) {
        this.budget = inForce;
        this.endedOverHighWatermark = inForce.maxBytes() > 0 && blobBytes > inForce.highBytes();
    }

    void ran(Lifecycle.Run run) {
        this.lastRun = run;
    }

    void collected(Collector.Report report) {
        this.lastCollection = report;
    }

    void scrubbed(Scrubber.Report report) {
        this.lastScrub = report;
    }

    void startupChecked(StartupCheck.Report report) {
        this.startupCheck = report;
    }

    /** A count of the store begins: writes from now on add to it. */
    void countBegins() {
        storedSinceCount.set(0);
    }

    /** The count that began last found {@code bytes} of blobs. */
    void counted(long bytes) {
        countedBytes = bytes;
    }

    /** A blob of {@code bytes} was stored; returns the bytes stored since the last count. */
    long stored(long bytes) {
        return storedSinceCount.addAndGet(bytes);
    }

    /** Blob bytes at the last count. */
    long countedBytes() {
        return countedBytes;
    }

    boolean endedOverHighWatermark() {
        return endedOverHighWatermark;
    }
}
