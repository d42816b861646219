package dev.layercache.loadtest;

import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The processes {@link ClusterBench} measures and what it reads of them: CPU time from
 * {@code /proc} (the standalone node, each cluster node, this client, the S3 server) and the two
 * counts of bucket requests (the nodes' metrics, the S3 server's counters).
 */
final class ClusterProcesses {
    private final Long singlePid;
    private final List<URI> nodes;
    private final List<Long> nodePids;
    private final URI s3Metrics;
    private final Long s3Pid;

    ClusterProcesses(Long singlePid, List<URI> nodes, List<Long> nodePids, URI s3Metrics, Long s3Pid) {
        this.singlePid = singlePid;
        this.nodes = nodes;
        this.nodePids = nodePids;
        this.s3Metrics = s3Metrics;
        this.s3Pid = s3Pid;
    }

    /**
     * CPU seconds so far of: the standalone node, each cluster node, this process (the client),
     * the S3 server, in that order (0 for a process not named).
     */
    List<Double> cpu() throws IOException {
        List<Double> out = new ArrayList<>();
        out.add(ServerCpu.seconds(singlePid));
        for (int i = 0; i < nodes.size(); i++) {
            out.add(ServerCpu.seconds(nodePids == null ? null : nodePids.get(i)));
        }
        out.add(ServerCpu.seconds(ProcessHandle.current().pid()));
        out.add(ServerCpu.seconds(s3Pid));
        return out;
    }

    static List<Double> minus(List<Double> after, List<Double> before) {
        List<Double> d = new ArrayList<>();
        for (int i = 0; i < after.size(); i++) {
            d.add(after.get(i) - before.get(i));
        }
        return d;
    }

    /**
     * Until the CPU time of the processes at {@code involved} (indexes into {@link #cpu()}) has not
     * moved for 300 ms, 2 s at most: work left behind by a push (a commit, a flush) is its own.
     */
    void settle(List<Integer> involved) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        List<Double> last = pick(cpu(), involved);
        int still = 0;
        while (still < 3 && System.nanoTime() < deadline) {
            Thread.sleep(100);
            List<Double> now = pick(cpu(), involved);
            still = now.equals(last) ? still + 1 : 0;
            last = now;
        }
    }

    private static List<Double> pick(List<Double> all, List<Integer> indexes) {
        return indexes.stream().map(all::get).toList();
    }

    /** Both counts of bucket requests, as they stand. */
    record Counts(Map<String, Double> node, Map<String, Double> s3) {
        Counts minus(Counts before) {
            return new Counts(BucketCounts.delta(before.node, node), BucketCounts.delta(before.s3, s3));
        }
    }

    Counts counts() throws IOException {
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < nodes.size(); i++) {
            all.add(i);
        }
        return new Counts(nodeCounts(all), s3Metrics == null ? Map.of()
                : BucketCounts.read(List.of(s3Metrics), BucketCounts.S3_METRIC, BucketCounts.S3_LABEL));
    }

    Map<String, Double> nodeCounts(List<Integer> which) throws IOException {
        return BucketCounts.read(which.stream().map(i -> nodes.get(i).resolve("/metrics")).toList(),
                BucketCounts.NODE_METRIC, BucketCounts.NODE_LABEL);
    }


    /** Each cluster node's gRPC lookups so far ({@code layercache_lookups_total{surface="grpc"}}): how round robin spread them. */
    List<Double> grpcLookups() throws IOException {
        List<Double> out = new ArrayList<>();
        for (URI node : nodes) {
            double v = NodeProbe.Prometheus.sum(BucketCounts.fetch(node.resolve("/metrics")), "layercache_lookups_total",
                    "surface=\"grpc\"");
            out.add(Double.isNaN(v) ? 0 : v);
        }
        return out;
    }
}
