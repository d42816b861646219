package dev.layercache.loadtest;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Many small fresh blobs pushed by a few concurrent clients, as a build's many small layers are:
 * each client takes the next blob, asks {@code HEAD} first as real clients do (optional), then
 * {@code POST} and one {@code PUT ?digest=} with the body. Reports the wall time and blobs per
 * second, then checks that every acknowledged blob answers {@code HEAD} with its length:
 * acknowledged must mean durable.
 *
 * <p>The warm-up pushes batches of a quarter of a round for {@code --small-blob-warmup} seconds
 * (at least one batch). A round of 1,000 blobs lasts well under a second: after a single
 * quarter-round, or 3 s of pushing, C2 still took 38% of layercache's samples during the rounds,
 * so they measured the JIT compiling the upload path rather than the server (BENCHMARKS.md,
 * issue 24). A server that runs for days has long finished compiling.
 */
final class SmallBlobsWorkload implements Workload {
    private final int count;
    private final int size;
    private final int clients;
    private final boolean headFirst;
    private final String repository;
    private final int warmUpSeconds;
    private final Map<String, List<String>> pushed = new ConcurrentHashMap<>();

    SmallBlobsWorkload(int count, int size, int clients, boolean headFirst, String repository, int warmUpSeconds) {
        this.count = count;
        this.warmUpSeconds = warmUpSeconds;
        this.size = size;
        this.clients = clients;
        this.headFirst = headFirst;
        this.repository = repository;
    }

    @Override
    public String name() {
        return "small-blobs";
    }

    @Override
    public String description() {
        return count + " fresh blobs of " + size + " bytes from " + clients + " concurrent clients ("
                + (headFirst ? "HEAD, " : "") + "POST, PUT each), then HEAD of every one";
    }

    @Override
    public String primary() {
        return "blobs_per_s";
    }

    @Override
    public boolean appliesTo(HttpBenchmark.Target target) {
        return !target.isStatic();
    }

    /** The digests acknowledged by {@code target} in its last run. */
    List<String> pushed(String target) {
        return pushed.getOrDefault(target, List.of());
    }

    @Override
    public Map<String, Object> run(HttpBenchmark.Target target, boolean warmUp) throws Exception {
        if (!warmUp) {
            return push(target, count);
        }
        long until = System.nanoTime() + warmUpSeconds * 1_000_000_000L;
        Map<String, Object> figures;
        do {
            figures = push(target, Math.max(1, count / 4));
        } while (System.nanoTime() < until);
        return figures;
    }

    private Map<String, Object> push(HttpBenchmark.Target target, int n) throws Exception {
        byte[][] blobs = new byte[n][];
        String[] digests = new String[n];
        for (int i = 0; i < n; i++) {
            blobs[i] = RandomContent.bytes(size);
            digests[i] = RandomContent.digestOf(blobs[i]);
        }
        boolean[] acknowledged = new boolean[n];
        AtomicInteger next = new AtomicInteger();
        AtomicLong failed = new AtomicLong();
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        try {
            double cpu = ServerCpu.seconds(target.pid());
            long t0 = System.nanoTime();
            List<Future<?>> done = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                done.add(pool.submit(() -> {
                    HttpConnection conn = null;
                    for (int i = next.getAndIncrement(); i < n; i = next.getAndIncrement()) {
                        try {
                            if (conn == null || !conn.isOpen()) {
                                conn = new HttpConnection(target.base());
                            }
                            if (headFirst) {
                                conn.send("HEAD", Oci.blobPath(repository, digests[i]), Map.of(),
                                        HttpConnection.Body.DISCARD);
                            }
                            Oci.pushBlob(conn, repository, blobs[i], digests[i]);
                            acknowledged[i] = true;
                        } catch (IOException e) {
                            failed.incrementAndGet();
                        }
                    }
                    if (conn != null) {
                        conn.close();
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(10, TimeUnit.MINUTES);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            Map<String, Object> figures = new LinkedHashMap<>();
            figures.put("blobs_per_s", n / seconds);
            figures.put("seconds", seconds);
            Workload.serverCpu(figures, "server_cpu_us_per_blob", target, cpu, n / 1e6);
            List<String> ok = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                if (acknowledged[i]) {
                    ok.add(digests[i]);
                }
            }
            figures.put("blobs", n);
            figures.put("acknowledged", ok.size());
            figures.put("failed", failed.get());
            figures.put("verified", verify(target, ok, pool));
            pushed.put(target.name(), List.copyOf(ok));
            return figures;
        } finally {
            pool.shutdownNow();
        }
    }

    /** How many of {@code digests} answer HEAD with 200 and the right length, asked by the same clients. */
    private long verify(HttpBenchmark.Target target, List<String> digests, ExecutorService pool) throws Exception {
        AtomicInteger next = new AtomicInteger();
        AtomicLong verified = new AtomicLong();
        List<Future<?>> done = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            done.add(pool.submit(() -> {
                HttpConnection conn = null;
                for (int i = next.getAndIncrement(); i < digests.size(); i = next.getAndIncrement()) {
                    try {
                        if (conn == null || !conn.isOpen()) {
                            conn = new HttpConnection(target.base());
                        }
                        HttpConnection.Response r = conn.send("HEAD", Oci.blobPath(repository, digests.get(i)),
                                Map.of(), HttpConnection.Body.DISCARD);
                        if (r.status() == 200 && r.bodyLength() == size) {
                            verified.incrementAndGet();
                        }
                    } catch (IOException e) {
                        // not verified
                    }
                }
                if (conn != null) {
                    conn.close();
                }
                return null;
            }));
        }
        for (Future<?> f : done) {
            f.get(10, TimeUnit.MINUTES);
        }
        return verified.get();
    }
}
