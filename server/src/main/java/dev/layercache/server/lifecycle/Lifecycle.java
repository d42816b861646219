package dev.layercache.server.lifecycle;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
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
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the store within its budget, unattended: every {@code lifecycle-interval} it writes the
 * roots' last uses, removes expired upload sessions, evicts roots unused for longer than
 * {@code max-age}, and, when blob bytes pass the high watermark, evicts the least recently used
 * roots until they are under the low one; then it collects the blobs no remaining root reaches.
 * One run at a time, on a thread of its own; requests go on meanwhile.
 */
public final class Lifecycle implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Lifecycle.class);
    /** Eviction rounds per run at most (each evicts, collects and measures again). */
    static final int MAX_ROUNDS = 10;

    /** What one run did; the byte counts are those of blobs, 0 when there is no budget to count for. */
    public record Run(Instant at, int uploadsExpired, int evictedByAge, int evictedByBudget, long bytesBefore,
                      long bytesAfter, Collector.Report collection) {
    }

    /** A root with when it was last used and roughly how many blob bytes it holds. */
    record Candidate(Root root, long lastUseMinute, long bytes) {
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
    private final Scrubber scrubber;
    private ScheduledExecutorService thread;
    private ScheduledExecutorService scrubThread;
    private volatile Run lastRun;
    private volatile Collector.Report lastCollection;
    private volatile Scrubber.Report lastScrub;
    private volatile StartupCheck.Report startupCheck;

    public Lifecycle(ServerConfig.Lifecycle settings, KeyValueStore kv, ManifestService manifests,
                     EntryService entries, UploadService uploads, Collector collector, Scrubber scrubber,
                     AccessTracker access, StoreCensus census, CacheMetrics metrics, Clock clock) {
        this.scrubber = scrubber;
        this.settings = settings;
        this.kv = kv;
        this.manifests = manifests;
        this.entries = entries;
        this.uploads = uploads;
        this.collector = collector;
        this.access = access;
        this.census = census;
        this.metrics = metrics;
        this.clock = clock;
        this.blobs = new BlobIndex(kv);
        metrics.budget(settings.maxDiskBytes());
    }

    /** Runs every {@code lifecycle-interval} from now on. */
    public void start() {
        thread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "layercache-lifecycle");
            t.setDaemon(true);
            return t;
        });
        long every = settings.interval().toMillis();
        thread.scheduleWithFixedDelay(() -> {
            try {
                run();
            } catch (RuntimeException | Error e) {
                log.error("lifecycle run failed", e);
            }
        }, every, every, TimeUnit.MILLISECONDS);
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

    /** One run now (the schedule runs it too). */
    public synchronized Run run() {
        access.flush();
        int expired;
        try {
            expired = uploads.expire(settings.uploadTimeout());
        } catch (java.io.IOException e) {
            log.warn("expiring uploads failed", e);
            expired = 0;
        }
        // Counting walks every blob record: only worth it when there is a budget to compare with.
        long before = settings.maxDiskBytes() > 0 ? census.count().bytes() : 0;
        int byAge = 0;
        int byBudget = 0;
        Collector.Report collection = null;
        boolean anyAge = !settings.maxAge().isZero()
                || settings.namespaces().stream().anyMatch(l -> l.maxAge() != null && !l.maxAge().isZero());
        if (anyAge) {
            long now = access.minute();
            for (Candidate c : candidates()) {
                ServerConfig.NamespaceLimit limit = settings.limitFor(c.root().repository());
                java.time.Duration maxAge = limit != null && limit.maxAge() != null ? limit.maxAge() : settings.maxAge();
                if (!maxAge.isZero() && c.lastUseMinute() < now - maxAge.toMinutes() && evict(c)) {
                    byAge++;
                }
            }
        }
        byBudget += namespaceBudgets();
        long usage = before;
        if (byAge + byBudget > 0) {
            collection = collect(false);
            usage = settings.maxDiskBytes() > 0 ? census.count().bytes() : 0;
        }
        for (int round = 0; round < MAX_ROUNDS && settings.maxDiskBytes() > 0
                && usage > (round == 0 ? settings.highBytes() : settings.lowBytes()); round++) {
            int evicted = evictLeastRecentlyUsed(usage - settings.lowBytes());
            if (evicted == 0) {
                log.warn("store at {} bytes is over its budget and has no roots left to evict", usage);
                break;
            }
            byBudget += evicted;
            collection = collect(false);
            usage = census.count().bytes();
        }
        if (byAge + byBudget > 0) {
            metrics.refreshStore();
        }
        Run run = new Run(clock.instant(), expired, byAge, byBudget, before, usage, collection);
        lastRun = run;
        if (expired + byAge + byBudget > 0) {
            log.info("lifecycle: {} uploads expired, {} roots evicted by age and {} by budget; blobs {} -> {} bytes",
                    expired, byAge, byBudget, before, usage);
        }
        return run;
    }

    /** The store as counted now: blob bytes and count, roots by kind. */
    public StoreCensus.Totals usage() {
        return census.count();
    }

    /** A collection now; a dry run only reports what would go. */
    public synchronized Collector.Report collect(boolean dryRun) {
        access.flush();
        Collector.Report report = collector.collect(settings.gcGrace(), dryRun);
        if (!dryRun) {
            lastCollection = report;
            metrics.refreshStore();
        }
        return report;
    }

    /**
     * Namespaces with a budget of their own: when the bytes of their roots (each root's blobs,
     * so shared blobs count in every root) pass the high watermark, their least recently used
     * roots go until they are under the low one.
     */
    private int namespaceBudgets() {
        List<ServerConfig.NamespaceLimit> budgeted = settings.namespaces().stream()
                .filter(l -> l.maxDiskBytes() > 0).toList();
        if (budgeted.isEmpty()) {
            return 0;
        }
        Map<String, List<Candidate>> byNamespace = new HashMap<>();
        for (Candidate c : candidates()) {
            ServerConfig.NamespaceLimit limit = settings.limitFor(c.root().repository());
            if (limit != null && limit.maxDiskBytes() > 0) {
                byNamespace.computeIfAbsent(limit.prefix(), p -> new ArrayList<>()).add(c);
            }
        }
        int evicted = 0;
        for (ServerConfig.NamespaceLimit limit : budgeted) {
            List<Candidate> roots = byNamespace.getOrDefault(limit.prefix(), List.of());
            long total = roots.stream().mapToLong(Candidate::bytes).sum();
            if (total <= limit.maxDiskBytes() / 100 * settings.highPercent()) {
                continue;
            }
            long low = limit.maxDiskBytes() / 100 * settings.lowPercent();
            List<Candidate> oldestFirst = new ArrayList<>(roots);
            oldestFirst.sort(Comparator.comparingLong(Candidate::lastUseMinute));
            for (Candidate c : oldestFirst) {
                if (total < low) {
                    break;
                }
                if (evict(c)) {
                    total -= c.bytes();
                    evicted++;
                }
            }
        }
        return evicted;
    }

    /** Evicts least recently used roots until their bytes add up to {@code toFree} (an estimate). */
    private int evictLeastRecentlyUsed(long toFree) {
        List<Candidate> candidates = candidates();
        candidates.sort(Comparator.comparingLong(Candidate::lastUseMinute));
        long freed = 0;
        int evicted = 0;
        for (Candidate c : candidates) {
            if (freed >= toFree) {
                break;
            }
            if (evict(c)) {
                freed += c.bytes();
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
            case ENTRY -> entries.delete(repo, Digest.parse(root.name()));
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
     * tracking does not lose its roots first) and the blob bytes it refers to.
     */
    List<Candidate> candidates() {
        Map<Root, Long> uses = access.lastUses();
        long now = access.minute();
        List<Candidate> out = new ArrayList<>();
        Map<String, Set<String>> tagged = new HashMap<>();
        Map<String, Set<Digest>> inIndexes = new HashMap<>();
        kv.forEach(Table.TAGS, e -> {
            String[] key = Keys.string(e.key()).split("\0", 2);
            Digest target = Digest.parse(Keys.string(e.value()));
            tagged.computeIfAbsent(key[0], r -> new HashSet<>()).add(target.toString());
            ManifestIndex.StoredManifest m = new ManifestIndex(kv).get(RepositoryName.parse(key[0]), target);
            Root root = new Root(Root.Kind.TAG, key[0], key[1]);
            out.add(new Candidate(root, uses.getOrDefault(root, now), m == null ? 0 : bytesOf(m)));
        });
        List<Candidate> untagged = new ArrayList<>();
        kv.forEach(Table.MANIFESTS, e -> {
            String[] key = Keys.string(e.key()).split("\0", 2);
            ManifestIndex.StoredManifest m = ManifestIndex.decode(Digest.parse(key[1]), e.value());
            if (dev.layercache.server.core.MediaTypes.isIndex(m.mediaType())) {
                inIndexes.computeIfAbsent(key[0], r -> new HashSet<>()).addAll(manifests.references(m));
            }
            Root root = new Root(Root.Kind.MANIFEST, key[0], key[1]);
            untagged.add(new Candidate(root, uses.getOrDefault(root, now), bytesOf(m)));
        });
        for (Candidate c : untagged) {
            String repo = c.root().repository();
            boolean isTagged = tagged.getOrDefault(repo, Set.of()).contains(c.root().name());
            boolean inIndex = inIndexes.getOrDefault(repo, Set.of()).contains(Digest.parse(c.root().name()));
            if (!isTagged && !inIndex) {
                out.add(c);
            }
        }
        kv.forEach(Table.ENTRIES, e -> {
            String[] key = Keys.string(e.key()).split("\0", 2);
            long bytes = 0;
            try {
                for (LayerDescriptor layer : Entry.parseFrom(e.value()).getLayersList()) {
                    bytes += layer.getSize();
                }
            } catch (InvalidProtocolBufferException corrupt) {
                // an unreadable entry still counts as a root
            }
            Root root = new Root(Root.Kind.ENTRY, key[0], key[1]);
            out.add(new Candidate(root, uses.getOrDefault(root, now), bytes));
        });
        return out;
    }

    private long bytesOf(ManifestIndex.StoredManifest m) {
        long bytes = 0;
        for (Digest d : manifests.references(m)) {
            bytes += Math.max(0, blobs.size(d));
        }
        return bytes;
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
