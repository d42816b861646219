package dev.layercache.server.metrics;

import dev.layercache.api.v1.MissReason;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Histogram;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place that counts: every lookup, byte, upload, latency and eviction of both surfaces
 * is reported here, and from here go the Prometheus meters, the sliding windows of the stats API
 * and the dashboard. Handlers and services call its methods; none builds a meter.
 *
 * <p>Hot-path calls touch only prebuilt counters and atomic window slots: meters are created
 * once per label combination and kept in maps, never looked up in the registry per request.
 * A disabled instance ({@code metrics-enabled: false}) returns from every call at once.
 */
public final class CacheMetrics implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CacheMetrics.class);
    /** Histogram buckets of request latency in seconds: from a cached HEAD to a large upload. */
    private static final double[] LATENCY_BUCKETS = {
        0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    /** The lookups each surface has (README, "What counts as a lookup"). */
    static final Map<Surface, List<LookupKind>> LOOKUP_KINDS = Map.of(
            Surface.OCI, List.of(LookupKind.TAG, LookupKind.MANIFEST, LookupKind.BLOB),
            Surface.GRPC, List.of(LookupKind.ENTRY, LookupKind.BLOB));
    /** The ways each surface saves a client an upload. */
    static final Map<Surface, List<SavedReason>> SAVED_REASONS = Map.of(
            Surface.OCI, List.of(SavedReason.HEAD_HIT, SavedReason.MOUNT),
            Surface.GRPC, List.of(SavedReason.FIND_MISSING, SavedReason.ALREADY_PRESENT));
    static final int ROOT_CAUSES_KEPT = 1000;
    static final int RECENT_EVICTIONS_KEPT = 50;
    /** How often the store is counted for the gauges and the stats API. */
    static final Duration CENSUS_EVERY = Duration.ofSeconds(30);

    private final boolean enabled;
    private final Clock clock;
    private final Instant started;
    private final PrometheusMeterRegistry registry;
    private final Namespaces namespaces;
    private final ConcurrentMap<String, NamespaceMeters> byNamespace = new ConcurrentHashMap<>();
    private final Map<Surface, Map<LookupKind, Counter[]>> lookups = new EnumMap<>(Surface.class);
    private final Map<Surface, Map<LookupKind, Counter>> capacityMisses = new EnumMap<>(Surface.class);
    private final Map<Surface, Counter> served = new EnumMap<>(Surface.class);
    private final Map<Surface, Counter> received = new EnumMap<>(Surface.class);
    private final Map<Surface, Map<SavedReason, Counter>> saved = new EnumMap<>(Surface.class);
    private final Map<Surface, Map<UploadOutcome, Counter>> uploads = new EnumMap<>(Surface.class);
    private final Map<String, Counter> entryMisses = new ConcurrentHashMap<>();
    private final Map<String, Counter> evictions = new ConcurrentHashMap<>();
    /**
     * Request latency, the one meter of every request. Made with the Prometheus client library
     * under Micrometer's registry rather than a Micrometer Timer: its buckets are striped
     * adders, where the Timer's shared atomics (bucket array, running max) cost every request a
     * contended cache line between the event loops; measurably, on the small-request benchmark.
     */
    private final Histogram latency;
    /** Its data points by surface, operation and status: nested maps, so a lookup allocates nothing. */
    private final Map<Surface, ConcurrentMap<String, ConcurrentMap<String, DistributionDataPoint>>> timers =
            new EnumMap<>(Surface.class);
    private final RootCauses rootCauses = new RootCauses(ROOT_CAUSES_KEPT);
    private final RecentEvictions recentEvictions = new RecentEvictions(RECENT_EVICTIONS_KEPT);
    private volatile StoreCensus.Totals store = StoreCensus.Totals.NONE;
    private volatile long budgetBytes;
    private StoreCensus census;
    private ScheduledExecutorService censusThread;

    /**
     * A namespace as counting knows it: resolve it once with {@link #namespace} when a request
     * reports several things about the same repository.
     */
    public final class NamespaceMeters {
        final Windows windows = new Windows();
        /** By surface, kind and result: {@code (surface * kinds + kind) * 2 + hit}. */
        final AtomicReferenceArray<Counter> lookups =
                new AtomicReferenceArray<>(Surface.values().length * LookupKind.values().length * 2);
        final String label;

        NamespaceMeters(String label) {
            this.label = label;
        }

        Counter lookup(Surface surface, LookupKind kind, boolean hit) {
            int i = (surface.ordinal() * LookupKind.values().length + kind.ordinal()) * 2 + (hit ? 1 : 0);
            Counter c = lookups.get(i);
            if (c == null) {
                c = Counter.builder("layercache.namespace.lookups")
                        .description("Lookups per namespace (first path components of the repository)")
                        .tag("namespace", label).tag("surface", surface.label()).tag("kind", kind.label())
                        .tag("result", hit ? "hit" : "miss").register(registry); // the registry returns one meter per id
                lookups.set(i, c);
            }
            return c;
        }
    }

    private CacheMetrics(boolean enabled, int namespaceDepth, int maxNamespaces, Clock clock) {
        this.enabled = enabled;
        this.clock = clock;
        this.started = clock.instant();
        this.namespaces = new Namespaces(namespaceDepth, maxNamespaces);
        this.registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        for (Surface s : Surface.values()) {
            timers.put(s, new ConcurrentHashMap<>());
        }
        this.latency = Histogram.builder().name("layercache_request_duration_seconds").help("Request latency")
                .labelNames("surface", "operation", "status").classicOnly().classicUpperBounds(LATENCY_BUCKETS)
                .withoutExemplars().build();
        if (enabled) {
            registry.getPrometheusRegistry().register(latency);
        }
        if (!enabled) {
            return;
        }
        for (Surface s : Surface.values()) {
            Map<LookupKind, Counter[]> byKind = new EnumMap<>(LookupKind.class);
            for (LookupKind k : LOOKUP_KINDS.get(s)) {
                byKind.put(k, new Counter[] {lookupCounter(s, k, "miss"), lookupCounter(s, k, "hit")});
            }
            lookups.put(s, byKind);
            Map<LookupKind, Counter> capacity = new EnumMap<>(LookupKind.class);
            LookupKind held = s == Surface.OCI ? LookupKind.TAG : LookupKind.ENTRY;
            capacity.put(held, Counter.builder("layercache.capacity.misses")
                    .description("Misses on a tag or entry this cache held and removed")
                    .tag("surface", s.label()).tag("kind", held.label()).register(registry));
            capacityMisses.put(s, capacity);
            served.put(s, Counter.builder("layercache.served.bytes").description("Body bytes sent")
                    .tag("surface", s.label()).register(registry));
            received.put(s, Counter.builder("layercache.received.bytes").description("Body bytes received")
                    .tag("surface", s.label()).register(registry));
            Map<SavedReason, Counter> savedByReason = new EnumMap<>(SavedReason.class);
            for (SavedReason r : SAVED_REASONS.get(s)) {
                savedByReason.put(r, Counter.builder("layercache.saved.bytes")
                        .description("Bytes clients did not send because the blob was already here")
                        .tag("surface", s.label()).tag("reason", r.label()).register(registry));
            }
            saved.put(s, savedByReason);
            Map<UploadOutcome, Counter> byOutcome = new EnumMap<>(UploadOutcome.class);
            for (UploadOutcome o : UploadOutcome.values()) {
                byOutcome.put(o, Counter.builder("layercache.uploads").description("Finished upload sessions")
                        .tag("surface", s.label()).tag("outcome", o.label()).register(registry));
            }
            uploads.put(s, byOutcome);
        }
        for (String reason : List.of("new_step", "inputs_changed", "cascade", "evicted", "unknown")) {
            entryMisses.put(reason, Counter.builder("layercache.entry.misses")
                    .description("Why GetEntry missed").tag("reason", reason).register(registry));
        }
        for (String kind : List.of("tag", "manifest", "entry")) {
            evictions.put(kind, evictionCounter(kind));
        }
        scrubFound(0, 0); // both counters exist from the start
        Gauge.builder("layercache.store.bytes", () -> store.bytes()).description("Bytes of blobs on disk")
                .baseUnit("bytes").register(registry);
        Gauge.builder("layercache.store.blobs", () -> store.blobs()).description("Blobs on disk").register(registry);
        Gauge.builder("layercache.store.roots", () -> store.tags()).tag("kind", "tag")
                .description("Roots that keep blobs alive").register(registry);
        Gauge.builder("layercache.store.roots", () -> store.manifests()).tag("kind", "manifest")
                .description("Roots that keep blobs alive").register(registry);
        Gauge.builder("layercache.store.roots", () -> store.entries()).tag("kind", "entry")
                .description("Roots that keep blobs alive").register(registry);
        Gauge.builder("layercache.store.budget", () -> budgetBytes).baseUnit("bytes")
                .description("Disk budget of the store (0: none)").register(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
    }

    private Counter evictionCounter(String kind) {
        return Counter.builder("layercache.evictions").description("Roots removed to stay within the budget")
                .tag("kind", kind).register(registry);
    }

    private Counter lookupCounter(Surface s, LookupKind k, String result) {
        return Counter.builder("layercache.lookups").description("Cache lookups (README: what counts as a lookup)")
                .tag("surface", s.label()).tag("kind", k.label()).tag("result", result).register(registry);
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

    /**
     * Counts the store now and every {@link #CENSUS_EVERY} on a thread of its own; also reports
     * open upload sessions.
     */
    public void watchStore(StoreCensus census, LongSupplier uploadsInProgress) {
        if (!enabled) {
            return;
        }
        this.census = census;
        Gauge.builder("layercache.uploads.in.progress", uploadsInProgress::getAsLong)
                .description("Open upload sessions").register(registry);
        refreshStore();
        censusThread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "layercache-census");
            t.setDaemon(true);
            return t;
        });
        censusThread.scheduleWithFixedDelay(this::refreshStoreQuietly, CENSUS_EVERY.toSeconds(),
                CENSUS_EVERY.toSeconds(), TimeUnit.SECONDS);
    }

    /** Counts the store now (the census runs by itself too). */
    public void refreshStore() {
        if (census != null) {
            store = census.count();
        }
    }

    private void refreshStoreQuietly() {
        try {
            refreshStore();
        } catch (RuntimeException e) {
            log.warn("counting the store failed", e);
        }
    }

    /**
     * Where namespaces are looked up before a miss gives one a label of its own: {@code test}
     * answers whether the store holds a repository named {@code prefix} or below it. Until this
     * is set, misses take no label of their own.
     */
    public void holdsRepositories(java.util.function.Predicate<String> test) {
        namespaces.holdsRepositories(test);
    }

    /** The disk budget to report (the lifecycle sets it; 0: none). */
    public void budget(long bytes) {
        this.budgetBytes = bytes;
    }

    // ------------------------------------------------------------------ what handlers report

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
        known(lookups.get(surface).get(kind), surface, kind)[hit ? 1 : 0].increment();
        ns.lookup(surface, kind, hit).increment();
        ns.windows.add(minute(), hit ? Windows.Field.HITS : Windows.Field.MISSES, 1);
    }

    /** A miss on a tag or entry that this cache held and removed (so the repository existed). */
    public void capacityMiss(Surface surface, LookupKind kind, String repository) {
        if (!enabled) {
            return;
        }
        NamespaceMeters ns = namespace(repository);
        if (ns != null) {
            known(capacityMisses.get(surface).get(kind), surface, kind).increment();
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
        entryMisses.get(reasonLabel(reason)).increment();
        if ((reason == MissReason.NEW_STEP || reason == MissReason.INPUTS_CHANGED) && stepId != null
                && !stepId.isEmpty()) {
            rootCauses.count(namespace, stepId);
        }
    }

    static String reasonLabel(MissReason reason) {
        return switch (reason) {
            case NEW_STEP -> "new_step";
            case INPUTS_CHANGED -> "inputs_changed";
            case PARENT_CHANGED -> "cascade";
            case EVICTED -> "evicted";
            default -> "unknown";
        };
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
        if (!enabled || bytes <= 0) {
            return;
        }
        served.get(surface).increment(bytes);
        ns.windows.add(minute(), Windows.Field.SERVED_BYTES, bytes);
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
        if (!enabled || bytes <= 0) {
            return;
        }
        received.get(surface).increment(bytes);
        ns.windows.add(minute(), Windows.Field.RECEIVED_BYTES, bytes);
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
        if (!enabled || bytes <= 0) {
            return;
        }
        known(saved.get(surface).get(reason), surface, reason).increment(bytes);
        ns.windows.add(minute(), Windows.Field.SAVED_BYTES, bytes);
    }

    public void upload(Surface surface, UploadOutcome outcome) {
        if (enabled) {
            uploads.get(surface).get(outcome).increment();
        }
    }

    /** One request's latency; {@code status} is the HTTP status or the gRPC code name. */
    public void request(Surface surface, String operation, String status, long nanos) {
        if (!enabled) {
            return;
        }
        ConcurrentMap<String, DistributionDataPoint> byStatus = timers.get(surface).get(operation);
        if (byStatus == null) {
            byStatus = timers.get(surface).computeIfAbsent(operation, o -> new ConcurrentHashMap<>());
        }
        DistributionDataPoint point = byStatus.get(status);
        if (point == null) {
            point = byStatus.computeIfAbsent(status, st -> latency.labelValues(surface.label(), operation, st));
        }
        point.observe(nanos / 1e9);
    }

    /** Blobs the scrubber found rotten (quarantined) or without a file. */
    public void scrubFound(int corrupt, int missing) {
        if (!enabled) {
            return;
        }
        Counter.builder("layercache.scrub.corrupt.blobs").description("Blobs whose bytes no longer matched their digest")
                .register(registry).increment(corrupt);
        Counter.builder("layercache.scrub.missing.blobs").description("Blobs whose file was gone")
                .register(registry).increment(missing);
    }

    /** Bucket requests by operation and outcome, a counter and a timer each, made on first use. */
    private final java.util.concurrent.ConcurrentMap<String, BucketMeters> bucketRequests =
            new java.util.concurrent.ConcurrentHashMap<>();

    private record BucketMeters(Counter requests, io.micrometer.core.instrument.Timer latency) {
    }

    /**
     * Histogram buckets of bucket request latency: S3 answers small requests in milliseconds to
     * tens of them, and its deadline for those is 10 s; file transfers take minutes.
     */
    private static final Duration[] BUCKET_LATENCY_BUCKETS = java.util.stream.DoubleStream.of(
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
            .mapToObj(s -> Duration.ofNanos((long) (s * 1e9))).toArray(Duration[]::new);

    /**
     * One request to the cluster's shared bucket ({@code operation}: put, get, head, list, ...;
     * {@code outcome}: ok, absent, error) and how long it took: object-store requests cost money,
     * so they are counted, and every node request waits on some, so they are timed.
     */
    public void bucketRequest(String operation, String outcome, long nanos) {
        if (!enabled) {
            return;
        }
        BucketMeters meters = bucketRequests.computeIfAbsent(operation + '\0' + outcome, k -> new BucketMeters(
                Counter.builder("layercache.bucket.requests").description("Requests to the cluster's shared bucket")
                        .tag("operation", operation).tag("outcome", outcome).register(registry),
                io.micrometer.core.instrument.Timer.builder("layercache.bucket.request.duration")
                        .description("Latency of requests to the cluster's shared bucket, retries included")
                        .tag("operation", operation).tag("outcome", outcome)
                        .serviceLevelObjectives(BUCKET_LATENCY_BUCKETS).register(registry)));
        meters.requests().increment();
        meters.latency().record(nanos, TimeUnit.NANOSECONDS);
    }

    /** A root removed to stay within the budget (the lifecycle's hook). */
    public void evicted(String kind, String repository, String reference, long bytes) {
        if (!enabled) {
            return;
        }
        evictions.computeIfAbsent(kind, this::evictionCounter).increment();
        String label = namespaces.of(repository);
        recentEvictions.add(new RecentEvictions.Eviction(clock.instant(), label == null ? Namespaces.OTHER : label,
                repository, kind, reference, bytes));
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

    /**
     * A snapshot for the stats API as {@code view}'s reader may see it: the namespaces, root
     * causes and evictions of what it may read. The windows, history, entry misses and store stay
     * the whole node's (README, "Who sees which namespaces").
     */
    public StatsSnapshot snapshot(MetricsView view) {
        long minute = minute();
        // Every count belongs to a namespace (capped ones to "other"), so the whole node is the
        // sum of its namespaces: counting once per request, not once for the node and once more.
        List<NamespaceMeters> all = List.copyOf(byNamespace.values());
        long[] five = new long[Windows.Field.values().length];
        long[] hour = new long[five.length];
        long[] day = new long[five.length];
        List<StatsSnapshot.NamespaceStats> perNamespace = new java.util.ArrayList<>();
        for (NamespaceMeters ns : all) {
            long[] nsFive = ns.windows.lastMinutes(minute, 5);
            long[] nsHour = ns.windows.lastMinutes(minute, 60);
            long[] nsDay = ns.windows.lastDay(minute);
            addInto(five, nsFive);
            addInto(hour, nsHour);
            addInto(day, nsDay);
            if (view.label(ns.label)) {
                perNamespace.add(new StatsSnapshot.NamespaceStats(ns.label, windows(nsFive, nsHour, nsDay)));
            }
        }
        perNamespace.sort((a, b) -> {
            int byLookups = Long.compare(b.windows().get("24h").lookups(), a.windows().get("24h").lookups());
            return byLookups != 0 ? byLookups : a.namespace().compareTo(b.namespace());
        });
        List<StatsSnapshot.Minute> history = new java.util.ArrayList<>();
        for (long m = minute - Windows.MINUTES + 1; m <= minute; m++) {
            long[] c = new long[five.length];
            for (NamespaceMeters ns : all) {
                addInto(c, ns.windows.minute(m));
            }
            history.add(new StatsSnapshot.Minute(Instant.ofEpochSecond(m * 60),
                    c[Windows.Field.HITS.ordinal()], c[Windows.Field.MISSES.ordinal()]));
        }
        Map<String, Long> misses = new java.util.LinkedHashMap<>();
        for (String reason : List.of("new_step", "inputs_changed", "cascade", "evicted", "unknown")) {
            Counter c = entryMisses.get(reason);
            misses.put(reason, c == null ? 0 : (long) c.count());
        }
        return new StatsSnapshot(clock.instant(), Duration.between(started, clock.instant()).toSeconds(),
                windows(five, hour, day), perNamespace, history, misses, rootCauses.top(20, view::repository), store,
                budgetBytes, recentEvictions.list(view::repository));
    }

    private static void addInto(long[] total, long[] more) {
        for (int i = 0; i < total.length; i++) {
            total[i] += more[i];
        }
    }

    private static Map<String, StatsSnapshot.Window> windows(long[] five, long[] hour, long[] day) {
        Map<String, StatsSnapshot.Window> out = new java.util.LinkedHashMap<>();
        out.put("5m", StatsSnapshot.Window.of(five));
        out.put("1h", StatsSnapshot.Window.of(hour));
        out.put("24h", StatsSnapshot.Window.of(day));
        return out;
    }


    /** A meter of a label combination the surface does not have is a bug in the caller. */
    private static <M> M known(M meter, Surface surface, Enum<?> label) {
        if (meter == null) {
            throw new IllegalArgumentException("the " + surface.label() + " surface has no " + label);
        }
        return meter;
    }

    /**
     * The namespace of {@code repository}, which exists or which an authorised write is creating:
     * a hit, a push, a mount. It takes a free slot of {@code metrics-max-namespaces}. Null when
     * {@code repository} is not a valid repository name: count nothing about it then.
     */
    public NamespaceMeters namespace(String repository) {
        return meters(namespaces.of(repository));
    }

    /**
     * The namespace of {@code repository} for a lookup that missed, or a write that failed: the
     * repository may not exist, so only a namespace that has a label or holds repositories is
     * named; the rest count under {@code other}. Null when the name is not valid.
     */
    public NamespaceMeters missedNamespace(String repository) {
        return meters(namespaces.ofMiss(repository));
    }

    private NamespaceMeters meters(String label) {
        if (label == null) {
            return null;
        }
        NamespaceMeters ns = byNamespace.get(label);
        return ns != null ? ns : byNamespace.computeIfAbsent(label, NamespaceMeters::new);
    }

    private long minute() {
        return Math.floorDiv(clock.millis(), 60_000L);
    }

    @Override
    public void close() {
        if (censusThread != null) {
            censusThread.shutdownNow();
            // A count in progress reads the metadata store, which closes next: let it finish.
            try {
                censusThread.awaitTermination(30, java.util.concurrent.TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        registry.close();
    }
}
