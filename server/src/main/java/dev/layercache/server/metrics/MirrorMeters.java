package dev.layercache.server.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.DoubleStream;

/**
 * What is counted about the pull-through mirror (docs/mirror.md, "Seen"): its lookups
 * ({@code layercache_lookups_total{surface="mirror"}}), the bytes it served, the copies it served
 * stale, and its requests to each upstream, with sliding windows per upstream for the stats API.
 *
 * <p>Made only on a node that mirrors something, for the upstreams of its configuration: the
 * {@code upstream} label takes those names and no other (a report naming another is a bug in the
 * caller, {@link IllegalArgumentException}). The mirror's windows are its own, never a
 * namespace's: the namespaces' windows add up to the build cache's headline hit rate, which the
 * mirror's lookups must not move (docs/metrics.md, "What counts as a lookup").
 */
final class MirrorMeters {
    /** What the windows of an upstream count. */
    enum Field {
        HITS, MISSES, STALE, SERVED_BYTES, UPSTREAM_REQUESTS, UPSTREAM_ERRORS
    }

    /** The mirror's lookup kinds: what a puller asks an OCI registry. */
    static final List<LookupKind> KINDS = List.of(LookupKind.TAG, LookupKind.MANIFEST, LookupKind.BLOB);
    /** The outcome of an upstream request that got what it asked. */
    static final String OK = "ok";
    /** An upstream's 404: an answer, not an error (as the bucket's {@code absent}). */
    static final String NOT_FOUND = "not_found";

    /**
     * Histogram buckets of upstream request latency: a manifest from a registry nearby in
     * milliseconds, one from Docker Hub in a few hundred; a blob's time is its whole body's, up to
     * minutes for a large layer.
     */
    private static final Duration[] LATENCY_BUCKETS = DoubleStream.of(
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
            .mapToObj(s -> Duration.ofNanos((long) (s * 1e9))).toArray(Duration[]::new);

    private record Pair(Counter requests, Timer latency) {
    }

    /** One upstream's meters and windows. */
    private static final class PerUpstream {
        final Windows windows = new Windows(Field.values().length);
        final Counter stale;
        final ConcurrentMap<String, Pair> requests = new ConcurrentHashMap<>();

        PerUpstream(Counter stale) {
            this.stale = stale;
        }
    }

    private final MeterRegistry registry;
    /** By kind: {miss, hit}. */
    private final Map<LookupKind, Counter[]> lookups = new EnumMap<>(LookupKind.class);
    private final Counter served;
    private final Map<String, PerUpstream> upstreams;

    /** Registers the mirror's counters in {@code registry}, for these upstreams (in configuration order). */
    MirrorMeters(MeterRegistry registry, List<String> upstreamNames) {
        this.registry = registry;
        for (LookupKind k : KINDS) {
            lookups.put(k, new Counter[] {lookupCounter(k, "miss"), lookupCounter(k, "hit")});
        }
        served = Counter.builder("layercache.served.bytes").description("Body bytes sent")
                .tag("surface", Surface.MIRROR.label()).register(registry);
        Map<String, PerUpstream> byName = new LinkedHashMap<>();
        for (String name : upstreamNames) {
            byName.put(name, new PerUpstream(Counter.builder("layercache.mirror.stale")
                    .description("Copies the mirror served although their upstream could not be asked")
                    .tag("upstream", name).register(registry)));
        }
        this.upstreams = byName;
    }

    /** The upstreams' names, in configuration order. */
    List<String> upstreams() {
        return List.copyOf(upstreams.keySet());
    }

    private Counter lookupCounter(LookupKind k, String result) {
        return Counter.builder("layercache.lookups").description("Cache lookups (docs/metrics.md: what counts as a lookup)")
                .tag("surface", Surface.MIRROR.label()).tag("kind", k.label()).tag("result", result).register(registry);
    }

    /** The node-wide counter of a mirror lookup, for the namespace's to go with it. */
    void lookup(String upstream, LookupKind kind, boolean hit, long minute) {
        Counter[] byResult = lookups.get(kind);
        if (byResult == null) {
            throw new IllegalArgumentException("the mirror has no " + kind + " lookups");
        }
        PerUpstream u = upstream(upstream);
        byResult[hit ? 1 : 0].increment();
        u.windows.add(minute, (hit ? Field.HITS : Field.MISSES).ordinal(), 1);
    }

    void stale(String upstream, long minute) {
        PerUpstream u = upstream(upstream);
        u.stale.increment();
        u.windows.add(minute, Field.STALE.ordinal(), 1);
    }

    void served(String upstream, long bytes, long minute) {
        PerUpstream u = upstream(upstream);
        served.increment(bytes);
        u.windows.add(minute, Field.SERVED_BYTES.ordinal(), bytes);
    }

    /**
     * One request to an upstream ({@code operation}: head_manifest, get_manifest, get_blob;
     * {@code outcome}: ok or the failure's kind). Made on first use: operations times outcomes
     * is a small, bounded set.
     */
    void request(String upstream, String operation, String outcome, long nanos, long minute) {
        PerUpstream u = upstream(upstream);
        Pair meters = u.requests.get(operation + '\0' + outcome);
        if (meters == null) {
            meters = u.requests.computeIfAbsent(operation + '\0' + outcome, k -> new Pair(
                    Counter.builder("layercache.upstream.requests").description("Requests of the mirror to upstream registries")
                            .tag("upstream", upstream).tag("operation", operation).tag("outcome", outcome)
                            .register(registry),
                    Timer.builder("layercache.upstream.request.duration")
                            .description("Latency of the mirror's requests to upstream registries (a blob's: its whole body)")
                            .tag("upstream", upstream).tag("operation", operation).tag("outcome", outcome)
                            .serviceLevelObjectives(LATENCY_BUCKETS).register(registry)));
        }
        meters.requests().increment();
        meters.latency().record(nanos, TimeUnit.NANOSECONDS);
        u.windows.add(minute, Field.UPSTREAM_REQUESTS.ordinal(), 1);
        if (!outcome.equals(OK) && !outcome.equals(NOT_FOUND)) {
            u.windows.add(minute, Field.UPSTREAM_ERRORS.ordinal(), 1);
        }
    }

    /** The stats API's {@code mirror} section: the whole mirror's windows and each upstream's. */
    StatsSnapshot.Mirror snapshot(long minute) {
        long[] five = new long[Field.values().length];
        long[] hour = new long[five.length];
        long[] day = new long[five.length];
        List<StatsSnapshot.UpstreamStats> each = new ArrayList<>();
        upstreams.forEach((name, u) -> {
            long[] uFive = u.windows.lastMinutes(minute, 5);
            long[] uHour = u.windows.lastMinutes(minute, 60);
            long[] uDay = u.windows.lastDay(minute);
            addInto(five, uFive);
            addInto(hour, uHour);
            addInto(day, uDay);
            each.add(new StatsSnapshot.UpstreamStats(name, windows(uFive, uHour, uDay)));
        });
        return new StatsSnapshot.Mirror(windows(five, hour, day), each);
    }

    private static Map<String, StatsSnapshot.MirrorWindow> windows(long[] five, long[] hour, long[] day) {
        Map<String, StatsSnapshot.MirrorWindow> out = new LinkedHashMap<>();
        out.put("5m", StatsSnapshot.MirrorWindow.of(five));
        out.put("1h", StatsSnapshot.MirrorWindow.of(hour));
        out.put("24h", StatsSnapshot.MirrorWindow.of(day));
        return out;
    }

    private static void addInto(long[] total, long[] more) {
        for (int i = 0; i < total.length; i++) {
            total[i] += more[i];
        }
    }

    private PerUpstream upstream(String name) {
        PerUpstream u = upstreams.get(name);
        if (u == null) {
            throw new IllegalArgumentException("no mirrored upstream is named " + name);
        }
        return u;
    }
}
