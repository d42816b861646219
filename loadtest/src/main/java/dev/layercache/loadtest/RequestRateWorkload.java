package dev.layercache.loadtest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;

/**
 * Small requests per second with latency percentiles: {@code concurrency} keep-alive connections,
 * each a thread sending one request after the other for a fixed time. A response other than 200
 * counts as failed, not as done.
 */
final class RequestRateWorkload implements Workload {
    private final String name;
    private final String method;
    private final String path;
    private final boolean forStatic;
    private final int concurrency;
    private final int seconds;
    private final int warmUpSeconds;

    RequestRateWorkload(String name, String method, String path, boolean forStatic,
                        int concurrency, int seconds, int warmUpSeconds) {
        this.name = name;
        this.method = method;
        this.path = path;
        this.forStatic = forStatic;
        this.concurrency = concurrency;
        this.seconds = seconds;
        this.warmUpSeconds = warmUpSeconds;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String description() {
        return method + " " + path + ", " + concurrency
                + " connections, " + seconds + " s per round";
    }

    @Override
    public String primary() {
        return "requests_per_s";
    }

    @Override
    public boolean appliesTo(HttpBenchmark.Target target) {
        return target.isStatic() == forStatic;
    }

    @Override
    public void prepare(HttpBenchmark.Target target) throws Exception {
        // A wrong path answers 404 fast: refuse to measure that.
        try (HttpConnection c = new HttpConnection(target.base())) {
            HttpConnection.Response r = c.send(method, path, headers(), HttpConnection.Body.KEEP);
            Oci.expect(r, 200, method + " " + path + " on " + target.name());
        }
    }

    private static Map<String, String> headers() {
        return Map.of("Accept", Oci.MANIFEST_TYPE);
    }

    @Override
    public Map<String, Object> run(HttpBenchmark.Target target, boolean warmUp) throws Exception {
        int duration = warmUp ? warmUpSeconds : seconds;
        if (duration <= 0) {
            return Map.of();
        }
                Histogram micros = new ConcurrentHistogram(3);
        AtomicLong done = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        CountDownLatch finished = new CountDownLatch(concurrency);
        double cpuBefore = ServerCpu.seconds(target.pid());
        long start = System.nanoTime();
        long end = start + TimeUnit.SECONDS.toNanos(duration);
        for (int i = 0; i < concurrency; i++) {
            Thread worker = new Thread(() -> {
                try {
                    connection(target, end, micros, done, failed);
                } finally {
                    finished.countDown();
                }
            }, name + "-" + i);
            worker.setDaemon(true);
            worker.start();
        }
        if (!finished.await(duration + HttpConnection.STALL_NANOS / 1_000_000_000L + 10, TimeUnit.SECONDS)) {
            throw new IllegalStateException(name + " on " + target.name() + ": connections did not finish");
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        Map<String, Object> figures = new LinkedHashMap<>();
        figures.put("requests_per_s", done.get() / elapsed);
        figures.put("requests", done.get());
        figures.put("failed", failed.get());
        figures.put("p50_ms", micros.getValueAtPercentile(50) / 1000.0);
        figures.put("p99_ms", micros.getValueAtPercentile(99) / 1000.0);
        figures.put("p99.9_ms", micros.getValueAtPercentile(99.9) / 1000.0);
        figures.put("max_ms", micros.getMaxValue() / 1000.0);
        Workload.serverCpu(figures, "server_cpu_us_per_request", target, cpuBefore, done.get() / 1e6);
        return figures;
    }

    /** One connection sending the request until {@code end}, opening a new one after errors or a close. */
    private void connection(HttpBenchmark.Target target, long end, Histogram micros, AtomicLong done,
                            AtomicLong failed) {
        byte[] request = (method + " " + path + " HTTP/1.1\r\nHost: " + target.base().getAuthority()
                + "\r\nAccept: " + Oci.MANIFEST_TYPE + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        boolean head = method.equals("HEAD");
        while (System.nanoTime() < end) {
            try (HttpConnection c = new HttpConnection(target.base())) {
                while (c.isOpen() && System.nanoTime() < end) {
                    long t0 = System.nanoTime();
                    int status = c.sendPrepared(request, head);
                    micros.recordValue(Math.max(1, (System.nanoTime() - t0) / 1000));
                    if (status == 200) {
                        done.incrementAndGet();
                    } else {
                        failed.incrementAndGet();
                    }
                }
            } catch (IOException e) {
                failed.incrementAndGet();
            }
        }
    }
}
