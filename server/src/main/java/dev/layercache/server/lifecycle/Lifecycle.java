package dev.layercache.server.lifecycle;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.core.Root;
import dev.layercache.server.entries.EntryService;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.metrics.StoreCensus;
import dev.layercache.server.registry.ManifestService;
import dev.layercache.server.registry.UploadService;
import dev.layercache.server.retention.AccessTracker;
import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the store within its budget, unattended: every {@code lifecycle-interval}, and at once
 * when a write takes the store past its high watermark, it writes the roots' last uses, removes
 * expired upload sessions, evicts roots unused for longer than {@code max-age} and untagged
 * manifests nothing names after {@code untagged-max-age}, and, when blob bytes pass the high
 * watermark of the budget in force, evicts the least recently used roots whose removal frees
 * bytes until they are under the low one; then it collects the blobs no remaining root reaches.
 * One run at a time, on a thread of its own; requests go on meanwhile.
 *
 * <p>The budget in force is {@code max-disk-size} (bytes, or a share of the data directory's file
 * system), lowered when the file system has less than {@code min-free-disk} free, whatever else
 * filled it: a node left alone never fills its disk.
 *
 * <p>The parts: {@link EvictionPolicy} decides which roots go (from {@link Candidates} this
 * class reads), {@link LifecycleScheduler} decides when a run happens, {@link StoreStatus} holds
 * what the runs report; this class carries a run out and evicts.
 *
 * <p>Why over 400 lines: everything that removes roots or blobs (a run's evictions, a collection,
 * a namespace's purge through {@link NamespacePurge}) goes through this class's lock, because
 * they share the collection's guard and must never interleave; the purge's entry points are here
 * for that reason, its work in {@link NamespacePurge}.
 */
public final class Lifecycle implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Lifecycle.class);
    /** Eviction rounds per run at most (each evicts, collects and measures again). */
    static final int MAX_ROUNDS = 10;
    /** Scheduled runs look at ages (a pass over every root) at most this often. */
    static final long AGE_PASS_EVERY_MILLIS = 300_000;

    /**
     * What one run did; the byte counts are those of blobs.
     *
     * @param untaggedExpired untagged manifests removed after {@code untagged-max-age} unused
     * @param budgetBytes     the budget in force at the end of the run (0: none)
     */
    public record Run(Instant at, int uploadsExpired, int evictedByAge, int evictedByBudget, long bytesBefore,
                      long bytesAfter, Collector.Report collection, int untaggedExpired, long budgetBytes,
                      MetadataPruner.Report history) {
    }

    private final ServerConfig.Lifecycle settings;
    private final KeyValueStore kv;
    private final ManifestService manifests;
    private final EntryService entries;
    private final UploadService uploads;
    private final Collector collector;
    private final AccessTracker access;
    private final StoreCensus census;
    private final CacheMetrics metrics;
    private final Clock clock;
    private final Scrubber scrubber;
    private final MetadataPruner history;
    private final FileStore fileSystem;
    private final Path dataDir;
    private final EvictionPolicy policy;
    private final Candidates candidates;
    private final ProtectedRefs protect;
    private final StoreStatus status = new StoreStatus();
    private final LifecycleScheduler scheduler;
    private long lastAgePass;
    /** In a cluster: runs the shared bucket's collection (see {@code BucketCollector}); null alone. */
    private volatile Callable<? extends Record> bucketCollection;
    /** Purges over the served stores and over this node's own copies (the same alone); see {@link #purge}. */
    private volatile NamespacePurge servedPurge;
    private volatile NamespacePurge localPurge;
    /** In a cluster: tells the other nodes of a purge (see {@code BucketPurge}). */
    private volatile java.util.function.Consumer<String> purged = ns -> { };

    public Lifecycle(ServerConfig.Lifecycle settings, Path dataDir, KeyValueStore kv,
                     ManifestService manifests, EntryService entries, UploadService uploads, Collector collector,
                     Scrubber scrubber, AccessTracker access, StoreCensus census, CacheMetrics metrics,
                     MetadataPruner history, Clock clock) throws IOException {
        this.scrubber = scrubber;
        this.settings = settings;
        this.dataDir = dataDir;
        this.fileSystem = Files.getFileStore(dataDir);
        this.kv = kv;
        this.manifests = manifests;
        this.entries = entries;
        this.uploads = uploads;
        this.collector = collector;
        this.access = access;
        this.census = census;
        this.metrics = metrics;
        this.history = history;
        this.clock = clock;
        this.policy = new EvictionPolicy(settings);
        this.candidates = new Candidates(kv, manifests, access);
        this.protect = new ProtectedRefs(settings.protect());
        this.scheduler = new LifecycleScheduler(settings, status, this::countAtStart,
                () -> run(dueForAgePass()), () -> scrub(settings.scrubRate()));
        // Blob bytes are counted on the lifecycle's thread once it starts, not on the way to ready.
        status.budget(budgetFor(0));
        metrics.budget(status.budget().maxBytes());
    }

    /** Runs every {@code lifecycle-interval} from now on; first counts the store and logs the budget in force. */
    public void start() {
        scheduler.start();
    }

    /**
     * A blob of {@code bytes} was stored: when that takes the store past the high watermark of
     * its budget, a run starts now rather than at the next interval.
     */
    public void blobStored(long bytes) {
        scheduler.blobStored(bytes);
    }

    /** What the runs report: budget in force, last run, collection, scrub, start-up check. */
    public StoreStatus status() {
        return status;
    }

    public ServerConfig.Lifecycle settings() {
        return settings;
    }

    /** The consistency pass this start ran. */
    public void startupChecked(StartupCheck.Report report) {
        status.startupChecked(report);
    }

    /** The collector itself (tests collect with other grace periods). */
    Collector collector() {
        return collector;
    }

    private void countAtStart() {
        synchronized (this) {
            status.budget(budgetFor(count()));
            metrics.budget(status.budget().maxBytes());
        }
        logBudget();
    }

    private synchronized boolean dueForAgePass() {
        return access.now() - lastAgePass >= Math.min(AGE_PASS_EVERY_MILLIS, settings.interval().toMillis());
    }

    private void logBudget() {
        Budget b = status.budget();
        if (settings.maxDisk().isNone() && settings.minFreeDisk().isNone()) {
            log.warn("no disk budget (max-disk-size 0, min-free-disk 0): blobs may fill {}'s file system", dataDir);
            return;
        }
        log.info("disk budget: max-disk-size {}{}, min-free-disk {}{}; file system of {}: {} bytes, {} free;"
                        + " budget in force {} bytes of blobs{} (eviction from {} down to {} bytes)",
                settings.maxDisk(), settings.maxDisk().percent() > 0 ? " (" + b.configuredBytes() + " bytes)" : "",
                settings.minFreeDisk(), settings.minFreeDisk().percent() > 0 ? " (" + b.minFreeBytes() + " bytes)" : "",
                dataDir, b.fileSystemBytes(), b.freeBytes(), b.maxBytes(),
                b.limitedByFreeSpace() ? ", lowered to keep min-free-disk free" : "", b.highBytes(), b.lowBytes());
    }

    /** The budget in force while blobs take {@code blobBytes}, on the file system as it is now. */
    Budget budgetFor(long blobBytes) {
        long total;
        long free;
        try {
            total = fileSystem.getTotalSpace();
            free = fileSystem.getUsableSpace();
        } catch (IOException e) {
            log.warn("cannot read the size of {}'s file system: {}", dataDir, e.toString());
            total = 0;
            free = 0;
        }
        return policy.budget(blobBytes, total, free);
    }

    /** One scrub of the whole store now, at {@code bytesPerSecond} (0: as fast as the disk goes). */
    public Scrubber.Report scrub(long bytesPerSecond) {
        try {
            Scrubber.Report report = scrubber.pass(bytesPerSecond);
            status.scrubbed(report);
            metrics.scrubFound(report.corrupt(), report.missing());
            if (report.corrupt() + report.missing() > 0) {
                metrics.refreshStore();
            }
            return report;
        } catch (IOException | RuntimeException e) {
            log.error("scrub failed", e);
            return null;
        }
    }

    /** One run now, ages included (the schedule runs it too). */
    public Run run() {
        return run(true);
    }

    private synchronized Run run(boolean agePass) {
        access.flush();
        int expired;
        try {
            expired = uploads.expire(settings.uploadTimeout());
        } catch (IOException e) {
            log.warn("expiring uploads failed", e);
            expired = 0;
        }
        long before = count();
        Budget inForce = budgetFor(before);
        int byAge = 0;
        int untagged = 0;
        int byBudget = 0;
        Collector.Report collection = null;
        if (agePass) {
            lastAgePass = access.now();
            if (policy.agesApply()) {
                long now = access.now();
                for (EvictionPolicy.Expired e : policy.byAge(protect.unprotected(
                        candidates.read(false, askedSince(false))), now)) {
                    if (evict(e.candidate())) {
                        if (e.rule() == EvictionPolicy.Age.MAX_AGE) {
                            byAge++;
                        } else {
                            untagged++;
                        }
                    }
                }
            }
        }
        if (policy.anyNamespaceBudget()) {
            byBudget += evict(policy.overNamespaceBudgets(protect.unprotected(candidates.read(true, askedSince(false)))));
        }
        long usage = before;
        if (byAge + untagged + byBudget > 0) {
            collection = collect(false);
            usage = count();
            inForce = budgetFor(usage);
        }
        for (int round = 0; round < MAX_ROUNDS && inForce.maxBytes() > 0
                && usage > (round == 0 ? inForce.highBytes() : inForce.lowBytes()); round++) {
            // About to pass min-free-disk: blobs merely asked about count as freed.
            boolean diskFull = inForce.limitedByFreeSpace();
            List<Candidate> roots = candidates.read(true, askedSince(diskFull));
            int evicted = evict(EvictionPolicy.toFree(protect.unprotected(roots), usage - inForce.lowBytes()));
            if (evicted == 0) {
                long held = NamespaceUsage.distinctBytes(protect.protectedOnes(roots));
                if (held > inForce.lowBytes()) {
                    log.warn("the roots of protect ({}) alone hold {} bytes of blobs, over the low watermark of the"
                            + " budget ({} bytes): they are not evicted, and the store stays over its budget",
                            String.join(",", protect.patterns()), held, inForce.lowBytes());
                }
                long young = collection == null ? -1 : collection.keptInGrace();
                log.warn("store at {} bytes of blobs is over its budget of {} and no root's eviction would free"
                        + " bytes{}", usage, inForce.maxBytes(), young < 0 ? ""
                        : " (" + young + " blobs are in their grace period: uploaded, no manifest or entry yet)");
                break;
            }
            byBudget += evicted;
            collection = collect(false, diskFull);
            long previous = usage;
            usage = count();
            inForce = budgetFor(usage);
            if (usage >= previous) {
                // What the evicted roots held is kept a while yet (clients were just told it
                // exists): evicting more now would cost hits and free no more.
                if (usage > inForce.maxBytes()) {
                    log.warn("store at {} bytes of blobs is over its budget of {}; the last eviction freed nothing"
                            + " yet ({} blobs kept for now: uploaded with no manifest yet, or just asked for)", usage,
                            inForce.maxBytes(), collection.keptInGrace());
                }
                break;
            }
        }
        if (byAge + untagged + byBudget > 0) {
            metrics.refreshStore();
        }
        status.runEnded(inForce, usage);
        metrics.budget(inForce.maxBytes());
        // Blobs clients heard of stay in memory until their grace is over, collection or not.
        access.forgetBlobsSeenBefore(clock.millis() - settings.gcGrace().toMillis());
        if (agePass) {
            countNamespaces();
        }
        MetadataPruner.Report pruned = history.prune(agePass);
        Run run = new Run(clock.instant(), expired, byAge, byBudget, before, usage, collection, untagged,
                inForce.maxBytes(), pruned);
        status.ran(run);
        if (expired + byAge + untagged + byBudget > 0) {
            log.info("lifecycle: {} uploads expired, {} roots evicted by age, {} untagged manifests expired and {}"
                    + " roots evicted by budget; blobs {} -> {} bytes (budget {})", expired, byAge, untagged,
                    byBudget, before, usage, inForce.maxBytes());
        }
        return run;
    }

    /**
     * Since when a blob a client was told exists frees nothing when its roots go (collection
     * keeps it for the asked grace); never, when the disk is about to pass min-free-disk.
     */
    private long askedSince(boolean diskFull) {
        return diskFull ? Long.MAX_VALUE : clock.millis() - settings.askedGrace().toMillis();
    }

    /**
     * Counts each namespace's bytes exactly (distinct blobs of its roots) and what protect holds:
     * a pass over every root and a size lookup per blob, so only on the runs that look at ages
     * (at most every few minutes), shown in {@code /api/v1/store} and as a gauge per namespace.
     */
    private void countNamespaces() {
        NamespaceUsage counted = NamespaceUsage.of(clock.instant(), candidates.read(true, Long.MAX_VALUE),
                metrics::namespaceLabel, protect);
        status.namespaces(counted);
        java.util.Map<String, Long> bytes = new java.util.HashMap<>();
        counted.rows().forEach(r -> bytes.put(r.namespace(), r.bytes()));
        metrics.namespaceBytes(bytes);
    }

    /** Blob bytes now; writes from now on add to it until the next count. */
    private long count() {
        status.countBegins();
        long bytes = census.count().bytes();
        status.counted(bytes);
        return bytes;
    }

    /** The store as counted now: blob bytes and count, roots by kind. */
    public StoreCensus.Totals usage() {
        return census.count();
    }

    /** A collection now; a dry run only reports what would go. */
    public synchronized Collector.Report collect(boolean dryRun) {
        return collect(dryRun, false);
    }

    /**
     * A collection; {@code diskFull}: the file system is about to have less than min-free-disk
     * free, and blobs clients merely asked about are not kept (a failed build beats a full disk;
     * blobs uploaded for a manifest that has not come yet are kept all the same).
     */
    private synchronized Collector.Report collect(boolean dryRun, boolean diskFull) {
        access.flush();
        Collector.Report report = collector.collect(settings.gcGrace(),
                diskFull ? Duration.ZERO : settings.askedGrace(), dryRun);
        if (!dryRun) {
            status.collected(report);
            metrics.refreshStore();
        }
        return report;
    }

    /** Evicts {@code chosen} in order; returns how many went. */
    private int evict(List<Candidate> chosen) {
        int evicted = 0;
        for (Candidate c : chosen) {
            if (evict(c)) {
                evicted++;
            }
        }
        return evicted;
    }

    private boolean evict(Candidate c) {
        Root root = c.root();
        RepositoryName repo = RepositoryName.parse(root.repository());
        boolean gone = switch (root.kind()) {
            case TAG -> manifests.evictTag(repo, root.name());
            case MANIFEST -> manifests.evictManifest(repo, Digest.parse(root.name()));
            case ENTRY -> entries.evict(repo, Digest.parse(root.name()));
        };
        if (gone) {
            if (root.kind() == Root.Kind.ENTRY) {
                KeyValueStore.Batch batch = kv.batch();
                access.forget(batch, root);
                batch.commit(false);
            }
            metrics.evicted(root.kind().label(), root.repository(), root.reference(), c.bytes());
        }
        return gone;
    }

    /** How namespaces are purged: over the served stores, and over this node's own copies. */
    public void purges(NamespacePurge served, NamespacePurge local) {
        this.servedPurge = served;
        this.localPurge = local;
    }

    /** Who hears of each namespace purged through this node (the other nodes of a cluster). */
    public void whenPurged(java.util.function.Consumer<String> listener) {
        this.purged = listener;
    }

    /**
     * Purges a namespace now (see {@link NamespacePurge}); a dry run only reports. Under the
     * lifecycle's lock: no collection or eviction runs meanwhile (both use the collection's guard).
     */
    public synchronized NamespacePurge.Report purge(String prefix, boolean dryRun) {
        RepositoryName ns = NamespacePurge.namespace(prefix);
        access.flush();
        NamespacePurge.Report report = servedPurge.purge(ns, dryRun);
        if (!dryRun) {
            if (localPurge != servedPurge) {
                localPurge.purge(ns, false);
            }
            purged.accept(ns.toString());
            metrics.refreshStore();
            log.info("purged {}: {} repositories, {} tags, {} manifests, {} entries, {} blobs ({} bytes)", ns,
                    report.repositories().size(), report.tags(), report.manifests(), report.entries(),
                    report.blobs(), report.bytes());
        }
        return report;
    }

    /** Another node purged {@code prefix}: this node drops its own copies of it. */
    public synchronized void purgeCopies(String prefix) {
        if (!RepositoryName.isValid(prefix)) {
            return;
        }
        NamespacePurge.Report report = localPurge.purge(RepositoryName.parse(prefix), false);
        if (report.tags() + report.manifests() + report.entries() + report.blobs() > 0
                || !report.repositories().isEmpty()) {
            metrics.refreshStore();
            log.info("dropped this node's copies of the purged namespace {}: {} manifests, {} blobs ({} bytes)",
                    prefix, report.manifests(), report.blobs(), report.bytes());
        }
    }

    public void bucketCollection(Callable<? extends Record> run) {
        this.bucketCollection = run;
    }

    /** Runs the bucket's collection now; UNSUPPORTED for a node without a bucket. */
    public Record collectBucket() throws Exception {
        Callable<? extends Record> run = bucketCollection;
        if (run == null) {
            throw new RegistryException(ErrorCode.UNSUPPORTED, "this node has no shared bucket (s3-bucket is not set)");
        }
        return run.call();
    }

    @Override
    public void close() {
        scheduler.close();
        access.flush();
    }
}
