package dev.layercache.loadtest;

import at.favre.lib.crypto.bcrypt.BCrypt;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * An authorised client's {@code HEAD} latency while others flood the node with wrong passwords,
 * next to the same client's latency without the flood: what bad credentials cost everybody else.
 * Two floods: every request with a new wrong password (each needs a bcrypt check), and one wrong
 * password repeated. In every round each mode runs once (idle, then the floods, the order turning
 * each round), and each {@code --target} node gets every mode of the round before the next
 * round starts, so that two builds measured side by side see the same machine.
 */
@Command(name = "auth-flood", mixinStandardHelpOptions = true,
        description = "HEAD p99 of an authorised client, idle and during a flood of wrong passwords")
final class AuthFloodBenchmark implements java.util.concurrent.Callable<Integer> {
    @Option(names = "--target", description = "NAME=URL of a node with an htpasswd file holding --user; repeat "
            + "to measure builds side by side")
    List<String> targets = new ArrayList<>();

    @Option(names = "--server-pid", split = ",", description = "process ids of the targets, in order: adds their CPU")
    List<Long> pids = new ArrayList<>();

    @Option(names = "--user", defaultValue = "alice", description = "the authorised user (and the one guessed at)")
    String user;

    @Option(names = "--password", defaultValue = "alice-password", description = "the authorised user's password")
    String password;

    @Option(names = "--write-htpasswd", description = "write an htpasswd file with --user, --password and --cost, "
            + "then exit (for the node to be started with)")
    Path writeHtpasswd;

    @Option(names = "--cost", defaultValue = "12", description = "bcrypt cost of --write-htpasswd")
    int cost;

    @Option(names = "--namespace", defaultValue = "bench/auth")
    String namespace;

    @Option(names = "--concurrency", defaultValue = "32", description = "the authorised client's connections")
    int concurrency;

    @Option(names = "--flood-connections", defaultValue = "32")
    int floodConnections;

    @Option(names = "--flood-rate", defaultValue = "200",
            description = "wrong passwords per second, over all flood connections (each paced; a slow answer slows it)")
    int floodRate;

    @Option(names = "--duration", defaultValue = "5", description = "seconds per mode and round")
    int seconds;

    @Option(names = "--warmup", defaultValue = "3", description = "seconds of idle HEADs before the rounds (JIT)")
    int warmup;

    @Option(names = "--rounds", defaultValue = "5")
    int rounds;

    @Option(names = "--json", description = "write the results here as JSON")
    Path json;

    enum Mode {
        IDLE("no flood"), DISTINCT("a new wrong password every request"), REPEATED("one wrong password repeated");

        final String description;

        Mode(String description) {
            this.description = description;
        }
    }

    private record Node(String name, URI base, Long pid) {
    }

    @Override
    public Integer call() throws Exception {
        if (writeHtpasswd != null) {
            Files.writeString(writeHtpasswd, user + ":"
                    + BCrypt.with(BCrypt.Version.VERSION_2Y).hashToString(cost, password.toCharArray()) + "\n");
            return 0;
        }
        if (targets.isEmpty()) {
            throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--target is required");
        }
        List<Node> nodes = new ArrayList<>();
        for (int i = 0; i < targets.size(); i++) {
            String[] t = targets.get(i).split("=", 2);
            nodes.add(new Node(t[0], URI.create(t[1].endsWith("/") ? t[1] : t[1] + "/"),
                    i < pids.size() ? pids.get(i) : null));
        }
        String authorization = basic(user, password);
        byte[] blob = new byte[4096];
        new java.util.Random(42).nextBytes(blob);
        String digest = "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(blob));
        String head = "HEAD /v2/" + namespace + "/blobs/" + digest + " HTTP/1.1\r\nAuthorization: " + authorization
                + "\r\n";
        for (Node node : nodes) {
            try (HttpConnection c = new HttpConnection(node.base())) {
                HttpConnection.Response r = c.send("POST", "/v2/" + namespace + "/blobs/uploads/?digest=" + digest,
                        Map.of("Authorization", authorization, "Content-Type", "application/octet-stream"), blob,
                        HttpConnection.Body.KEEP);
                if (r.status() != 201) {
                    throw new IllegalStateException(node.name() + ": pushing the blob answered " + r.status()
                            + " (is --user/--password in the node's htpasswd?)");
                }
            }
            measure(node, head, Mode.IDLE, warmup); // JIT, and the credentials checked once
        }

        Report report = new Report("HEAD of an authorised client during wrong-password floods");
        Map<String, Map<Mode, List<Double>>> p99 = new LinkedHashMap<>();
        Map<String, Map<Mode, List<Double>>> p50 = new LinkedHashMap<>();
        for (int round = 1; round <= rounds; round++) {
            List<Mode> order = new ArrayList<>(List.of(Mode.values()));
            Collections.rotate(order, round - 1);
            for (Node node : (round % 2 == 1 ? nodes : reversed(nodes))) {
                for (Mode mode : order) {
                    Map<String, Object> row = report.row(node.name() + ", " + mode.description + ", round " + round);
                    row.putAll(measure(node, head, mode, seconds));
                    p99.computeIfAbsent(node.name(), n -> new LinkedHashMap<>())
                            .computeIfAbsent(mode, m -> new ArrayList<>()).add((Double) row.get("p99_ms"));
                    p50.computeIfAbsent(node.name(), n -> new LinkedHashMap<>())
                            .computeIfAbsent(mode, m -> new ArrayList<>()).add((Double) row.get("p50_ms"));
                }
            }
        }
        for (Node node : nodes) {
            double idle = GrpcBenchmark.median(p99.get(node.name()).get(Mode.IDLE));
            for (Mode mode : Mode.values()) {
                List<Double> values = p99.get(node.name()).get(mode);
                Map<String, Object> row = report.row(node.name() + ", " + mode.description + ", median of "
                        + rounds + " rounds");
                row.put("p50_ms", GrpcBenchmark.median(p50.get(node.name()).get(mode)));
                row.put("p99_ms", GrpcBenchmark.median(values));
                row.put("p99_ms_min", Collections.min(values));
                row.put("p99_ms_max", Collections.max(values));
                row.put("p99_vs_idle", GrpcBenchmark.median(values) / idle);
            }
        }
        System.out.println(report.markdown());
        report.write(json);
        return 0;
    }

    private static <T> List<T> reversed(List<T> list) {
        List<T> r = new ArrayList<>(list);
        Collections.reverse(r);
        return r;
    }

    /** The authorised client's HEADs for {@code duration} seconds, with the flood of {@code mode} alongside. */
    private Map<String, Object> measure(Node node, String head, Mode mode, int duration) throws Exception {
        Histogram micros = new ConcurrentHistogram(3);
        AtomicLong done = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        Map<Integer, LongAdder> floodStatuses = new ConcurrentHashMap<>();
        LongAdder floodErrors = new LongAdder();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> flood = new ArrayList<>();
        if (mode != Mode.IDLE) {
            double perConnection = floodRate / (double) floodConnections;
            for (int i = 0; i < floodConnections; i++) {
                int connection = i;
                Thread t = new Thread(() -> flood(node, mode, connection, perConnection, stop, floodStatuses,
                        floodErrors), "flood-" + i);
                t.setDaemon(true);
                t.start();
                flood.add(t);
            }
            Thread.sleep(500); // the flood under way before the clock starts
        }
        double cpuBefore = ServerCpu.seconds(node.pid());
        long start = System.nanoTime();
        long end = start + TimeUnit.SECONDS.toNanos(duration);
        CountDownLatch finished = new CountDownLatch(concurrency);
        byte[] request = (head + "Host: " + node.base().getAuthority() + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < concurrency; i++) {
            Thread t = new Thread(() -> {
                try {
                    while (System.nanoTime() < end) {
                        try (HttpConnection c = new HttpConnection(node.base())) {
                            while (c.isOpen() && System.nanoTime() < end) {
                                long t0 = System.nanoTime();
                                int status = c.sendPrepared(request, true);
                                micros.recordValue(Math.max(1, (System.nanoTime() - t0) / 1000));
                                (status == 200 ? done : failed).incrementAndGet();
                            }
                        } catch (IOException e) {
                            failed.incrementAndGet();
                        }
                    }
                } finally {
                    finished.countDown();
                }
            }, "head-" + i);
            t.setDaemon(true);
            t.start();
        }
        if (!finished.await(duration + 120, TimeUnit.SECONDS)) {
            throw new IllegalStateException(node.name() + ": HEAD connections did not finish");
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        double cpu = ServerCpu.seconds(node.pid()) - cpuBefore;
        stop.set(true);
        for (Thread t : flood) {
            t.join(TimeUnit.SECONDS.toMillis(120));
        }
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("head_per_s", done.get() / elapsed);
        row.put("head_failed", failed.get());
        Report.latencies(row, micros);
        if (node.pid() != null) {
            row.put("server_cpu_s_per_s", cpu / elapsed);
        }
        if (mode != Mode.IDLE) {
            long answered = floodStatuses.values().stream().mapToLong(LongAdder::sum).sum();
            row.put("flood_answered_per_s", answered / elapsed);
            floodStatuses.forEach((status, n) -> row.put("flood_" + status, n.sum()));
            row.put("flood_errors", floodErrors.sum());
        }
        return row;
    }

    /** One flood connection: GET /v2/ with wrong passwords, paced to {@code perSecond}, until {@code stop}. */
    private void flood(Node node, Mode mode, int connection, double perSecond, AtomicBoolean stop,
                       Map<Integer, LongAdder> statuses, LongAdder errors) {
        long interval = (long) (1e9 / perSecond);
        long next = System.nanoTime() + (long) (Math.random() * interval);
        long n = 0;
        while (!stop.get()) {
            try (HttpConnection c = new HttpConnection(node.base())) {
                while (c.isOpen() && !stop.get()) {
                    long wait = next - System.nanoTime();
                    if (wait > 0) {
                        TimeUnit.NANOSECONDS.sleep(wait);
                    }
                    next = Math.max(next + interval, System.nanoTime() - interval);
                    String guess = mode == Mode.REPEATED ? "wrong-password"
                            : "guess-" + connection + "-" + (n++) + "-" + System.nanoTime();
                    byte[] request = ("GET /v2/ HTTP/1.1\r\nHost: " + node.base().getAuthority()
                            + "\r\nAuthorization: " + basic(user, guess) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
                    int status = c.sendPrepared(request, false);
                    statuses.computeIfAbsent(status, s -> new LongAdder()).increment();
                }
            } catch (IOException e) {
                errors.increment();
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }
}
