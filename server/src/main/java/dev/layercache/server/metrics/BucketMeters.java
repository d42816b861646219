package dev.layercache.server.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.DoubleStream;

/**
 * Requests to the cluster's shared bucket by operation and outcome, a counter and a timer each,
 * made on first use: object-store requests cost money, so they are counted, and every node
 * request waits on some, so they are timed.
 */
final class BucketMeters {
    /**
     * Histogram buckets of bucket request latency: S3 answers small requests in milliseconds to
     * tens of them, and its deadline for those is 10 s; file transfers take minutes.
     */
    private static final Duration[] LATENCY_BUCKETS = DoubleStream.of(
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
            .mapToObj(s -> Duration.ofNanos((long) (s * 1e9))).toArray(Duration[]::new);

    private record Pair(Counter requests, Timer latency) {
    }

    private final MeterRegistry registry;
    private final ConcurrentMap<String, Pair> byOperationAndOutcome = new ConcurrentHashMap<>();

    BucketMeters(MeterRegistry registry) {
        this.registry = registry;
    }

    /** One request ({@code operation}: put, get, head, list, ...; {@code outcome}: ok, absent, error). */
    void request(String operation, String outcome, long nanos) {
        Pair meters = byOperationAndOutcome.computeIfAbsent(operation + '\0' + outcome, k -> new Pair(
                Counter.builder("layercache.bucket.requests").description("Requests to the cluster's shared bucket")
                        .tag("operation", operation).tag("outcome", outcome).register(registry),
                Timer.builder("layercache.bucket.request.duration")
                        .description("Latency of requests to the cluster's shared bucket, retries included")
                        .tag("operation", operation).tag("outcome", outcome)
                        .serviceLevelObjectives(LATENCY_BUCKETS).register(registry)));
        meters.requests().increment();
        meters.latency().record(nanos, TimeUnit.NANOSECONDS);
    }
}
