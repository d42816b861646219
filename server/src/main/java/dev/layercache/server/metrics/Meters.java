package dev.layercache.server.metrics;

import dev.layercache.api.v1.MissReason;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The node's counters of the build cache's two surfaces ({@link #BUILD_CACHE}), built once per
 * label combination when the node starts and kept in maps, so that a request increments a
 * prebuilt counter and never looks one up in the registry. The label combinations each surface
 * has are listed here, and a meter asked for a combination its surface lacks is a bug in the
 * caller ({@link IllegalArgumentException}).
 *
 * <p>What names a namespace is in {@link NamespaceMeters}; latencies in {@link RequestLatency};
 * the store's gauges in {@link StoreWatch}; requests to the bucket in {@link BucketMeters}; the
 * mirror's lookups and bytes ({@link Surface#MIRROR}) in {@link MirrorMeters}, made only on a node
 * that mirrors something, so that no other node shows series of a surface it does not have.
 */
final class Meters {
    /**
     * The lookups each surface has (docs/metrics.md, "What counts as a lookup"). gRPC has no blob
     * lookup: its one blob question, FindMissingBlobs, is a pusher's existence check.
     */
    /** The surfaces counted here: the build cache's. */
    static final List<Surface> BUILD_CACHE = List.of(Surface.OCI, Surface.GRPC);
    static final Map<Surface, List<LookupKind>> LOOKUP_KINDS = Map.of(
            Surface.OCI, List.of(LookupKind.TAG, LookupKind.MANIFEST, LookupKind.BLOB),
            Surface.GRPC, List.of(LookupKind.ENTRY));
    /** The ways each surface saves a client an upload. */
    static final Map<Surface, List<SavedReason>> SAVED_REASONS = Map.of(
            Surface.OCI, List.of(SavedReason.HEAD_HIT, SavedReason.MOUNT),
            Surface.GRPC, List.of(SavedReason.FIND_MISSING, SavedReason.ALREADY_PRESENT));
    /** The {@code reason} labels of entry misses, in the order the stats API lists them. */
    static final List<String> ENTRY_MISS_REASONS = List.of("new_step", "inputs_changed", "cascade", "evicted",
            "unknown");

    private final PrometheusMeterRegistry registry;
    private final Map<Surface, Map<LookupKind, Counter[]>> lookups = new EnumMap<>(Surface.class);
    private final Map<Surface, Map<LookupKind, Counter>> capacityMisses = new EnumMap<>(Surface.class);
    /** By surface: {miss, hit}. */
    private final Map<Surface, Counter[]> existenceChecks = new EnumMap<>(Surface.class);
    private final Map<Surface, Counter> served = new EnumMap<>(Surface.class);
    private final Map<Surface, Counter> received = new EnumMap<>(Surface.class);
    private final Map<Surface, Map<SavedReason, Counter>> saved = new EnumMap<>(Surface.class);
    private final Map<Surface, Map<UploadOutcome, Counter>> uploads = new EnumMap<>(Surface.class);
    private final Map<String, Counter> entryMisses = new ConcurrentHashMap<>();
    private final Map<String, Counter> evictions = new ConcurrentHashMap<>();

    /** Registers every counter in {@code registry}, with the JVM's and the process's meters. */
    Meters(PrometheusMeterRegistry registry) {
        this.registry = registry;
        for (Surface s : BUILD_CACHE) {
            Map<LookupKind, Counter[]> byKind = new EnumMap<>(LookupKind.class);
            for (LookupKind k : LOOKUP_KINDS.get(s)) {
                byKind.put(k, new Counter[] {lookupCounter(s, k, "miss"), lookupCounter(s, k, "hit")});
            }
            lookups.put(s, byKind);
            existenceChecks.put(s, new Counter[] {existenceCheckCounter(s, "miss"), existenceCheckCounter(s, "hit")});
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
        for (String reason : ENTRY_MISS_REASONS) {
            entryMisses.put(reason, Counter.builder("layercache.entry.misses")
                    .description("Why GetEntry missed").tag("reason", reason).register(registry));
        }
        for (String kind : List.of("tag", "manifest", "entry")) {
            evictions.put(kind, evictionCounter(kind));
        }
        scrubFound(0, 0); // both counters exist from the start
    }

    /** Binds the JVM's and the process's meters (memory, GC, threads, CPU, uptime, files). */
    void bindJvm() {
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
        return Counter.builder("layercache.lookups").description("Cache lookups (docs/metrics.md: what counts as a lookup)")
                .tag("surface", s.label()).tag("kind", k.label()).tag("result", result).register(registry);
    }

    void lookup(Surface surface, LookupKind kind, boolean hit) {
        known(known(lookups.get(surface), surface, "lookup").get(kind), surface, kind)[hit ? 1 : 0].increment();
    }

    private Counter existenceCheckCounter(Surface s, String result) {
        return Counter.builder("layercache.existence.checks")
                .description("Pushers' blob existence checks, not lookups (docs/metrics.md: what counts as a lookup)")
                .tag("surface", s.label()).tag("result", result).register(registry);
    }

    void existenceCheck(Surface surface, boolean hit) {
        known(existenceChecks.get(surface), surface, "existence check")[hit ? 1 : 0].increment();
    }

    void capacityMiss(Surface surface, LookupKind kind) {
        known(known(capacityMisses.get(surface), surface, "capacity miss").get(kind), surface, kind).increment();
    }

    void entryMiss(MissReason reason) {
        entryMisses.get(reasonLabel(reason)).increment();
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

    /** How often each reason was counted, by label in {@link #ENTRY_MISS_REASONS} order (zeros when not counting). */
    Map<String, Long> entryMissCounts() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (String reason : ENTRY_MISS_REASONS) {
            Counter c = entryMisses.get(reason);
            out.put(reason, c == null ? 0 : (long) c.count());
        }
        return out;
    }

    /** What {@link #entryMissCounts} shows when nothing counts: zeros. */
    static Map<String, Long> noEntryMisses() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (String reason : ENTRY_MISS_REASONS) {
            out.put(reason, 0L);
        }
        return out;
    }

    void served(Surface surface, long bytes) {
        known(served.get(surface), surface, "served bytes").increment(bytes);
    }

    void received(Surface surface, long bytes) {
        known(received.get(surface), surface, "received bytes").increment(bytes);
    }

    void saved(Surface surface, SavedReason reason, long bytes) {
        known(known(saved.get(surface), surface, "saved bytes").get(reason), surface, reason).increment(bytes);
    }

    void upload(Surface surface, UploadOutcome outcome) {
        known(uploads.get(surface), surface, "upload").get(outcome).increment();
    }

    void evicted(String kind) {
        evictions.computeIfAbsent(kind, this::evictionCounter).increment();
    }

    void scrubFound(int corrupt, int missing) {
        Counter.builder("layercache.scrub.corrupt.blobs").description("Blobs whose bytes no longer matched their digest")
                .register(registry).increment(corrupt);
        Counter.builder("layercache.scrub.missing.blobs").description("Blobs whose file was gone")
                .register(registry).increment(missing);
    }

    /** A meter of a label combination the surface does not have is a bug in the caller. */
    private static <M> M known(M meter, Surface surface, Object label) {
        if (meter == null) {
            throw new IllegalArgumentException("the " + surface.label() + " surface has no " + label);
        }
        return meter;
    }
}
