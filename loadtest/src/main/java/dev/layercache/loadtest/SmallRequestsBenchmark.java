package dev.layercache.loadtest;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Small OCI requests per second, the requests a build cache answers most: {@code HEAD} of a blob
 * (every push asks it first) and {@code GET} of a manifest by tag (buildah asks one per build
 * step). Runs against one or more registries in interleaved rounds, so that a comparison (say,
 * one node with metrics and one without) sees the same noise on both sides.
 *
 * <p>Each connection is a thread with a blocking keep-alive socket and a minimal HTTP/1.1 reader:
 * the client costs little per request, so the server's cost shows.
 */
@Command(name = "http", mixinStandardHelpOptions = true,
        description = "OCI small requests/s (HEAD blob, GET manifest by tag) against one or more registries")
final class SmallRequestsBenchmark implements Callable<Integer> {
    @Option(names = "--target", required = true,
            description = "NAME=http://host:port of a registry; repeat to compare, the first is the baseline")
    List<String> targets;

    @Option(names = "--server-pid", split = ",",
            description = "process ids of the targets' servers, in --target order: adds server CPU per request")
    List<Long> serverPids;

    @Option(names = "--repository", defaultValue = "bench/small")
    String repository;

    @Option(names = "--concurrency", defaultValue = "32", description = "connections")
    int concurrency;

    @Option(names = "--duration", defaultValue = "8", description = "seconds per measurement")
    int seconds;

    @Option(names = "--warmup", defaultValue = "5", description = "seconds of each workload first, per target (JIT)")
    int warmup;

    @Option(names = "--rounds", defaultValue = "5", description = "interleaved rounds measured")
    int rounds;

    @Option(names = "--json", description = "write the results here as JSON")
    java.nio.file.Path json;

    private record Target(String name, URI base, Long pid) {
    }

    private record Workload(String name, String method, String path) {
    }

    @Override
    public Integer call() throws Exception {
        List<Target> parsed = new ArrayList<>();
        for (int i = 0; i < targets.size(); i++) {
            String[] nv = targets.get(i).split("=", 2);
            if (nv.length != 2) {
                throw new IllegalArgumentException("--target takes NAME=URL, not " + targets.get(i));
            }
            parsed.add(new Target(nv[0], URI.create(nv[1]), serverPids != null && i < serverPids.size()
                    ? serverPids.get(i) : null));
        }
        List<Workload> workloads = null;
        for (Target t : parsed) {
            workloads = prepare(t);
        }
        Report report = new Report("Small OCI requests, " + concurrency + " connections, " + seconds + " s each");
        for (Target t : parsed) {
            for (Workload w : workloads) {
                measure(t, w, warmup); // JIT warm-up, not reported
            }
        }
        Map<String, List<Double>> rates = new LinkedHashMap<>();
        Map<String, List<Double>> cpu = new LinkedHashMap<>();
        for (int round = 1; round <= rounds; round++) {
            // Alternate which target goes first, so neither always follows the other's load.
            List<Target> order = new ArrayList<>(parsed);
            if (round % 2 == 0) {
                java.util.Collections.reverse(order);
            }
            for (Workload w : workloads) {
                for (Target t : order) {
                    Result r = measure(t, w, seconds);
                    String key = w.name() + " @ " + t.name();
                    rates.computeIfAbsent(key, k -> new ArrayList<>()).add(r.perSecond);
                    Map<String, Object> row = report.row(key + ", round " + round);
                    row.put("requests_per_s", r.perSecond);
                    row.put("failed", r.failed);
                    Report.latencies(row, r.micros);
                    if (r.serverCpuMicros >= 0) {
                        row.put("server_cpu_us_per_request", r.serverCpuMicros);
                        cpu.computeIfAbsent(key, k -> new ArrayList<>()).add(r.serverCpuMicros);
                    }
                    System.err.printf(Locale.ROOT, "round %d %-28s %9.0f req/s%n", round, key, r.perSecond);
                }
            }
        }
        for (Workload w : workloads) {
            double baseline = Double.NaN;
            for (Target t : parsed) {
                String key = w.name() + " @ " + t.name();
                List<Double> r = rates.get(key);
                Map<String, Object> row = report.row(key + ", median of " + rounds);
                double median = GrpcBenchmark.median(r);
                row.put("requests_per_s", median);
                row.put("requests_per_s_min", r.stream().min(Double::compare).orElseThrow());
                row.put("requests_per_s_max", r.stream().max(Double::compare).orElseThrow());
                if (cpu.containsKey(key)) {
                    row.put("server_cpu_us_per_request", GrpcBenchmark.median(cpu.get(key)));
                }
                if (Double.isNaN(baseline)) {
                    baseline = median;
                } else {
                    row.put("ratio_to_" + parsed.get(0).name(), median / baseline);
                }
            }
        }
        System.out.println(report.markdown());
        report.write(json);
        return 0;
    }

    /** Pushes a small blob and a manifest tagged {@code small} (idempotent); returns the workloads. */
    private List<Workload> prepare(Target t) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        byte[] config = "{\"architecture\":\"amd64\",\"os\":\"linux\"}".getBytes(StandardCharsets.UTF_8);
        String digest = "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(config));
        String base = t.base() + "/v2/" + repository;
        check(http.send(HttpRequest.newBuilder(URI.create(base + "/blobs/uploads/?digest=" + digest))
                .POST(HttpRequest.BodyPublishers.ofByteArray(config)).build(), HttpResponse.BodyHandlers.discarding()),
                201, "push a blob to " + t.name());
        String manifest = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + digest
                + "\",\"size\":" + config.length + "},\"layers\":[]}";
        check(http.send(HttpRequest.newBuilder(URI.create(base + "/manifests/small"))
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .PUT(HttpRequest.BodyPublishers.ofString(manifest)).build(), HttpResponse.BodyHandlers.discarding()),
                201, "push a manifest to " + t.name());
        return List.of(new Workload("HEAD blob", "HEAD", "/v2/" + repository + "/blobs/" + digest),
                new Workload("GET manifest by tag", "GET", "/v2/" + repository + "/manifests/small"));
    }

    private static void check(HttpResponse<?> r, int expected, String what) {
        if (r.statusCode() != expected) {
            throw new IllegalStateException(what + ": status " + r.statusCode());
        }
    }

    private static final class Result {
        double perSecond;
        long failed;
        double serverCpuMicros = -1;
        Histogram micros;
    }

    private Result measure(Target t, Workload w, int durationSeconds) throws Exception {
        byte[] request = (w.method() + " " + w.path() + " HTTP/1.1\r\nHost: " + t.base().getAuthority()
                + "\r\nAccept: application/vnd.oci.image.manifest.v1+json\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        boolean head = w.method().equals("HEAD");
        Histogram micros = new ConcurrentHistogram(3);
        AtomicLong done = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        CountDownLatch finished = new CountDownLatch(concurrency);
        double cpuBefore = ServerCpu.seconds(t.pid());
        long start = System.nanoTime();
        long end = start + TimeUnit.SECONDS.toNanos(durationSeconds);
        for (int c = 0; c < concurrency; c++) {
            Thread worker = new Thread(() -> {
                try {
                    connection(t.base(), request, head, end, micros, done, failed);
                } finally {
                    finished.countDown();
                }
            }, "small-requests-" + c);
            worker.setDaemon(true);
            worker.start();
        }
        if (!finished.await(durationSeconds + 60L, TimeUnit.SECONDS)) {
            throw new IllegalStateException("connections did not finish");
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        Result r = new Result();
        r.perSecond = done.get() / elapsed;
        r.failed = failed.get();
        r.micros = micros;
        if (t.pid() != null && done.get() > 0) {
            r.serverCpuMicros = (ServerCpu.seconds(t.pid()) - cpuBefore) * 1e6 / done.get();
        }
        return r;
    }

    /** One keep-alive connection sending {@code request} until {@code end}, reconnecting after errors. */
    private static void connection(URI base, byte[] request, boolean head, long end, Histogram micros,
                                   AtomicLong done, AtomicLong failed) {
        while (System.nanoTime() < end) {
            try (Socket socket = new Socket()) {
                socket.setTcpNoDelay(true);
                socket.connect(new InetSocketAddress(base.getHost(), base.getPort()), 5000);
                socket.setSoTimeout(10_000);
                OutputStream out = socket.getOutputStream();
                InputStream in = new BufferedInputStream(socket.getInputStream(), 16 << 10);
                while (System.nanoTime() < end) {
                    long t0 = System.nanoTime();
                    out.write(request);
                    out.flush();
                    int status = readResponse(in, head);
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

    /** Reads one response (status line, headers, Content-Length body); returns its status. */
    private static int readResponse(InputStream in, boolean head) throws IOException {
        String statusLine = line(in);
        int status = Integer.parseInt(statusLine.substring(9, 12));
        long length = 0;
        for (String header = line(in); !header.isEmpty(); header = line(in)) {
            if (header.regionMatches(true, 0, "content-length:", 0, 15)) {
                length = Long.parseLong(header.substring(15).trim());
            }
        }
        if (!head) {
            for (long skipped = 0; skipped < length; ) {
                long n = in.skip(length - skipped);
                if (n <= 0) {
                    if (in.read() < 0) {
                        throw new IOException("connection closed in a body");
                    }
                    n = 1;
                }
                skipped += n;
            }
        }
        return status;
    }

    private static String line(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder(64);
        for (int c = in.read(); c != '\n'; c = in.read()) {
            if (c < 0) {
                throw new IOException("connection closed");
            }
            if (c != '\r') {
                sb.append((char) c);
            }
        }
        return sb.toString();
    }
}
