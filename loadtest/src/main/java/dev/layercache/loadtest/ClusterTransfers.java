package dev.layercache.loadtest;

import java.io.IOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The blob phases of {@link ClusterBench}, over OCI: reads from the bucket against reads from a
 * node's disk, and pushes to a cluster node (write-through) against pushes to the standalone node.
 * Every blob is fresh random bytes, made in the work folder and sent with sendfile.
 */
final class ClusterTransfers {
    private final ClusterProcesses procs;
    private final URI single;
    private final List<URI> nodes;
    private final List<String> sizes;
    private final int rounds;
    private final int repeats;
    private final Path workDir;

    ClusterTransfers(ClusterProcesses procs, URI single, List<URI> nodes, List<String> sizes, int rounds, int repeats,
                     Path workDir) {
        this.procs = procs;
        this.single = single;
        this.nodes = nodes;
        this.sizes = sizes;
        this.rounds = rounds;
        this.repeats = repeats;
        this.workDir = workDir;
    }

    /**
     * A fresh blob pushed through node {@code w}, then read through node {@code (w+1) % N} twice:
     * from the bucket (that node never saw it), then from its disk. The writer turns every time.
     */
    List<Map<String, Object>> reads() throws Exception {
        List<Map<String, Object>> out = new ArrayList<>();
        String repo = "cluster-bench/reads";
        int turn = 0;
        for (int round = 1; round <= rounds; round++) {
            for (String size : sizes) {
                long bytes = ClusterBench.parseSize(size);
                for (int i = 0; i < repeats; i++, turn++) {
                    int writer = turn % nodes.size();
                    int reader = (writer + 1) % nodes.size();
                    String digest = push(nodes.get(writer), repo, bytes);
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("round", round);
                    m.put("size", size);
                    m.put("bytes", bytes);
                    m.put("writer", writer);
                    m.put("reader", reader);
                    try (HttpConnection c = new HttpConnection(nodes.get(reader), 1 << 20)) {
                        c.send("GET", "/v2/", Map.of(), HttpConnection.Body.DISCARD); // connected before the clock
                        Map<String, Double> before = procs.nodeCounts(List.of(reader));
                        m.put("bucket_ms", get(c, repo, digest, bytes));
                        m.put("bucket_read_requests", BucketCounts.delta(before, procs.nodeCounts(List.of(reader))));
                        before = procs.nodeCounts(List.of(reader));
                        m.put("hot_ms", get(c, repo, digest, bytes));
                        m.put("hot_again_ms", get(c, repo, digest, bytes));
                        m.put("hot_read_requests", BucketCounts.delta(before, procs.nodeCounts(List.of(reader))));
                    }
                    out.add(m);
                }
            }
            System.err.printf("reads round %d of %d done%n", round, rounds);
        }
        return out;
    }

    /** The same fresh blob pushed to the standalone node and to a cluster node, the order turning. */
    List<Map<String, Object>> writes() throws Exception {
        List<Map<String, Object>> out = new ArrayList<>();
        String repo = "cluster-bench/writes";
        int turn = 0;
        for (int round = 1; round <= rounds; round++) {
            for (String size : sizes) {
                long bytes = ClusterBench.parseSize(size);
                for (int i = 0; i < repeats; i++, turn++) {
                    int node = turn % nodes.size();
                    Path file = Files.createTempFile(workDir, "cluster-bench", ".bin");
                    try {
                        String digest = RandomContent.file(file, bytes);
                        Map<String, Object> m = new LinkedHashMap<>();
                        m.put("round", round);
                        m.put("size", size);
                        m.put("bytes", bytes);
                        m.put("node", node);
                        boolean singleFirst = turn % 2 == 0;
                        for (boolean cluster : singleFirst ? new boolean[] {false, true} : new boolean[] {true, false}) {
                            URI base = cluster ? nodes.get(node) : single;
                            List<Integer> involved = cluster ? List.of(1 + node, nodes.size() + 2) : List.of(0);
                            procs.settle(involved);
                            List<Double> cpuBefore = procs.cpu();
                            Map<String, Double> before = cluster ? procs.nodeCounts(List.of(node)) : Map.of();
                            double ms = timedPush(base, repo, file, bytes, digest);
                            procs.settle(involved);
                            List<Double> cpu = ClusterProcesses.minus(procs.cpu(), cpuBefore);
                            String side = cluster ? "cluster" : "single";
                            m.put(side + "_ms", ms);
                            double serverCpu = cluster ? cpu.get(1 + node) + cpu.get(cpu.size() - 1) : cpu.get(0);
                            m.put(side + "_server_cpu_ms", serverCpu * 1000);
                            if (cluster) {
                                m.put("cluster_bucket_requests", BucketCounts.delta(before, procs.nodeCounts(List.of(node))));
                            }
                        }
                        out.add(m);
                    } finally {
                        Files.deleteIfExists(file);
                    }
                }
            }
            System.err.printf("writes round %d of %d done%n", round, rounds);
        }
        return out;
    }

    /** A GET of the whole blob on {@code c}: its wall time in ms, the length checked. */
    static double get(HttpConnection c, String repo, String digest, long bytes) throws IOException {
        long t0 = System.nanoTime();
        HttpConnection.Response r = c.send("GET", Oci.blobPath(repo, digest), Map.of(), HttpConnection.Body.DISCARD);
        double ms = (System.nanoTime() - t0) / 1e6;
        Oci.expect(r, 200, "GET blob " + digest);
        if (r.bodyLength() != bytes) {
            throw new IOException("GET blob " + digest + " gave " + r.bodyLength() + " bytes, not " + bytes);
        }
        return ms;
    }

    /** Pushes a fresh random blob of {@code bytes}; returns its digest. */
    String push(URI base, String repo, long bytes) throws IOException {
        Path file = Files.createTempFile(workDir, "cluster-bench", ".bin");
        try {
            String digest = RandomContent.file(file, bytes);
            timedPush(base, repo, file, bytes, digest);
            return digest;
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** POST, then one PUT of the file (sendfile): a monolithic push on a connection opened before the clock. */
    private double timedPush(URI base, String repo, Path file, long bytes, String digest) throws IOException {
        try (HttpConnection c = new HttpConnection(base); FileChannel in = FileChannel.open(file)) {
            c.send("GET", "/v2/", Map.of(), HttpConnection.Body.DISCARD);
            long t0 = System.nanoTime();
            Oci.pushBlob(c, repo, in, bytes, digest);
            return (System.nanoTime() - t0) / 1e6;
        }
    }

}
