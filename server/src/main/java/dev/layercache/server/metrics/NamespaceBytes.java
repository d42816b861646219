package dev.layercache.server.metrics;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code layercache_namespace_store_bytes{namespace}}: one gauge per namespace label, registered
 * once and updated in place. Not a {@code MultiGauge} with overwrite, which (before Micrometer
 * changed it) removed and registered every row again on each update: a scrape at that moment
 * could miss a row or see it twice (micrometer#6851).
 */
final class NamespaceBytes {
    private static final String NAME = "layercache.namespace.store.bytes";

    private final MeterRegistry registry;
    /** The values, held strongly here (a gauge holds its object weakly). */
    private final Map<String, AtomicLong> values = new ConcurrentHashMap<>();
    private final Map<String, Gauge> gauges = new ConcurrentHashMap<>();

    NamespaceBytes(MeterRegistry registry) {
        this.registry = registry;
    }

    /** Sets each label's bytes; labels no longer counted drop their series. */
    synchronized void update(Map<String, Long> bytesByLabel) {
        bytesByLabel.forEach((label, bytes) -> values.computeIfAbsent(label, l -> {
            AtomicLong value = new AtomicLong();
            gauges.put(l, Gauge.builder(NAME, value, AtomicLong::get)
                    .description("Bytes of the distinct blobs each namespace's roots reach (a blob shared by"
                            + " namespaces counts in each)")
                    .tag("namespace", l).register(registry));
            return value;
        }).set(bytes));
        for (String gone : values.keySet().stream().filter(l -> !bytesByLabel.containsKey(l)).toList()) {
            values.remove(gone);
            registry.remove(gauges.remove(gone));
        }
    }
}
