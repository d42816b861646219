package dev.layercache.server.node;

import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.analysis.AnalysisRules;
import dev.layercache.server.analysis.AnalysisService;
import dev.layercache.server.builds.BuildInsight;
import dev.layercache.server.builds.BuildRecord;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.entries.EntryService;
import dev.layercache.server.lifecycle.BlobRepair;
import dev.layercache.server.lifecycle.Collector;
import dev.layercache.server.lifecycle.Lifecycle;
import dev.layercache.server.lifecycle.MetadataPruner;
import dev.layercache.server.lifecycle.NamespacePurge;
import dev.layercache.server.lifecycle.Scrubber;
import dev.layercache.server.lifecycle.StartupCheck;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.RepositoryIndex;
import dev.layercache.server.metrics.BuildSeen;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.metrics.LookupKind;
import dev.layercache.server.metrics.StoreCensus;
import dev.layercache.server.mirror.CountedUpstream;
import dev.layercache.server.mirror.MirrorEvents;
import dev.layercache.server.mirror.MirrorService;
import dev.layercache.server.mirror.Mirrors;
import dev.layercache.server.mirror.Upstream;
import dev.layercache.server.registry.AnswerCache;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.registry.ManifestService;
import dev.layercache.server.registry.UploadDirectory;
import dev.layercache.server.registry.UploadService;
import dev.layercache.server.retention.AccessTracker;
import dev.layercache.server.retention.ReferenceGuard;
import dev.layercache.server.storage.BlobBackend;
import java.io.IOException;
import java.time.Clock;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The services of a node over its {@link Stores}, built once, in one place, under their names.
 *
 * <p>Two graphs of the same three services: {@link #served} works on the stores clients' requests
 * use, {@link #local} on this node's own. On a node alone they are one graph. In a cluster,
 * {@code served} works on the shared bucket through the node's stores, and {@code local} on the
 * copies this node keeps (its hot tier): that is what its lifecycle evicts, scrubs and repairs.
 * Uploads, the analysis of manifests and the records of builds work on the served stores.
 *
 * <p>Links that cannot be constructor arguments, because they close a cycle, are made here and
 * nowhere else: a blob whose bytes turn out lost is forgotten through the local graph (which
 * needs the blob service), and a blob stored tells the lifecycle (which needs the services).
 * Nothing runs until {@link Lifecycle#start()} but the recovery of upload sessions, which has run
 * by the time {@link Builder#build} returns, and the start-up check: run there too, or begun in
 * the background ({@link Builder#startupCheckInBackground}, what a node does), in which case
 * {@link #stopStartupCheck} must be called before the stores close.
 */
public final class Services {
    private static final Logger log = LoggerFactory.getLogger(Services.class);
    /** The memory of small answers (manifests, tags pages, blob sizes); see {@link AnswerCache}. */
    private static final long ANSWER_CACHE_BYTES = 16L << 20;

    /** Blobs, manifests and cache entries over one pair of stores (metadata and bytes). */
    public record Graph(BlobService blobs, ManifestService manifests, EntryService entries) {
    }

    private final Stores stores;
    private final Graph served;
    private final Graph local;
    private final UploadService uploads;
    private final AnalysisService analysis;
    private final BuildInsight builds;
    private final Mirrors mirrors;
    private final MirrorService mirror;
    private final AccessTracker access;
    private final ReferenceGuard guard;
    private final BlobRepair repair;
    private final Lifecycle lifecycle;
    /** The start-up check running in the background; null when it ran in {@link Builder#build}. */
    private final StartupCheck.Background startupCheck;
    private final ObjectMapper json;
    /** Answers the HTTP surface may give from memory; null where this node is not their only writer. */
    private final AnswerCache answers;

    private Services(Builder b) throws IOException {
        stores = b.stores;
        json = b.json;
        // Only where this node alone writes what it answers: not in a cluster (other nodes move
        // tags in the bucket), not with mirrors (their answers are revalidated upstream). Told of
        // every write to the store before any service writes, recovery included.
        if (stores.clustered() || !b.upstreams.isEmpty()) {
            answers = null;
        } else {
            answers = new AnswerCache(ANSWER_CACHE_BYTES);
            stores.local().whenCommitted(AnswerCache.WATCHED, answers.listener());
        }
        Clock clock = b.clock;
        ServerConfig config = b.config;
        KeyValueStore own = stores.local();
        access = new AccessTracker(own, clock, config.lifecycle().gcGrace());
        guard = new ReferenceGuard();
        served = graph(stores.served(), stores.servedBytes(), clock);
        uploads = new UploadService(stores.served(), stores.layout(), served.blobs(), clock, b.disk, b.uploadDirectory,
                b.metrics::upload);
        ServerConfig.Limits limits = config.limits();
        uploads.limits(limits.maxBlobBytes(), limits.maxUploadsPerIdentity(), limits.maxUploads(),
                limits.uploadIdleTimeout());
        uploads.recover();
        local = stores.clustered() ? graph(own, stores.disk(), clock) : served;
        analysis = new AnalysisService(served.manifests(), served.blobs(), stores.served(), own, json,
                AnalysisService.MEMORY_ENTRIES);

        CacheMetrics metrics = b.metrics;
        builds = new BuildInsight(stores.served(), served.blobs(), json, clock,
                r -> metrics.build(new BuildSeen(r.builder(), r.repository(), r.reference(), r.at(),
                        r.status().label(), r.reused(), r.rebuilt(),
                        r.rootCause() == null ? null : r.rootCause().instruction(),
                        r.rootCause() == null ? null : r.rootCause().reason(),
                        r.warnings().stream().map(BuildRecord.Warning::kind).toList())));
        metrics.watchBuildAnalyses(builds::dropped);
        // The mirror is counted here, where both it and the metrics are at hand: its lookups and
        // stale serves through MirrorEvents, each upstream's requests by a decorator.
        metrics.mirrors(b.upstreams.stream().map(Upstream::name).toList());
        mirrors = new Mirrors(b.upstreams.stream()
                .map(u -> (Upstream) new CountedUpstream(u, metrics::upstreamRequest)).toList());
        mirror = new MirrorService(served.manifests(), served.blobs(), stores.layout().uploads(), clock,
                (int) config.maxManifestSize(), limits.maxBlobBytes(), mirrorEvents(metrics));
        StoreCensus census = new StoreCensus(own);
        metrics.watchStore(census, uploads::openSessions);
        // Whether a missed lookup's namespace exists: asked of this node's own store, so that a
        // miss never costs a bucket request (a cluster node knows what passed through it).
        RepositoryIndex repositoriesHere = new RepositoryIndex(own);
        metrics.holdsRepositories(prefix -> repositoriesHere.anyUnder(RepositoryName.parse(prefix)));

        repair = new BlobRepair(own, local.manifests(), local.entries());
        StartupCheck check = new StartupCheck(own, stores.disk(), repair, guard, clock);
        served.blobs().whenBytesLost(check.lost(repair::forget));
        local.blobs().whenBytesLost(check.lost(repair::forget));
        ServerConfig.Lifecycle settings = localBudget(config.lifecycle(), stores.clustered());
        lifecycle = new Lifecycle(settings, stores.layout().root(), own, local.manifests(), local.entries(),
                uploads, new Collector(own, stores.disk(), local.manifests(), guard, access, clock),
                new Scrubber(own, stores.disk(), stores.layout(), repair, clock), access, census, metrics,
                new MetadataPruner(settings.history(), own, AnalysisRules.VERSION, clock), clock);
        if (b.startupHook == null) {
            lifecycle.startupChecked(check.run());
            startupCheck = null;
        } else {
            // The node's own blobs are the ones the pass checks (in a cluster, the hot tier's copies).
            startupCheck = check.inBackground(lifecycle.status(), local.blobs()::filesInDoubt, b.startupHook);
        }
        NamespacePurge servedPurge = new NamespacePurge(stores.served(), stores.servedBytes(), served.manifests(),
                guard, access, b.sharedCopy, clock);
        lifecycle.purges(servedPurge, stores.clustered()
                ? new NamespacePurge(own, stores.disk(), local.manifests(), guard, access, null, clock) : servedPurge);
        // A write past the high watermark starts a run at once: on this node's own stores alone,
        // on the hot tier's copies in a cluster.
        if (stores.clustered()) {
            stores.whenCopiedToDisk(lifecycle::blobStored);
        } else {
            served.blobs().whenStored(lifecycle::blobStored);
        }
    }

    /** The mirror's lookups and stale serves, told to the metrics (docs/metrics.md, "What counts as a lookup"). */
    private static MirrorEvents mirrorEvents(CacheMetrics metrics) {
        return new MirrorEvents() {
            @Override
            public void lookup(String upstream, LookupKind kind, RepositoryName copy, boolean hit) {
                metrics.mirrorLookup(upstream, kind, copy.toString(), hit);
            }

            @Override
            public void stale(String upstream) {
                metrics.mirrorStale(upstream);
            }
        };
    }

    private Graph graph(KeyValueStore kv, BlobBackend bytes, Clock clock) {
        BlobService blobs = new BlobService(kv, bytes, clock, access, guard);
        return new Graph(blobs, new ManifestService(kv, blobs, json, access, guard, clock),
                new EntryService(kv, blobs, clock, access, guard));
    }

    /** Services over {@code stores}; see {@link Builder} for what else they take and its defaults. */
    public static Builder over(Stores stores) {
        return new Builder(stores);
    }

    /** The stores these services work on. */
    public Stores stores() {
        return stores;
    }

    /** The services clients' requests use (over the shared bucket in a cluster). */
    public Graph served() {
        return served;
    }

    /** The services over this node's own stores: {@link #served} itself on a node alone. */
    public Graph local() {
        return local;
    }

    public UploadService uploads() {
        return uploads;
    }

    public AnalysisService analysis() {
        return analysis;
    }

    /** What stock builders' builds reused and rebuilt; told of pushes and lookups by the HTTP surface. */
    public BuildInsight builds() {
        return builds;
    }

    /** The upstream registries this node mirrors (none unless configured) and which names are theirs. */
    public Mirrors mirrors() {
        return mirrors;
    }

    /** Fetches what clients ask of a mirrored repository, by the mirror's caching rules. */
    public MirrorService mirror() {
        return mirror;
    }

    /** When roots and blobs were last used; shared by both graphs. */
    public AccessTracker access() {
        return access;
    }

    /**
     * The memory of recent small answers that the HTTP surface gives on its event loops, kept
     * true by the metadata store's writes; null in a cluster or with mirrors (see {@link AnswerCache}).
     */
    public AnswerCache answers() {
        return answers;
    }

    /** Keeps blobs being published from collection; shared by both graphs. */
    public ReferenceGuard guard() {
        return guard;
    }

    /** Forgets blobs whose bytes are lost, with what names them, on this node. */
    public BlobRepair repair() {
        return repair;
    }

    /** Keeps this node's stores within their budget; not started ({@link Lifecycle#start()}). */
    public Lifecycle lifecycle() {
        return lifecycle;
    }

    /**
     * Stops the start-up check if it still runs in the background, and waits for its thread: it
     * reads the metadata store, which must not close under it.
     */
    public void stopStartupCheck() {
        if (startupCheck != null) {
            startupCheck.close();
        }
    }

    /** The JSON mapper the services read manifests with. */
    public ObjectMapper json() {
        return json;
    }

    /**
     * The lifecycle's settings. In a cluster the node's disk is only a copy of the bucket, so it
     * gets a budget even when max-disk-size is 0: half of its file system, lest it fill the disk.
     */
    private static ServerConfig.Lifecycle localBudget(ServerConfig.Lifecycle settings, boolean clustered) {
        if (!clustered || !settings.maxDisk().isNone()) {
            return settings;
        }
        log.info("cluster mode with max-disk-size 0: this node keeps at most half of its file system in blobs");
        return settings.withMaxDisk(ServerConfig.DiskShare.ofPercent(50));
    }

    /** JSON for manifests: hostile nesting is refused long before it costs stack or memory. */
    public static ObjectMapper jsonMapper() {
        ObjectMapper json = new ObjectMapper();
        json.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                .maxNestingDepth(64)
                .maxStringLength(1 << 22)
                .build());
        return json;
    }

    /**
     * What the services take besides their stores. Only the configuration has no default; the
     * others default to what a test wants: counting off, the system clock, {@link #jsonMapper()},
     * the common pool for upload writes, and no other nodes to find upload sessions on.
     */
    public static final class Builder {
        private final Stores stores;
        private ServerConfig config;
        private CacheMetrics metrics = CacheMetrics.disabled();
        private ObjectMapper json = jsonMapper();
        private Clock clock = Clock.systemUTC();
        private Executor disk = ForkJoinPool.commonPool();
        private UploadDirectory uploadDirectory = UploadDirectory.NONE;
        private java.util.List<Upstream> upstreams = java.util.List.of();
        private NamespacePurge.SharedCopy sharedCopy;
        private StartupCheck.Hook startupHook;

        private Builder(Stores stores) {
            this.stores = Objects.requireNonNull(stores, "stores");
        }

        /** The node's configuration: upload limits, grace periods, the lifecycle's settings. */
        public Builder config(ServerConfig config) {
            this.config = Objects.requireNonNull(config, "config");
            return this;
        }

        public Builder metrics(CacheMetrics metrics) {
            this.metrics = Objects.requireNonNull(metrics, "metrics");
            return this;
        }

        public Builder json(ObjectMapper json) {
            this.json = Objects.requireNonNull(json, "json");
            return this;
        }

        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /** Runs the file writes of uploads, so that hashing and writing overlap. */
        public Builder diskExecutor(Executor disk) {
            this.disk = Objects.requireNonNull(disk, "disk");
            return this;
        }

        /** Where a cluster's nodes find each other's upload sessions. */
        public Builder uploadDirectory(UploadDirectory directory) {
            this.uploadDirectory = Objects.requireNonNull(directory, "directory");
            return this;
        }

        /** The upstream registries to mirror (none by default). */
        public Builder upstreams(java.util.List<Upstream> upstreams) {
            this.upstreams = java.util.List.copyOf(upstreams);
            return this;
        }

        /** In a cluster: how a namespace purge removes the bucket's copy of a blob (none alone). */
        public Builder sharedCopy(NamespacePurge.SharedCopy copy) {
            this.sharedCopy = copy;
            return this;
        }

        /**
         * Runs the start-up check in the background rather than in {@link #build}: the services
         * answer requests meanwhile, correctly (see {@link StartupCheck}), and the lifecycle's
         * count waits for it. {@code hook} is called on the check's thread before it begins
         * ({@link StartupCheck.Hook#NONE} but in tests that hold it there).
         */
        public Builder startupCheckInBackground(StartupCheck.Hook hook) {
            this.startupHook = Objects.requireNonNull(hook, "hook");
            return this;
        }

        /** Builds the services, recovers upload sessions and runs (or begins) the start-up check. */
        public Services build() throws IOException {
            Objects.requireNonNull(config, "config");
            return new Services(this);
        }
    }
}
