package dev.layercache.server.metrics;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Histogram;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * Request latency, the one meter of every request of both surfaces:
 * {@code layercache_request_duration_seconds} by surface, operation and status.
 *
 * <p>Made with the Prometheus client library under Micrometer's registry rather than a Micrometer
 * Timer: its buckets are striped adders, where the Timer's shared atomics (bucket array, running
 * max) cost every request a contended cache line between the event loops; measurably, on the
 * small-request benchmark.
 */
final class RequestLatency {
    /** Histogram buckets in seconds: from a cached HEAD to a large upload. */
    private static final double[] BUCKETS = {
        0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

    private final Histogram latency;
    /** Its data points by surface, operation and status: nested maps, so a lookup allocates nothing. */
    private final Map<Surface, ConcurrentMap<String, ConcurrentMap<String, DistributionDataPoint>>> points =
            new EnumMap<>(Surface.class);

    /** The histogram, shown in {@code registry}'s scrapes. */
    RequestLatency(PrometheusMeterRegistry registry) {
        for (Surface s : Surface.values()) {
            points.put(s, new ConcurrentHashMap<>());
        }
        this.latency = Histogram.builder().name("layercache_request_duration_seconds").help("Request latency")
                .labelNames("surface", "operation", "status").classicOnly().classicUpperBounds(BUCKETS)
                .withoutExemplars().build();
        registry.getPrometheusRegistry().register(latency);
    }

    /** One request's latency; {@code status} is the HTTP status or the gRPC code name. */
    void observe(Surface surface, String operation, String status, long nanos) {
        ConcurrentMap<String, DistributionDataPoint> byStatus = points.get(surface).get(operation);
        if (byStatus == null) {
            byStatus = points.get(surface).computeIfAbsent(operation, o -> new ConcurrentHashMap<>());
        }
        DistributionDataPoint point = byStatus.get(status);
        if (point == null) {
            point = byStatus.computeIfAbsent(status, st -> latency.labelValues(surface.label(), operation, st));
        }
        point.observe(nanos / 1e9);
    }
}
