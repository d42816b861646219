package dev.layercache.server.lifecycle;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.core.Root;
import dev.layercache.server.entries.EntryService;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.ManifestIndex;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.metrics.StoreCensus;
import dev.layercache.server.registry.ManifestService;
import dev.layercache.server.registry.UploadService;
import dev.layercache.server.retention.AccessTracker;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the store within its budget, unattended: every {@code lifecycle-interval}, and at once
 * when a write takes the store past its high watermark, it writes the roots' last uses, removes
 * expired upload sessions, evicts roots unused for longer than {@code max-age} and untagged
 * manifests nothing names after {@code untagged-max-age}, and, when blob bytes pass the high
 * watermark of the budget in force, evicts the least recently used roots whose removal frees
 * bytes (see {@link EvictionPlan}) until they are under the low one; then it collects the blobs
 * no remaining root reaches. One run at a time, on a thread of its own; requests go on meanwhile.
 *
 * <p>The budget in force is {@code max-disk-size} (bytes, or a share of the data directory's file
 * system), lowered when the file system has less than {@code min-free-disk} free, whatever else
 * filled it: a node left alone never fills its disk.
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

    /**
     * The budget in force: {@code maxBytes} of blobs (0: none), evicting from {@code highBytes}
     * down to {@code lowBytes}.
     *
     * @param configuredBytes   what {@code max-disk-size} comes to on this file system (0: none)
     * @param fileSystemBytes   the size of the data directory's file system
     * @param freeBytes         what it had free when the budget was worked out
     * @param minFreeBytes      what {@code min-free-disk} comes to (0: no floor)
     * @param limitedByFreeSpace true when the floor, not {@code max-disk-size}, sets {@code maxBytes}
     */
    public record Budget(long maxBytes, long highBytes, long lowBytes, long configuredBytes, long fileSystemBytes,
                         long freeBytes, long minFreeBytes, boolean limitedByFreeSpace) {
        static final Budget NONE = new Budget(0, 0, 0, 0, 0, 0, 0, false);
    }

    /**
     * A root with when it was last used (epoch millis), the blobs it holds (digest prefixes, see
     * {@link Collector#prefix}) with their sizes and what evicting it could free of each (nothing
     * of a blob a client was told exists within the asked grace: collection keeps it), and
     * whether it is a referrer whose subject is still stored (signatures and SBOMs live as long
     * as their image).
     */
    record Candidate(Root root, long lastUse, long[] blobs, long[] sizes, long[] freeable,
                     boolean referrerOfStoredSubject) {
        long bytes() {
            long total = 0;
            for (long size : sizes) {
                total += size;
            }
            return total;
        }
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
    private final BlobIndex blobs;
    private final ManifestIndex manifestIndex;
    private final Scrubber scrubber;
    private final MetadataPruner history;
    private final FileStore fileSystem;
    private final java.nio.file.Path dataDir;
    private ScheduledExecutorService thread;
    private ScheduledExecutorService scrubThread;
    private volatile Run lastRun;
    private volatile Collector.Report lastCollection;
    private volatile Scrubber.Report lastScrub;
    private volatile StartupCheck.Report startupCheck;
    private volatile Budget budget = Budget.NONE;
    /** Blob bytes at the last count, and stored since: what a write compares with the high watermark. */
    private volatile long countedBytes;
    private final AtomicLong storedSinceCount = new AtomicLong();
    private final AtomicBoolean runRequested = new AtomicBoolean();
    private volatile boolean endedOverHighWatermark;
    /** This eviction round makes room on a disk about to pass min-free-disk: blobs merely asked about count as freed. */
    private boolean diskFull;
    private long lastAgePass;

    public Lifecycle(ServerConfig.Lifecycle settings, java.nio.file.Path dataDir, KeyValueStore kv,
                     ManifestService manifests, EntryService entries, UploadService uploads, Collector collector,
                     Scrubber scrubber, AccessTracker access, StoreCensus census, CacheMetrics metrics,
                     MetadataPruner history, Clock clock) throws java.io.IOException {
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
        this.blobs = new BlobIndex(kv);
        this.manifestIndex = new ManifestIndex(kv);
        // Blob bytes are counted on the lifecycle's thread once it starts, not on the way to ready.
        this.budget = budgetFor(0);
        metrics.budget(budget.maxBytes());
    }

    /** Runs every {@code lifecycle-interval} from now on; first counts the store and logs the budget in force. */
    public void start() {
        thread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "layercache-lifecycle");
            t.setDaemon(true);
            return t;
        });
        thread.execute(() -> {
            try {
                synchronized (this) {
                    budget = budgetFor(count());
                    metrics.budget(budget.maxBytes());
                }
                logBudget();
                blobStored(0); // over the watermark already: a run now
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
            scrubThread.scheduleWithFixedDelay(() -> scrub(settings.scrubRate()), settings.scrubEvery().toMillis(),
                    settings.scrubEvery().toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private void runSafely(boolean requested) {
        try {
            // Ages and history are a pass over every root and record: every few minutes at most,
            // not once per write past the watermark.
            run(dueForAgePass());
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

    private synchronized boolean dueForAgePass() {
        return access.now() - lastAgePass >= Math.min(AGE_PASS_EVERY_MILLIS, settings.interval().toMillis());
    }

    /**
     * A blob of {@code bytes} was stored: when that takes the store past the high watermark of
     * its budget, a run starts now rather than at the next interval (a burst of pushes can
     * bring many times the budget within one interval).
     */
    public void blobStored(long bytes) {
        long since = storedSinceCount.addAndGet(bytes);
        long estimate = countedBytes + since;
        Budget b = budget;
        ScheduledExecutorService t = thread;
        // After a run that could not get under the watermark (blobs in their grace period), the
        // next one waits for another watermark's gap of new bytes: not a full pass per upload.
        boolean worthARun = !endedOverHighWatermark || since >= b.highBytes() - b.lowBytes();
        if (b.maxBytes() > 0 && estimate > b.highBytes() && worthARun && t != null
                && runRequested.compareAndSet(false, true)) {
            try {
                t.execute(() -> runSafely(true));
            } catch (java.util.concurrent.RejectedExecutionException stopping) {
                runRequested.set(false);
            }
        }
    }

    /** The budget in force at the last run (or at start). */
    public Budget budget() {
        return budget;
    }

    private void logBudget() {
        Budget b = budget;
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

    /**
     * The budget in force while blobs take {@code blobBytes}: max-disk-size, or less when the file
     * system would otherwise keep less than min-free-disk free. Blob bytes plus free bytes is what
     * blobs could occupy, whatever else the file system holds.
     */
    Budget budgetFor(long blobBytes) {
        long total;
        long free;
        try {
            total = fileSystem.getTotalSpace();
            free = fileSystem.getUsableSpace();
        } catch (java.io.IOException e) {
            log.warn("cannot read the size of {}'s file system: {}", dataDir, e.toString());
            total = 0;
            free = 0;
        }
        long configured = settings.maxDisk().resolve(total);
        long minFree = settings.minFreeDisk().resolve(total);
        long max = configured;
        boolean byFreeSpace = false;
        if (minFree > 0 && total > 0) {
            long room = Math.max(1, blobBytes + free - minFree);
            if (max == 0 || room < max) {
                max = room;
                byFreeSpace = true;
            }
        }
        return new Budget(max, max / 100 * settings.highPercent(), max / 100 * settings.lowPercent(), configured,
                total, free, minFree, byFreeSpace);
    }

    /** One scrub of the whole store now, at {@code bytesPerSecond} (0: as fast as the disk goes). */
    public Scrubber.Report scrub(long bytesPerSecond) {
        try {
            Scrubber.Report report = scrubber.pass(bytesPerSecond);
            lastScrub = report;
            metrics.scrubFound(report.corrupt(), report.missing());
            if (report.corrupt() + report.missing() > 0) {
                metrics.refreshStore();
            }
            return report;
        } catch (java.io.IOException | RuntimeException e) {
            log.error("scrub failed", e);
            return null;
        }
    }

    /** The consistency pass this start ran. */
    public void startupChecked(StartupCheck.Report report) {
        this.startupCheck = report;
    }

    public StartupCheck.Report startupCheck() {
        return startupCheck;
    }

    public Scrubber.Report lastScrub() {
        return lastScrub;
    }

    public ServerConfig.Lifecycle settings() {
        return settings;
    }

    /** The collector itself (tests collect with other grace periods). */
    Collector collector() {
        return collector;
    }

    public Run lastRun() {
        return lastRun;
    }

    public Collector.Report lastCollection() {
        return lastCollection;
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
        } catch (java.io.IOException e) {
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
            int[] aged = evictByAge();
            byAge = aged[0];
            untagged = aged[1];
        }
        byBudget += namespaceBudgets();
        long usage = before;
        if (byAge + untagged + byBudget > 0) {
            collection = collect(false);
            usage = count();
            inForce = budgetFor(usage);
        }
        for (int round = 0; round < MAX_ROUNDS && inForce.maxBytes() > 0
                && usage > (round == 0 ? inForce.highBytes() : inForce.lowBytes()); round++) {
            diskFull = inForce.limitedByFreeSpace();
            int evicted = evictLeastRecentlyUsed(usage - inForce.lowBytes());
            if (evicted == 0) {
                long young = collection == null ? -1 : collection.keptInGrace();
                log.warn("store at {} bytes of blobs is over its budget of {} and no root's eviction would free"
                        + " bytes{}", usage, inForce.maxBytes(), young < 0 ? ""
                        : " (" + young + " blobs are in their grace period: uploaded, no manifest or entry yet)");
                break;
            }
            byBudget += evicted;
            collection = collect(false, inForce.limitedByFreeSpace());
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
        diskFull = false;
        if (byAge + untagged + byBudget > 0) {
            metrics.refreshStore();
        }
        budget = inForce;
        endedOverHighWatermark = inForce.maxBytes() > 0 && usage > inForce.highBytes();
        metrics.budget(inForce.maxBytes());
        // Blobs clients heard of stay in memory until their grace is over, collection or not.
        access.forgetBlobsSeenBefore(clock.millis() - settings.gcGrace().toMillis());
        MetadataPruner.Report pruned = history.prune(agePass);
        Run run = new Run(clock.instant(), expired, byAge, byBudget, before, usage, collection, untagged,
                inForce.maxBytes(), pruned);
        lastRun = run;
        if (expired + byAge + untagged + byBudget > 0) {
            log.info("lifecycle: {} uploads expired, {} roots evicted by age, {} untagged manifests expired and {}"
                    + " roots evicted by budget; blobs {} -> {} bytes (budget {})", expired, byAge, untagged,
                    byBudget, before, usage, inForce.maxBytes());
        }
        return run;
    }

    /** Blob bytes now; writes from now on add to it until the next count. */
    private long count() {
        storedSinceCount.set(0);
        long bytes = census.count().bytes();
        countedBytes = bytes;
        return bytes;
    }

    /**
     * Roots unused for longer than their max-age, and untagged manifests nothing names (no tag,
     * no index, not a referrer of a stored subject) unused for longer than untagged-max-age.
     *
     * @return roots evicted by age, and untagged manifests expired
     */
    private int[] evictByAge() {
        boolean anyAge = !settings.maxAge().isZero()
                || settings.namespaces().stream().anyMatch(l -> l.maxAge() != null && !l.maxAge().isZero());
        boolean untaggedAge = !settings.untaggedMaxAge().isZero();
        int[] out = new int[2];
        if (!anyAge && !untaggedAge) {
            return out;
        }
        long now = access.now();
        for (Candidate c : candidates(false)) {
            ServerConfig.NamespaceLimit limit = settings.limitFor(c.root().repository());
            Duration maxAge = limit != null && limit.maxAge() != null ? limit.maxAge() : settings.maxAge();
            if (!maxAge.isZero() && c.lastUse() < now - maxAge.toMillis()) {
                if (evict(c)) {
                    out[0]++;
                }
            } else if (untaggedAge && c.root().kind() == Root.Kind.MANIFEST && !c.referrerOfStoredSubject()
                    && c.lastUse() < now - settings.untaggedMaxAge().toMillis()) {
                if (evict(c)) {
                    out[1]++;
                }
            }
        }
        return out;
    }

    /** The store as counted now: blob bytes and count, roots by kind. */
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
            lastCollection = report;
            metrics.refreshStore();
        }
        return report;
    }

    /**
     * Namespaces with a budget of their own: when the blobs of their roots (shared blobs counted
     * once) pass the high watermark, their least recently used roots whose removal frees bytes
     * go until they are under the low one.
     */
    private int namespaceBudgets() {
        List<ServerConfig.NamespaceLimit> budgeted = settings.namespaces().stream()
                .filter(l -> l.maxDiskBytes() > 0).toList();
        if (budgeted.isEmpty()) {
            return 0;
        }
        Map<String, List<Candidate>> byNamespace = new HashMap<>();
        for (Candidate c : candidates(true)) {
            ServerConfig.NamespaceLimit limit = settings.limitFor(c.root().repository());
            if (limit != null && limit.maxDiskBytes() > 0) {
                byNamespace.computeIfAbsent(limit.prefix(), p -> new ArrayList<>()).add(c);
            }
        }
        int evicted = 0;
        for (ServerConfig.NamespaceLimit limit : budgeted) {
            List<Candidate> roots = byNamespace.getOrDefault(limit.prefix(), List.of());
            long total = distinctBytes(roots);
            if (total <= limit.maxDiskBytes() / 100 * settings.highPercent()) {
                continue;
            }
            evicted += evictPlanned(roots, total - limit.maxDiskBytes() / 100 * settings.lowPercent());
        }
        return evicted;
    }

    private static long distinctBytes(List<Candidate> roots) {
        Map<Long, Long> sizes = new HashMap<>();
        for (Candidate c : roots) {
            for (int i = 0; i < c.blobs().length; i++) {
                sizes.put(c.blobs()[i], c.sizes()[i]);
            }
        }
        return sizes.values().stream().mapToLong(Long::longValue).sum();
    }

    /** Evicts least recently used roots whose removal frees bytes, until about {@code toFree} would be freed. */
    private int evictLeastRecentlyUsed(long toFree) {
        return evictPlanned(candidates(true), toFree);
    }

    private int evictPlanned(List<Candidate> candidates, long toFree) {
        List<EvictionPlan.Root> plan = new ArrayList<>(candidates.size());
        for (Candidate c : candidates) {
            plan.add(new EvictionPlan.Root(c, c.lastUse(), c.blobs(), c.freeable()));
        }
        int evicted = 0;
        for (EvictionPlan.Root chosen : EvictionPlan.choose(plan, toFree)) {
            if (evict((Candidate) chosen.id())) {
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

    /**
     * Every root with its last use (never recorded: now, so that a store upgraded to access
     * tracking does not lose its roots first) and, with {@code withBlobs}, the blobs it reaches
     * (through an index, its manifests' blobs too) with their sizes.
     */
    List<Candidate> candidates(boolean withBlobs) {
        Map<Root, Long> uses = access.lastUses();
        long now = access.now();
        Map<Digest, Long> sizes = new HashMap<>();
        List<Candidate> out = new ArrayList<>();
        Map<String, Set<String>> tagged = new HashMap<>();
        Map<String, Set<Digest>> inIndexes = new HashMap<>();
        kv.forEach(Table.TAGS, e -> {
            String[] key = Keys.string(e.key()).split("\0", 2);
            Digest target = Digest.parse(Keys.string(e.value()));
            tagged.computeIfAbsent(key[0], r -> new HashSet<>()).add(target.toString());
            Root root = new Root(Root.Kind.TAG, key[0], key[1]);
            long[][] reached = withBlobs ? reach(RepositoryName.parse(key[0]),
                    manifestIndex.get(RepositoryName.parse(key[0]), target), sizes) : NOTHING;
            out.add(new Candidate(root, uses.getOrDefault(root, now), reached[0], reached[1], reached[2], false));
        });
        List<ManifestIndex.StoredManifest> untaggedManifests = new ArrayList<>();
        List<String> untaggedRepositories = new ArrayList<>();
        kv.forEach(Table.MANIFESTS, e -> {
            String[] key = Keys.string(e.key()).split("\0", 2);
            ManifestIndex.StoredManifest m = ManifestIndex.decode(Digest.parse(key[1]), e.value());
            if (MediaTypes.isIndex(m.mediaType())) {
                inIndexes.computeIfAbsent(key[0], r -> new HashSet<>()).addAll(manifests.references(m));
            }
            if (!tagged.getOrDefault(key[0], Set.of()).contains(key[1])) {
                untaggedManifests.add(m);
                untaggedRepositories.add(key[0]);
            }
        });
        for (int i = 0; i < untaggedManifests.size(); i++) {
            ManifestIndex.StoredManifest m = untaggedManifests.get(i);
            String repo = untaggedRepositories.get(i);
            if (inIndexes.getOrDefault(repo, Set.of()).contains(m.digest())) {
                continue;
            }
            RepositoryName name = RepositoryName.parse(repo);
            Root root = new Root(Root.Kind.MANIFEST, repo, m.digest().toString());
            Digest subject = manifests.subjectOf(m);
            boolean referrer = subject != null && manifestIndex.exists(name, subject);
            long[][] reached = withBlobs ? reach(name, m, sizes) : NOTHING;
            out.add(new Candidate(root, uses.getOrDefault(root, now), reached[0], reached[1], reached[2], referrer));
        }
        kv.forEach(Table.ENTRIES, e -> {
            String[] key = Keys.string(e.key()).split("\0", 2);
            List<Digest> layers = new ArrayList<>();
            if (withBlobs) {
                try {
                    for (LayerDescriptor layer : Entry.parseFrom(e.value()).getLayersList()) {
                        if (Digest.isValid(layer.getDigest())) {
                            layers.add(Digest.parse(layer.getDigest()));
                        }
                    }
                } catch (InvalidProtocolBufferException corrupt) {
                    // an unreadable entry still counts as a root, one that frees nothing
                }
            }
            Root root = new Root(Root.Kind.ENTRY, key[0], key[1]);
            long[][] reached = blobsOf(new LinkedHashSet<>(layers), sizes);
            out.add(new Candidate(root, uses.getOrDefault(root, now), reached[0], reached[1], reached[2], false));
        });
        return out;
    }

    private static final long[][] NOTHING = {new long[0], new long[0], new long[0]};

    /** The blobs a manifest reaches, an index's manifests' blobs included (nesting bounded). */
    private long[][] reach(RepositoryName repo, ManifestIndex.StoredManifest m, Map<Digest, Long> sizes) {
        Set<Digest> reached = new LinkedHashSet<>();
        if (m != null) {
            reach(repo, m, reached, 0);
        }
        return blobsOf(reached, sizes);
    }

    private void reach(RepositoryName repo, ManifestIndex.StoredManifest m, Set<Digest> out, int depth) {
        boolean index = MediaTypes.isIndex(m.mediaType());
        for (Digest d : manifests.references(m)) {
            if (out.add(d) && index && depth < 4) {
                ManifestIndex.StoredManifest child = manifestIndex.get(repo, d);
                if (child != null) {
                    reach(repo, child, out, depth + 1);
                }
            }
        }
    }

    /**
     * The stored blobs among {@code digests}: prefixes, sizes, and what collection could free of
     * each (nothing of a blob a client was told exists within the asked grace).
     */
    private long[][] blobsOf(Set<Digest> digests, Map<Digest, Long> sizes) {
        long[] ids = new long[digests.size()];
        long[] bytes = new long[digests.size()];
        long[] freeable = new long[digests.size()];
        long askedStart = diskFull ? Long.MAX_VALUE : clock.millis() - settings.askedGrace().toMillis();
        int n = 0;
        for (Digest d : digests) {
            long size = sizes.computeIfAbsent(d, blobs::size);
            if (size >= 0) {
                ids[n] = Collector.prefix(d);
                bytes[n] = size;
                freeable[n++] = access.blobSeenAt(d) >= askedStart ? 0 : size;
            }
        }
        return new long[][] {Arrays.copyOf(ids, n), Arrays.copyOf(bytes, n), Arrays.copyOf(freeable, n)};
    }

    /** In a cluster: runs the shared bucket's collection (see {@code BucketCollector}); null alone. */
    private volatile java.util.concurrent.Callable<? extends Record> bucketCollection;

    public void bucketCollection(java.util.concurrent.Callable<? extends Record> run) {
        this.bucketCollection = run;
    }

    /** Runs the bucket's collection now; UNSUPPORTED for a node without a bucket. */
    public Record collectBucket() throws Exception {
        java.util.concurrent.Callable<? extends Record> run = bucketCollection;
        if (run == null) {
            throw new dev.layercache.server.core.RegistryException(dev.layercache.server.core.ErrorCode.UNSUPPORTED,
                    "this node has no shared bucket (s3-bucket is not set)");
        }
        return run.call();
    }

    @Override
    public void close() {
        if (scrubThread != null) {
            scrubThread.shutdownNow();
        }
        if (thread != null) {
            thread.shutdownNow();
            try {
                thread.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        access.flush();
    }
}
