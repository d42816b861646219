package dev.layercache.server.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * What is counted about one namespace label: its lookup and existence-check counters (made on
 * first use, since most namespaces see few of the combinations) and its sliding windows. A
 * request that reports several things about one repository resolves this once
 * ({@link CacheMetrics#namespace}).
 */
public final class NamespaceMeters {
    final Windows windows = new Windows();
    final String label;
    private final MeterRegistry registry;
    /** By surface, kind and result: {@code (surface * kinds + kind) * 2 + hit}. */
    private final AtomicReferenceArray<Counter> lookups =
            new AtomicReferenceArray<>(Surface.values().length * LookupKind.values().length * 2);
    /** Existence checks by surface and result: {@code surface * 2 + hit}. */
    private final AtomicReferenceArray<Counter> existenceChecks = new AtomicReferenceArray<>(Surface.values().length * 2);

    NamespaceMeters(String label, MeterRegistry registry) {
        this.label = label;
        this.registry = registry;
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

    Counter existenceCheck(Surface surface, boolean hit) {
        int i = surface.ordinal() * 2 + (hit ? 1 : 0);
        Counter c = existenceChecks.get(i);
        if (c == null) {
            c = Counter.builder("layercache.namespace.existence.checks")
                    .description("Existence checks per namespace (first path components of the repository)")
                    .tag("namespace", label).tag("surface", surface.label())
                    .tag("result", hit ? "hit" : "miss").register(registry);
            existenceChecks.set(i, c);
        }
        return c;
    }
}
