package dev.layercache.server.metrics;

import dev.layercache.api.v1.MissReason;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.util.List;
import java.util.function.LongSupplier;
import java.util.function.Predicate;

/**
 * The one place that counts: every lookup, byte, upload, latency and eviction of both surfaces
 * (and of the pull-through mirror) is reported here, and from here go the Prometheus meters, the
 * sliding windows of the stats API and the dashboard. Each surface has one recorder that turns
 * what happened into these calls ({@code http.RequestMetrics}, {@code grpc.GrpcMetrics}; the
 * mirror's events and its upstream requests are wired in {@code node.Services}); none builds a
 * meter.
 *
 * <p>This class only routes: a report goes to the node's counters ({@link Meters}), the
 * namespace's counters and windows ({@link NamespaceMeters}), and for some to the root causes,
 * the recent evictions or the latency histogram; the store's figures are in {@link StoreWatch},
 * the stats API is put together by {@link StatsAssembler}. It stays the one object the surfaces
 * and the lifecycle hold, and the one switch: a disabled instance ({@code metrics-enabled: false})
 * returns from every report at once and builds no meter.
 *
 * <p>Hot-path calls touch only prebuilt counters and atomic window slots: meters are created
 * once per label combination and kept in maps, never looked up in the registry per request.
 *
 * <p>A little over 400 lines: every report of every surface and of the mirror has its entry
 * here, each a few lines of routing; splitting them would give the recorders several objects to
 * hold and the one switch several places to be.
 */
public final class CacheMetrics implements AutoCloseable {
    static final int ROOT_CAUSES_KEPT = 1000;
    static final int RECENT_EVICTIONS_KEPT = 50;

    private final boolean enabled;
    private final Clock clock;
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final NamespaceTable namespaces;
    private final RootCauses rootCauses = new RootCauses(ROOT_CAUSES_KEPT);
    private final RecentEvictions recentEvictions = new RecentEvictions(RECENT_EVICTIONS_KEPT);
    private final StoreWatch store = new StoreWatch();
    private final StatsAssembler stats;
    /** The meters below are null when disabled: every report returns before it would use them. */
    private final RequestLatency latency;
    private final Meters meters;
    private final BucketMeters buckets;
    private final BuildMeters builds;
    private final RecentBuildSeries recentBuilds;
    /** Each namespace's bytes ({@code layercache_namespace_store_bytes}); null when disabled. */
    private final NamespaceBytes namespaceBytes;
    /** Null until {@link #mirrors} names the upstreams, and on a node that mirrors nothing. */
    private volatile MirrorMeters mirror;

    private CacheMetrics(boolean enabled, int namespaceDepth, int maxNamespaces, Clock clock) {
        this.enabled = enabled;
        this.clock = clock;
        this.namespaces = new NamespaceTable(new Namespaces(namespaceDepth, maxNamespaces), registry);
        if (enabled) {
            latency = new RequestLatency(registry);
            meters = new Meters(registry);
            store.gauges(registry);
            meters.bindJvm();
            buckets = new BucketMeters(registry);
            builds = new BuildMeters(registry);
            recentBuilds = new RecentBuildSeries(registry, namespaces::missLabel);
            namespaceBytes = new NamespaceBytes(registry);
        } else {
            namespaceBytes = null;
            latency = null;
            meters = null;
            buckets = null;
            builds = null;
            recentBuilds = null;
        }
        this.stats = new StatsAssembler(clock, namespaces,
                enabled ? meters::entryMissCounts : Meters::noEntryMisses, rootCauses, recentEvictions, store,
                minute -> {
                    MirrorMeters m = mirror;
                    return m == null ? null : m.snapshot(minute);
                });
    }

    /** Counting with namespaces of {@code namespaceDepth} path components, at most {@code maxNamespaces}. */
    public static CacheMetrics create(int namespaceDepth, int maxNamespaces, Clock clock) {
        return new CacheMetrics(true, namespaceDepth, maxNamespaces, clock);
    }

    /** Counts nothing; the metrics paths answer 404. */
    public static CacheMetrics disabled() {
        return new CacheMetrics(false, 1, 1, Clock.systemUTC());
    }

    public boolean enabled() {
        return enabled;
    }

    // ------------------------------------------------------------------ what the node tells

    /** Counts the store now and every 30 seconds on a thread of its own; also reports open upload sessions. */
    public void watchStore(StoreCensus census, LongSupplier uploadsInProgress) {
        if (enabled) {
            store.start(census, uploadsInProgress, registry);
        }
    }

    /**
     * A build of a stock builder was recorded (docs/builds.md, "Where it shows"): its steps reused
     * and rebuilt, its status and the kinds of its hygiene warnings are counted, and it joins the
     * series of the newest builds ({@code layercache_build_recent}).
     */
    public void build(BuildSeen build) {
        if (enabled) {
            builds.build(build.builder(), build.status(), build.reused(), build.rebuilt(), build.warningKinds());
            recentBuilds.add(build);
        }
    }

    /** Counts the store now (the census runs by itself too). */
    public void refreshStore() {
        store.refresh();
    }

    /**
     * Where namespaces are looked up before a miss gives one a label of its own: {@code test}
     * answers whether the store holds a repository named {@code prefix} or below it. Until this
     * is set, misses take no label of their own.
     */
    public void holdsRepositories(Predicate<String> test) {
        namespaces.holdsRepositories(test);
    }

    /** Where the count of build analyses dropped (their queue was full) is read. */
    public void watchBuildAnalyses(LongSupplier dropped) {
        if (enabled) {
            builds.watchDropped(registry, dropped);
        }
    }

    /**
     * The node mirrors these upstreams (docs/mirror.md): the mirror's meters are made, for these
     * names only. Called when the node is wired, before it serves (again with the same names:
     * nothing changes); with no upstream nothing is made, so a node that mirrors nothing shows
     * no series of the mirror.
     */
    public synchronized void mirrors(List<String> upstreams) {
        if (!enabled || upstreams.isEmpty()) {
            return;
        }
        if (mirror == null) {
            mirror = new MirrorMeters(registry, upstreams);
        } else if (!mirror.upstreams().equals(upstreams)) {
            throw new IllegalStateException("the mirror's meters are made for " + mirror.upstreams() + ", not " + upstreams);
        }
    }

    /**
     * The namespace label of a repository the store holds (as {@code namespace} in every metric:
     * bounded by {@code metrics-max-namespaces}, later ones {@code other}).
     */
    public String namespaceLabel(String repository) {
        return namespaces.label(repository);
    }

    /** Each namespace's bytes as the lifecycle last counted them (a namespace gone drops its series). */
    public void namespaceBytes(java.util.Map<String, Long> bytesByLabel) {
        if (enabled) {
            namespaceBytes.update(bytesByLabel);
        }
    }

    /** The disk budget to report (the lifecycle sets it; 0: none). */
    public void budget(long bytes) {
        store.budget(bytes);
    }

    // ------------------------------------------------------------------ what the recorders report

    /**
     * A lookup in {@code repository} by a caller allowed to make it: a hit names a repository
     * that exists, a miss may not ({@link #missedNamespace}). Nothing for an invalid name.
     */
    public void lookup(Surface surface, LookupKind kind, String repository, boolean hit) {
        if (!enabled) {
            return;
        }
        NamespaceMeters ns = hit ? namespace(repository) : missedNamespace(repository);
        if (ns != null) {
            lookup(surface, kind, ns, hit);
        }
    }

    /** A lookup in a namespace resolved by {@link #namespace}. */
    public void lookup(Surface surface, LookupKind kind, NamespaceMeters ns, boolean hit) {
        if (!enabled) {
            return;
        }
        meters.lookup(surface, kind, hit);
        ns.lookup(surface, kind, hit).increment();
        ns.windows.add(minute(), hit ? Windows.Field.HITS : Windows.Field.MISSES, 1);
    }

    /**
     * A pusher asked whether {@code repository} has a blob before uploading it (a blob
     * {@code HEAD}, a digest of FindMissingBlobs): counted apart from lookups, so that pushing new
     * layers does not read as the cache missing (docs/metrics.md, "What counts as a lookup"). A
     * hit names a repository that exists, a miss may not. Nothing for an invalid name.
     */
    public void existenceCheck(Surface surface, String repository, boolean hit) {
        if (!enabled) {
            return;
        }
        NamespaceMeters ns = hit ? namespace(repository) : missedNamespace(repository);
        if (ns != null) {
            existenceCheck(surface, ns, hit);
        }
    }

    /** An existence check in a namespace resolved by {@link #namespace} or {@link #missedNamespace}. */
    public void existenceCheck(Surface surface, NamespaceMeters ns, boolean hit) {
        if (!enabled) {
            return;
        }
        meters.existenceCheck(surface, hit);
        ns.existenceCheck(surface, hit).increment();
        long minute = minute();
        ns.windows.add(minute, Windows.Field.EXISTENCE_CHECKS, 1);
        if (hit) {
            ns.windows.add(minute, Windows.Field.EXISTENCE_CHECK_HITS, 1);
        }
    }

    /** A miss on a tag or entry that this cache held and removed (so the repository existed). */
    public void capacityMiss(Surface surface, LookupKind kind, String repository) {
        if (!enabled) {
            return;
        }
        NamespaceMeters ns = namespace(repository);
        if (ns != null) {
            meters.capacityMiss(surface, kind);
            ns.windows.add(minute(), Windows.Field.CAPACITY_MISSES, 1);
        }
    }

    /**
     * Why a GetEntry missed; a root cause ({@code NEW_STEP}, {@code INPUTS_CHANGED}) with a step
     * identity also counts toward the steps that most often start a rebuild.
     */
    public void entryMiss(MissReason reason, String namespace, String stepId) {
        if (!enabled) {
            return;
        }
        meters.entryMiss(reason);
        if ((reason == MissReason.NEW_STEP || reason == MissReason.INPUTS_CHANGED) && stepId != null
                && !stepId.isEmpty()) {
            rootCauses.count(namespace, stepId);
        }
    }

    /**
     * A lookup through the mirror of {@code upstream} ({@code kind}: tag, manifest or blob) for
     * the copy kept in {@code repository}: a hit served what was held here without fetching (a
     * tag revalidated with a {@code HEAD}, or served stale, included), a miss fetched it or tried
     * to. Counted as {@code surface="mirror"} node-wide and under the copy's namespace, and in
     * the mirror's windows, never the namespaces': the headline hit rate is the build cache's.
     * A miss whose fetch stored nothing takes no namespace of its own ({@link #missedNamespace}).
     */
    public void mirrorLookup(String upstream, LookupKind kind, String repository, boolean hit) {
        MirrorMeters m = mirror;
        if (!enabled || m == null) {
            return;
        }
        m.lookup(upstream, kind, hit, minute());
        NamespaceMeters ns = hit ? namespace(repository) : missedNamespace(repository);
        if (ns != null) {
            ns.lookup(Surface.MIRROR, kind, hit).increment();
        }
    }

    /** A copy the mirror of {@code upstream} served although the upstream could not be asked. */
    public void mirrorStale(String upstream) {
        MirrorMeters m = mirror;
        if (enabled && m != null) {
            m.stale(upstream, minute());
        }
    }

    /** Body bytes a request served through the mirror of {@code upstream} sent. */
    public void mirrorServed(String upstream, long bytes) {
        MirrorMeters m = mirror;
        if (enabled && m != null && bytes > 0) {
            m.served(upstream, bytes, minute());
        }
    }

    /**
     * One request of the mirror to {@code upstream} ({@code operation}: head_manifest,
     * get_manifest, get_blob; {@code outcome}: ok, or the failure's kind in lower case) and how
     * long it took (a blob's: until its body was read).
     */
    public void upstreamRequest(String upstream, String operation, String outcome, long nanos) {
        MirrorMeters m = mirror;
        if (enabled && m != null) {
            m.request(upstream, operation, outcome, nanos, minute());
        }
    }

    /** Bytes of a hit in {@code repository} sent (nothing for an invalid name). */
    public void served(Surface surface, String repository, long bytes) {
        if (enabled && bytes > 0) {
            NamespaceMeters ns = namespace(repository);
            if (ns != null) {
                served(surface, ns, bytes);
            }
        }
    }

    public void served(Surface surface, NamespaceMeters ns, long bytes) {
        if (enabled && bytes > 0) {
            meters.served(surface, bytes);
            ns.windows.add(minute(), Windows.Field.SERVED_BYTES, bytes);
        }
    }

    /** Bytes an authorised write to {@code repository} sent, which may be creating it (nothing for an invalid name). */
    public void received(Surface surface, String repository, long bytes) {
        if (enabled && bytes > 0) {
            NamespaceMeters ns = namespace(repository);
            if (ns != null) {
                received(surface, ns, bytes);
            }
        }
    }

    public void received(Surface surface, NamespaceMeters ns, long bytes) {
        if (enabled && bytes > 0) {
            meters.received(surface, bytes);
            ns.windows.add(minute(), Windows.Field.RECEIVED_BYTES, bytes);
        }
    }

    /** Bytes a client did not send to {@code repository}, where the blob now is (nothing for an invalid name). */
    public void saved(Surface surface, SavedReason reason, String repository, long bytes) {
        if (enabled && bytes > 0) {
            NamespaceMeters ns = namespace(repository);
            if (ns != null) {
                saved(surface, reason, ns, bytes);
            }
        }
    }

    public void saved(Surface surface, SavedReason reason, NamespaceMeters ns, long bytes) {
        if (enabled && bytes > 0) {
            meters.saved(surface, reason, bytes);
            ns.windows.add(minute(), Windows.Field.SAVED_BYTES, bytes);
        }
    }

    public void upload(Surface surface, UploadOutcome outcome) {
        if (enabled) {
            meters.upload(surface, outcome);
        }
    }

    /** One request's latency; {@code status} is the HTTP status or the gRPC code name. */
    public void request(Surface surface, String operation, String status, long nanos) {
        if (enabled) {
            latency.observe(surface, operation, status, nanos);
        }
    }

    /** Blobs the scrubber found rotten (quarantined) or without a file. */
    public void scrubFound(int corrupt, int missing) {
        if (enabled) {
            meters.scrubFound(corrupt, missing);
        }
    }

    /**
     * One request to the cluster's shared bucket ({@code operation}: put, get, head, list, ...;
     * {@code outcome}: ok, absent, error) and how long it took, retries included.
     */
    public void bucketRequest(String operation, String outcome, long nanos) {
        if (enabled) {
            buckets.request(operation, outcome, nanos);
        }
    }

    /** A root removed to stay within the budget (the lifecycle's hook). */
    public void evicted(String kind, String repository, String reference, long bytes) {
        if (enabled) {
            meters.evicted(kind);
            recentEvictions.add(new RecentEvictions.Eviction(clock.instant(), namespaces.label(repository),
                    repository, kind, reference, bytes));
        }
    }

    /**
     * The namespace of {@code repository}, which exists or which an authorised write is creating:
     * a hit, a push, a mount. It takes a free slot of {@code metrics-max-namespaces}. Null when
     * {@code repository} is not a valid repository name: count nothing about it then.
     */
    public NamespaceMeters namespace(String repository) {
        return namespaces.of(repository);
    }

    /**
     * The namespace of {@code repository} for a lookup that missed, or a write that failed: the
     * repository may not exist, so only a namespace that has a label or holds repositories is
     * named; the rest count under {@code other}. Null when the name is not valid.
     */
    public NamespaceMeters missedNamespace(String repository) {
        return namespaces.ofMiss(repository);
    }

    // ------------------------------------------------------------------ what is read out

    /** The Prometheus exposition for a scrape with this {@code Accept} header. */
    public String scrape(String accept) {
        return scrape(accept, MetricsView.ALL);
    }

    /** The exposition as {@code view}'s reader may see it: samples of other namespaces left out. */
    public String scrape(String accept, MetricsView view) {
        String all = registry.scrape(contentType(accept));
        return view.everything() ? all : VisibleSamples.filter(all, view);
    }

    /** The content type {@link #scrape} answers for this {@code Accept} header. */
    public static String contentType(String accept) {
        if (accept != null && accept.contains("application/openmetrics-text")) {
            return "application/openmetrics-text; version=1.0.0; charset=utf-8";
        }
        return "text/plain; version=0.0.4; charset=utf-8";
    }

    /** A snapshot for the stats API, of everything. */
    public StatsSnapshot snapshot() {
        return snapshot(MetricsView.ALL);
    }

    /** A snapshot for the stats API as {@code view}'s reader may see it (see {@link StatsAssembler#snapshot}). */
    public StatsSnapshot snapshot(MetricsView view) {
        return stats.snapshot(view);
    }

    private long minute() {
        return Windows.minute(clock);
    }

    @Override
    public void close() {
        store.close();
        registry.close();
    }
}
