package dev.layercache.loadtest;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * The Markdown tables of {@link ClusterBench}: every figure a median and spread (min–max) over its
 * rounds or samples, and where two sides were measured together, their ratio paired by round.
 */
final class ClusterTables {
    private ClusterTables() {
    }

    @SuppressWarnings("unchecked")
    static String markdown(ClusterBench bench, Map<String, Object> results) {
        StringBuilder sb = new StringBuilder();
        Map<String, Object> settings = bench.settings();
        if (results.get("fleet") instanceof List<?> fleet) {
            fleet(sb, (List<Map<String, Object>>) fleet, bench.nodeCount(), settings,
                    (Map<String, Object>) results.get("idle"));
        }
        if (results.get("reads") instanceof List<?> reads) {
            reads(sb, (List<Map<String, Object>>) reads);
        }
        if (results.get("writes") instanceof List<?> writes) {
            writes(sb, (List<Map<String, Object>>) writes);
        }
        return sb.toString();
    }

    private static void fleet(StringBuilder sb, List<Map<String, Object>> runs, int n, Map<String, Object> settings,
                              Map<String, Object> idle) {
        List<Map<String, Object>> single = side(runs, "single");
        List<Map<String, Object>> cluster = side(runs, "cluster");
        sb.append(String.format("Fleet (gRPC, %s builders, %s projects, %s steps, layers %s), %s s a run (%s s warm-up), "
                        + "%d runs a side, interleaved; medians and spreads (min–max) over the runs.%n%n",
                settings.get("builders"), settings.get("projects"), settings.get("steps"), settings.get("size_mix"),
                settings.get("fleet_seconds"), settings.get("fleet_warmup"), single.size()));
        sb.append("| figure | 1 node | ").append(n).append(" nodes, round robin | ratio |\n|---|---|---|---|\n");
        row(sb, "builds/s", single, cluster, m -> num(m, "builds_per_s"));
        row(sb, "hit rate observed, %", single, cluster, m -> num(m, "hit_rate_observed_pct"));
        for (String p : List.of("lookup_p50_ms", "lookup_p99_ms", "build_p50_ms", "build_p99_ms", "upload_p50_ms",
                "upload_p99_ms", "download_p50_ms", "download_p99_ms")) {
            row(sb, p.replace("_ms", ", ms").replace('_', ' '), single, cluster, m -> num(m, p));
        }
        row(sb, "node CPU ms per build (all nodes)", single, cluster, m -> num(m, "node_cpu_ms_per_build"));
        // The S3 server serves no request of a standalone run (only the idle cluster's probes): no side by side.
        sb.append("| S3 server CPU ms per build | | ").append(stats(cluster, m -> num(m, "s3_cpu_ms_per_build")))
                .append(" | |\n");
        row(sb, "client CPU ms per build", single, cluster, m -> num(m, "client_cpu_ms_per_build"));
        for (int i = 0; i < n; i++) {
            int node = i;
            sb.append("| node ").append(i + 1).append(" CPU, cores busy | | ")
                    .append(Stats.of(cluster.stream().map(m -> cpuOf(m, node) / num(m, "wall_s")).toList()).text())
                    .append(" | |\n");
        }
        for (int i = 0; i < n; i++) {
            int node = i;
            List<Map<String, Object>> counted = cluster.stream().filter(m -> m.containsKey("node_grpc_lookups")).toList();
            if (!counted.isEmpty()) {
                sb.append("| node ").append(i + 1).append(" share of the lookups, % | | ")
                        .append(Stats.of(counted.stream().map(m -> 100 * share(m, node)).toList()).text()).append(" | |\n");
            }
        }
        sb.append('\n');

        // Requests per build by kind, cluster runs only; and the nodes' background rate with no client.
        sb.append("Bucket requests per build of the ").append(n).append("-node runs (all builds, warm-up included), ")
                .append("as the nodes counted them (`layercache_bucket_requests_total` by `operation`) and as the S3 ")
                .append("server counted them (s3proxy, by `s3_operation`)");
        if (idle != null) {
            sb.append("; with no client the nodes made ")
                    .append(Stats.number(((Map<String, Double>) idle.get("node_requests_per_s")).getOrDefault("total", 0.0)))
                    .append(" requests/s in all");
        }
        sb.append(".\n\n| counted by | request | per build |\n|---|---|---|\n");
        perBuild(sb, "nodes", cluster, "node_bucket_requests_per_build");
        perBuild(sb, "S3 server", cluster, "s3_requests_per_build");
        sb.append('\n');
    }

    @SuppressWarnings("unchecked")
    private static void perBuild(StringBuilder sb, String who, List<Map<String, Object>> runs, String key) {
        TreeSet<String> kinds = new TreeSet<>();
        runs.forEach(m -> kinds.addAll(((Map<String, Double>) m.get(key)).keySet()));
        kinds.remove("total");
        kinds.add("total");
        for (String kind : kinds) {
            sb.append("| ").append(who).append(" | ").append(kind.equals("total") ? "**all**" : kind).append(" | ")
                    .append(Stats.of(runs.stream().map(m -> ((Map<String, Double>) m.get(key)).getOrDefault(kind, 0.0))
                            .toList()).text()).append(" |\n");
        }
    }

    private static void reads(StringBuilder sb, List<Map<String, Object>> reads) {
        sb.append("Reads: a fresh blob pushed through one node, then `GET` through another: first from the bucket, ")
                .append("then from that node's disk (twice); one connection, opened before the clock. ")
                .append(reads.size()).append(" blobs in all.\n\n")
                .append("| size | from the bucket, ms | hot tier, ms | from the bucket, MB/s | hot tier, MB/s "
                        + "| bucket ÷ hot (paired) | bucket requests of the first read |\n|---|---|---|---|---|---|---|\n");
        for (String size : sizes(reads)) {
            List<Map<String, Object>> of = reads.stream().filter(m -> m.get("size").equals(size)).toList();
            sb.append("| ").append(size).append(" | ")
                    .append(stats(of, m -> num(m, "bucket_ms"))).append(" | ")
                    .append(stats(of, m -> Math.min(num(m, "hot_ms"), num(m, "hot_again_ms")))).append(" | ")
                    .append(stats(of, m -> num(m, "bytes") / 1e3 / num(m, "bucket_ms"))).append(" | ")
                    .append(stats(of, m -> num(m, "bytes") / 1e3 / Math.min(num(m, "hot_ms"), num(m, "hot_again_ms"))))
                    .append(" | ")
                    .append(stats(of, m -> num(m, "bucket_ms") / Math.min(num(m, "hot_ms"), num(m, "hot_again_ms"))))
                    .append("× | ").append(stats(of, m -> total(m, "bucket_read_requests"))).append(" |\n");
        }
        sb.append('\n');
    }

    private static void writes(StringBuilder sb, List<Map<String, Object>> writes) {
        sb.append("Writes: the same fresh blob pushed (`POST`, one `PUT`) to the standalone node and to a cluster ")
                .append("node, order turning; the cluster node answers once the blob is in the bucket. Server CPU: ")
                .append("the node's, plus the S3 server's on the cluster side. ").append(writes.size())
                .append(" blobs in all.\n\n| size | 1 node, ms | cluster node, ms | 1 node, MB/s | cluster node, MB/s "
                        + "| cluster ÷ 1 node (paired) | server CPU ms, 1 node | server CPU ms, cluster (node + S3) "
                        + "| bucket requests per push |\n|---|---|---|---|---|---|---|---|---|\n");
        for (String size : sizes(writes)) {
            List<Map<String, Object>> of = writes.stream().filter(m -> m.get("size").equals(size)).toList();
            sb.append("| ").append(size).append(" | ")
                    .append(stats(of, m -> num(m, "single_ms"))).append(" | ")
                    .append(stats(of, m -> num(m, "cluster_ms"))).append(" | ")
                    .append(stats(of, m -> num(m, "bytes") / 1e3 / num(m, "single_ms"))).append(" | ")
                    .append(stats(of, m -> num(m, "bytes") / 1e3 / num(m, "cluster_ms"))).append(" | ")
                    .append(stats(of, m -> num(m, "cluster_ms") / num(m, "single_ms"))).append("× | ")
                    .append(stats(of, m -> num(m, "single_server_cpu_ms"))).append(" | ")
                    .append(stats(of, m -> num(m, "cluster_server_cpu_ms"))).append(" | ")
                    .append(stats(of, m -> total(m, "cluster_bucket_requests"))).append(" |\n");
        }
        sb.append('\n');
    }

    private static void row(StringBuilder sb, String name, List<Map<String, Object>> single,
                            List<Map<String, Object>> cluster, Function<Map<String, Object>, Double> figure) {
        List<Double> ratios = new ArrayList<>();
        for (Map<String, Object> c : cluster) {
            single.stream().filter(s -> s.get("round").equals(c.get("round"))).findFirst()
                    .ifPresent(s -> ratios.add(figure.apply(c) / figure.apply(s)));
        }
        sb.append("| ").append(name).append(" | ").append(stats(single, figure)).append(" | ")
                .append(stats(cluster, figure)).append(" | ")
                .append(ratios.isEmpty() || ratios.stream().anyMatch(r -> r.isNaN() || r.isInfinite()) ? ""
                        : Stats.of(ratios).text() + "×").append(" |\n");
    }

    private static String stats(List<Map<String, Object>> of, Function<Map<String, Object>, Double> figure) {
        return of.isEmpty() ? "" : Stats.of(of.stream().map(figure).toList()).text();
    }

    private static List<Map<String, Object>> side(List<Map<String, Object>> runs, String side) {
        return runs.stream().filter(m -> side.equals(m.get("side"))).toList();
    }

    private static List<String> sizes(List<Map<String, Object>> rows) {
        return new ArrayList<>(new LinkedHashMap<>(rows.stream().collect(LinkedHashMap<String, Boolean>::new,
                (map, m) -> map.put((String) m.get("size"), true), Map::putAll)).keySet());
    }

    static double num(Map<String, Object> m, String key) {
        return ((Number) m.get(key)).doubleValue();
    }

    @SuppressWarnings("unchecked")
    private static double total(Map<String, Object> m, String key) {
        return ((Map<String, Double>) m.get(key)).getOrDefault("total", 0.0);
    }

    @SuppressWarnings("unchecked")
    private static double cpuOf(Map<String, Object> m, int node) {
        return ((List<Double>) m.get("node_cpu_s")).get(node);
    }

    @SuppressWarnings("unchecked")
    private static double share(Map<String, Object> m, int node) {
        List<Double> lookups = (List<Double>) m.get("node_grpc_lookups");
        return lookups.get(node) / lookups.stream().mapToDouble(Double::doubleValue).sum();
    }
}
