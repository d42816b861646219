package dev.layercache.loadtest;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code cluster}: a standalone node (embedded storage) against N nodes sharing one bucket, in
 * interleaved rounds, four ways:
 * <ol>
 *   <li><b>fleet</b>: the gRPC {@code fleet} workload against the standalone node, then the same
 *       workload (same seed) against the N nodes through the client library's round robin
 *       ({@code host1:port,host2:port,...}): builds/s, lookup, build, layer upload and download
 *       percentiles, CPU of every process per build, and the bucket requests per build, counted by
 *       the nodes ({@code layercache_bucket_requests_total}) and by the S3 server (s3proxy's
 *       counters);</li>
 *   <li><b>reads</b>: a fresh blob pushed through one node, then read through another: its first
 *       read there must come from the bucket, its second is served from that node's disk (the hot
 *       tier);</li>
 *   <li><b>writes</b>: the same fresh blob pushed to the standalone node and to a cluster node,
 *       which acknowledges only once the blob is in the bucket (write-through);</li>
 *   <li><b>idle</b>: bucket requests per second with no client at all (the nodes' probes and
 *       lifecycle), so that the per-build figures can be read net of it.</li>
 * </ol>
 * The order of the two sides turns every round; every figure is kept per round (JSON) and
 * summarised as a median and spread (min–max). Tables in {@link ClusterTables}.
 */
@Command(name = "cluster", mixinStandardHelpOptions = true, sortOptions = false,
        description = "A standalone node against N nodes sharing a bucket: fleet, hot-tier and bucket reads, "
                + "write-through, bucket requests per build")
final class ClusterBench implements Callable<Integer> {
    @Option(names = "--single", required = true, description = "the standalone node's base URL")
    URI single;

    @Option(names = "--single-grpc", required = true, description = "the standalone node's gRPC host:port")
    String singleGrpc;

    @Option(names = "--single-pid", description = "the standalone node's process id (CPU from /proc)")
    Long singlePid;

    @Option(names = "--nodes", required = true, split = ",", description = "the cluster nodes' base URLs")
    List<URI> nodes;

    @Option(names = "--nodes-grpc", required = true, split = ",", description = "their gRPC host:port, same order")
    List<String> nodesGrpc;

    @Option(names = "--node-pids", split = ",", description = "their process ids, same order")
    List<Long> nodePids;

    @Option(names = "--s3-metrics", description = "the S3 server's Prometheus counters (s3-server's /metrics)")
    URI s3Metrics;

    @Option(names = "--s3-pid", description = "the S3 server's process id")
    Long s3Pid;

    @Option(names = "--phases", split = ",", defaultValue = "idle,fleet,reads,writes", description = "default: ${DEFAULT-VALUE}")
    List<String> phases;

    @Option(names = "--rounds", defaultValue = "3")
    int rounds;

    @Option(names = "--fleet-seconds", defaultValue = "30", description = "each fleet run, warm-up included")
    int fleetSeconds;

    @Option(names = "--fleet-warmup", defaultValue = "5")
    int fleetWarmup;

    @Option(names = "--builders", defaultValue = "8")
    int builders;

    @Option(names = "--projects", defaultValue = "8")
    int projects;

    @Option(names = "--steps", defaultValue = "6")
    int steps;

    @Option(names = "--size-mix", defaultValue = "80:4k-256k,18:1m-16m,2:32m-64m",
            description = "the fleet's layer sizes (default: ${DEFAULT-VALUE})")
    String sizeMix;

    @Option(names = "--sizes", split = ",", defaultValue = "4k,1m,16m,64m",
            description = "blob sizes of the reads and writes (default: ${DEFAULT-VALUE})")
    List<String> sizes;

    @Option(names = "--repeats", defaultValue = "2", description = "blobs per size per round, reads and writes")
    int repeats;

    @Option(names = "--idle-seconds", defaultValue = "10")
    int idleSeconds;

    @Option(names = "--jit-warmup", defaultValue = "20",
            description = "seconds of unmeasured fleet on each side first, and a few unmeasured pushes and reads: "
                    + "the JIT of every process (default: ${DEFAULT-VALUE})")
    int jitWarmup;

    @Option(names = "--work-dir", defaultValue = "/dev/shm", description = "where blobs are made before a push")
    Path workDir;

    @Option(names = "--context", description = "what to keep with the figures (commit, machine, load), in the JSON")
    String context;

    @Option(names = "--json", description = "every round's figures and the tables")
    Path json;

    /** Everything measured, by phase: lists of per-run maps, ready for JSON. */
    private final Map<String, Object> results = new LinkedHashMap<>();
    private ClusterProcesses procs;
    private ClusterTransfers transfers;

    @Override
    public Integer call() throws Exception {
        if (nodes.size() != nodesGrpc.size() || (nodePids != null && nodePids.size() != nodes.size())) {
            throw new IllegalArgumentException("--nodes, --nodes-grpc and --node-pids name the same nodes");
        }
        procs = new ClusterProcesses(singlePid, nodes, nodePids, s3Metrics, s3Pid);
        transfers = new ClusterTransfers(procs, single, nodes, sizes, rounds, repeats, workDir);
        int faults = 0;
        if (jitWarmup > 0) {
            warmup();
        }
        if (phases.contains("idle")) {
            results.put("idle", idle());
        }
        if (phases.contains("fleet")) {
            List<Map<String, Object>> runs = new ArrayList<>();
            results.put("fleet", runs);
            for (int round = 1; round <= rounds; round++) {
                boolean singleFirst = round % 2 == 1;
                for (boolean cluster : singleFirst ? new boolean[] {false, true} : new boolean[] {true, false}) {
                    Map<String, Object> run = fleet(round, cluster);
                    faults += ((Number) run.get("errors")).intValue() + ((Number) run.get("unexpected")).intValue();
                    runs.add(run);
                }
            }
        }
        if (phases.contains("reads")) {
            results.put("reads", transfers.reads());
        }
        if (phases.contains("writes")) {
            results.put("writes", transfers.writes());
        }
        String markdown = ClusterTables.markdown(this, results);
        System.out.println(markdown);
        if (json != null) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("settings", settings());
            out.putAll(results);
            out.put("markdown", markdown);
            Files.write(json, new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(out));
        }
        return faults == 0 ? 0 : 1;
    }

    Map<String, Object> settings() {
        Map<String, Object> s = new LinkedHashMap<>();
        if (context != null) {
            s.put("context", context);
        }
        s.put("nodes", nodes.size());
        s.put("rounds", rounds);
        s.put("fleet_seconds", fleetSeconds);
        s.put("fleet_warmup", fleetWarmup);
        s.put("builders", builders);
        s.put("projects", projects);
        s.put("steps", steps);
        s.put("size_mix", sizeMix);
        s.put("sizes", sizes);
        s.put("repeats", repeats);
        s.put("jit_warmup_s", jitWarmup);
        return s;
    }

    /**
     * Unmeasured work on both sides before any figure: a fleet run on each (its own namespaces),
     * then pushes and reads of blobs up to 16 MiB in every way the phases make them. A fresh JVM
     * runs the first minutes of any workload several times slower.
     */
    private void warmup() throws Exception {
        for (boolean cluster : new boolean[] {false, true}) {
            FleetConfig config = FleetConfig.builder().builders(builders).projects(projects).steps(steps)
                    .duration(Duration.ofSeconds(jitWarmup)).warmup(Duration.ZERO).seed(0)
                    .sizeMix(SizeMix.parse(sizeMix)).namespacePrefix("cluster-bench")
                    .runId("w" + ProcessHandle.current().pid() + (cluster ? "-cluster" : "-single"))
                    .grpcTarget(cluster ? String.join(",", nodesGrpc) : singleGrpc).build();
            Fleet.Result r = Fleet.run(config, Protocol.GRPC, null);
            System.err.printf(Locale.ROOT, "warm-up fleet %s: %d builds%n", cluster ? "cluster" : "single",
                    r.measured().builds.sum());
        }
        String repo = "cluster-bench/warmup";
        for (int i = 0; i < 2 * nodes.size(); i++) {
            for (long bytes : new long[] {4 << 10, 1 << 20, 16 << 20}) {
                transfers.push(single, repo, bytes);
                String digest = transfers.push(nodes.get(i % nodes.size()), repo, bytes);
                try (HttpConnection c = new HttpConnection(nodes.get((i + 1) % nodes.size()), 1 << 20)) {
                    ClusterTransfers.get(c, repo, digest, bytes);
                    ClusterTransfers.get(c, repo, digest, bytes);
                }
            }
        }
    }

    /** Bucket requests per second with no client: what the nodes do on their own. */
    private Map<String, Object> idle() throws Exception {
        ClusterProcesses.Counts before = procs.counts();
        long t0 = System.nanoTime();
        Thread.sleep(TimeUnit.SECONDS.toMillis(idleSeconds));
        double seconds = (System.nanoTime() - t0) / 1e9;
        ClusterProcesses.Counts d = procs.counts().minus(before);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("seconds", seconds);
        m.put("node_requests_per_s", scale(d.node(), 1 / seconds));
        m.put("s3_requests_per_s", scale(d.s3(), 1 / seconds));
        return m;
    }

    /** One fleet run against the standalone node or the cluster; a new run id, so on an empty namespace. */
    private Map<String, Object> fleet(int round, boolean cluster) throws Exception {
        String target = cluster ? String.join(",", nodesGrpc) : singleGrpc;
        FleetConfig config = FleetConfig.builder().builders(builders).projects(projects).steps(steps)
                .duration(Duration.ofSeconds(fleetSeconds)).warmup(Duration.ofSeconds(fleetWarmup))
                .seed(round).sizeMix(SizeMix.parse(sizeMix)).maxLayerBytes(256L << 20)
                .namespacePrefix("cluster-bench").runId("r" + ProcessHandle.current().pid() + "-" + round
                        + (cluster ? "-cluster" : "-single"))
                .grpcTarget(target).build();
        ClusterProcesses.Counts before = procs.counts();
        List<Double> cpuBefore = procs.cpu();
        List<Double> lookupsBefore = procs.grpcLookups();
        long t0 = System.nanoTime();
        Fleet.Result r = Fleet.run(config, Protocol.GRPC, null);
        double wall = (System.nanoTime() - t0) / 1e9;
        List<Double> cpu = ClusterProcesses.minus(procs.cpu(), cpuBefore);
        ClusterProcesses.Counts d = procs.counts().minus(before);
        FleetStats s = r.measured();
        long allBuilds = s.builds.sum() + r.warmup().builds.sum();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("round", round);
        m.put("side", cluster ? "cluster" : "single");
        m.put("target", target);
        m.put("builds", s.builds.sum());
        m.put("builds_per_s", s.builds.sum() / r.measuredSeconds());
        m.put("all_builds", allBuilds);
        m.put("wall_s", wall);
        m.put("hit_rate_observed_pct", s.hitRateObserved());
        m.put("hit_rate_expected_pct", s.hitRateExpected());
        m.put("lookups", s.lookupMicros.getTotalCount());
        Report.latencies(m, "lookup_", s.lookupMicros);
        Report.latencies(m, "build_", s.buildMicros);
        m.put("layer_uploads", s.uploadMicros.getTotalCount());
        Report.latencies(m, "upload_", s.uploadMicros);
        m.put("layer_downloads", s.downloadMicros.getTotalCount());
        Report.latencies(m, "download_", s.downloadMicros);
        m.put("uploaded_MiB", s.bytesUploaded.sum() / 1048576.0);
        m.put("downloaded_MiB", s.bytesDownloaded.sum() / 1048576.0);
        // CPU over the whole run (warm-up included), so per build of the whole run.
        List<Double> nodeCpu = cluster ? cpu.subList(1, 1 + nodes.size()) : cpu.subList(0, 1);
        m.put("node_cpu_s", nodeCpu);
        if (cluster) {
            m.put("node_grpc_lookups", ClusterProcesses.minus(procs.grpcLookups(), lookupsBefore));
        }
        m.put("node_cpu_ms_per_build", nodeCpu.stream().mapToDouble(Double::doubleValue).sum() * 1000 / allBuilds);
        m.put("s3_cpu_ms_per_build", cpu.get(cpu.size() - 1) * 1000 / allBuilds);
        m.put("client_cpu_ms_per_build", cpu.get(cpu.size() - 2) * 1000 / allBuilds);
        m.put("node_bucket_requests", d.node());
        m.put("s3_requests", d.s3());
        m.put("node_bucket_requests_per_build", scale(d.node(), 1.0 / allBuilds));
        m.put("s3_requests_per_build", scale(d.s3(), 1.0 / allBuilds));
        m.put("errors", s.errors.sum() + r.warmup().errors.sum());
        m.put("unexpected", s.unexpected() + r.warmup().unexpected());
        List<String> samples = new ArrayList<>(s.errorSamples());
        samples.addAll(s.anomalySamples());
        if (!samples.isEmpty()) {
            m.put("samples", samples);
        }
        System.err.printf(Locale.ROOT, "fleet round %d %s: %d builds, %.2f builds/s, %d errors%n", round,
                m.get("side"), s.builds.sum(), (double) m.get("builds_per_s"), (long) m.get("errors"));
        return m;
    }

    private static Map<String, Double> scale(Map<String, Double> counts, double factor) {
        Map<String, Double> out = new LinkedHashMap<>();
        counts.forEach((k, v) -> out.put(k, v * factor));
        return out;
    }

    /** {@code 4k}, {@code 16m}, {@code 1g} or bytes. */
    static long parseSize(String size) {
        String s = size.trim().toLowerCase(Locale.ROOT);
        long unit = switch (s.charAt(s.length() - 1)) {
            case 'k' -> 1L << 10;
            case 'm' -> 1L << 20;
            case 'g' -> 1L << 30;
            default -> 1;
        };
        return Long.parseLong(unit == 1 ? s : s.substring(0, s.length() - 1)) * unit;
    }

    int nodeCount() {
        return nodes.size();
    }
}
