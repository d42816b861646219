package dev.layercache.server.lifecycle;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the lifecycle reports of the store ({@code GET /api/v1/store}, the budget gauge): the budget
 * in force, the last run, collection and scrub, and the start-up check. Also the blob bytes at the
 * last count and those stored since, which {@link LifecycleScheduler} compares with the high
 * watermark at each write. Written by the lifecycle's thread (and the start-up check's), read by any.
 *
 * <p>The start-up check runs in the background on a large store (see {@link StartupCheck}): between
 * {@link #startupCheckBegins} and {@link #startupChecked} it is running, and the lifecycle's count
 * (and so every eviction and collection it schedules) waits for it ({@link #awaitStartupCheck}).
 */
public final class StoreStatus {
    private volatile Budget budget = Budget.NONE;
    private volatile Lifecycle.Run lastRun;
    private volatile Collector.Report lastCollection;
    private volatile Scrubber.Report lastScrub;
    private volatile StartupCheck.Report startupCheck;
    /** When the start-up check began; null when none was begun (a lifecycle built without one). */
    private volatile Instant startupCheckBegan;
    /** Counted down when the start-up check ended, whether it repaired the store or failed. */
    private final CountDownLatch startupCheckEnded = new CountDownLatch(1);
    private volatile NamespaceUsage namespaces = NamespaceUsage.NONE;
    /** Blob bytes at the last count, and stored since: what a write compares with the high watermark. */
    private volatile long countedBytes;
    private final AtomicLong storedSinceCount = new AtomicLong();
    /** The last run could not get under the high watermark (blobs in their grace period). */
    private volatile boolean endedOverHighWatermark;
    /** {@link System#nanoTime()} when the last run ended. */
    private volatile long runEndedNanos = System.nanoTime();

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

    /** The consistency pass this start ran; null while it runs (see {@link #startupCheckRunning}) or if it failed. */
    public StartupCheck.Report startupCheck() {
        return startupCheck;
    }

    /** True from the start-up check's beginning to its end: the node serves meanwhile. */
    public boolean startupCheckRunning() {
        return startupCheckBegan != null && startupCheckEnded.getCount() > 0;
    }

    /** When the start-up check began; null when none was begun. */
    public Instant startupCheckBegan() {
        return startupCheckBegan;
    }

    /**
     * Waits up to {@code timeout} for the start-up check to end and returns its report (null if
     * it failed); returns at once when none was begun.
     *
     * @throws TimeoutException when it is still running after {@code timeout}
     */
    public StartupCheck.Report awaitStartupCheck(Duration timeout) throws InterruptedException, TimeoutException {
        if (startupCheckBegan != null && !startupCheckEnded.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new TimeoutException("the start-up check is still running after " + timeout);
        }
        return startupCheck;
    }

    /** Waits for the start-up check to end, if one was begun: the count must see the store it left. */
    void awaitStartupCheck() throws InterruptedException {
        if (startupCheckBegan != null) {
            startupCheckEnded.await();
        }
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
        this.runEndedNanos = System.nanoTime();
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

    void startupCheckBegins(Instant at) {
        this.startupCheckBegan = at;
    }

    /** The start-up check ended with {@code report} (null: it failed, and said why in the log). */
    void startupChecked(StartupCheck.Report report) {
        this.startupCheck = report;
        if (startupCheckBegan == null) {
            startupCheckBegan = report == null ? Instant.now() : report.at();
        }
        startupCheckEnded.countDown();
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

    /** Nanoseconds since the last run ended (or since start). */
    long nanosSinceRunEnded() {
        return System.nanoTime() - runEndedNanos;
    }
}
