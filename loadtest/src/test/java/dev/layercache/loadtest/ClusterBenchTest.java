package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.ServerProcess;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code cluster} at a tiny size against real processes: the {@code s3-server} subcommand (s3proxy
 * with its counters) as a process of its own, a standalone node, and two nodes sharing its bucket.
 * Checks that each phase measures what it says, from the two independent counts of bucket
 * requests: the standalone fleet never reaches the bucket and the cluster fleet writes every layer
 * through to it; round robin gives every node work; a blob's first read on a node that never saw
 * it comes from the bucket and its next reads do not; a push to a cluster node puts the blob in
 * the bucket; what the nodes say they asked and what the S3 server says it answered agree. No
 * timing is asserted.
 */
class ClusterBenchTest {
    private static final int NODES = 2;

    @TempDir
    Path dir;

    @Test
    void eachPhaseMeasuresWhatItClaims() throws Exception {
        int s3Port = freePort();
        int metricsPort = freePort();
        String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        Process s3 = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "s3-server", "--dir", dir.resolve("bucket").toString(),
                "--port", Integer.toString(s3Port), "--metrics-port", Integer.toString(metricsPort))
                .redirectErrorStream(true).redirectOutput(dir.resolve("s3.log").toFile()).start();
        List<ServerProcess> nodes = new ArrayList<>();
        try {
            URI metrics = URI.create("http://127.0.0.1:" + metricsPort + "/metrics");
            awaitAnswer(metrics, s3);
            List<String> jvm = List.of("-Xmx384m", "-Daws.accessKeyId=" + BucketServer.ACCESS_KEY,
                    "-Daws.secretAccessKey=" + BucketServer.SECRET_KEY);
            ServerProcess single = ServerProcess.start(Files.createDirectories(dir.resolve("single")),
                    dir.resolve("single.log"), List.of("-Xmx384m"));
            nodes.add(single);
            for (int i = 0; i < NODES; i++) {
                nodes.add(ServerProcess.start(Files.createDirectories(dir.resolve("node" + i)),
                        dir.resolve("node" + i + ".log"), jvm, "--s3-bucket", "layercache-bench",
                        "--s3-endpoint", "http://127.0.0.1:" + s3Port, "--s3-region", "us-east-1",
                        "--s3-path-style", "true"));
            }
            List<ServerProcess> cluster = nodes.subList(1, nodes.size());
            Path json = dir.resolve("cluster.json");
            int exit = new CommandLine(new Main()).execute("cluster",
                    "--single", "http://127.0.0.1:" + single.port(), "--single-grpc", "127.0.0.1:" + single.grpcPort(),
                    "--single-pid", Long.toString(single.process().pid()),
                    "--nodes", cluster.stream().map(n -> "http://127.0.0.1:" + n.port()).collect(Collectors.joining(",")),
                    "--nodes-grpc", cluster.stream().map(n -> "127.0.0.1:" + n.grpcPort()).collect(Collectors.joining(",")),
                    "--node-pids", cluster.stream().map(n -> Long.toString(n.process().pid())).collect(Collectors.joining(",")),
                    "--s3-metrics", metrics.toString(), "--s3-pid", Long.toString(s3.pid()),
                    "--rounds", "1", "--fleet-seconds", "5", "--fleet-warmup", "1", "--builders", "2",
                    "--projects", "2", "--steps", "3", "--size-mix", "1:4k-64k", "--sizes", "4k,1m", "--repeats", "2",
                    "--idle-seconds", "1", "--jit-warmup", "2", "--work-dir", Files.createDirectories(dir.resolve("work")).toString(),
                    "--json", json.toString());
            assertEquals(0, exit);
            JsonNode out = new ObjectMapper().readTree(json.toFile());

            JsonNode fleet = out.path("fleet");
            assertEquals(2, fleet.size(), fleet::toString);
            for (JsonNode run : fleet) {
                boolean isCluster = run.path("side").asText().equals("cluster");
                assertTrue(run.path("builds").asLong() > 0 && run.path("errors").asLong() == 0, run::toString);
                JsonNode asked = run.path("node_bucket_requests");
                if (isCluster) {
                    assertTrue(asked.path("put").asDouble() + asked.path("put_file").asDouble()
                            >= run.path("layer_uploads").asDouble(), "every layer written through: " + run);
                    double lookups = 0;
                    for (JsonNode each : run.path("node_grpc_lookups")) {
                        assertTrue(each.asDouble() > 0, "round robin gives every node lookups: " + run);
                        lookups += each.asDouble();
                    }
                    assertEquals(NODES, run.path("node_grpc_lookups").size());
                    assertTrue(lookups >= run.path("lookups").asDouble(), "the nodes served the fleet's lookups: " + run);
                    // The nodes' count and the S3 server's: the same requests, give or take the
                    // probes in flight at either end of the run.
                    double nodesTotal = asked.path("total").asDouble();
                    double s3Total = run.path("s3_requests").path("total").asDouble();
                    assertTrue(Math.abs(nodesTotal - s3Total) <= 4 + nodesTotal * 0.05, run::toString);
                    assertTrue(run.path("s3_requests").path("PutObject").asDouble() > 0, run::toString);
                } else {
                    assertFalse(asked.has("put") || asked.has("put_file") || asked.has("get"),
                            "a standalone fleet never reaches the bucket: " + run);
                }
            }
            JsonNode reads = out.path("reads");
            assertEquals(2 * 2, reads.size());
            for (JsonNode read : reads) {
                assertTrue(read.path("writer").asInt() != read.path("reader").asInt(), read::toString);
                assertTrue(read.path("bucket_read_requests").path("get").asDouble() >= 1,
                        "the first read comes from the bucket: " + read);
                assertFalse(read.path("hot_read_requests").has("get"), "the next ones do not: " + read);
            }
            JsonNode writes = out.path("writes");
            assertEquals(2 * 2, writes.size());
            for (JsonNode write : writes) {
                JsonNode r = write.path("cluster_bucket_requests");
                assertTrue(r.path("put").asDouble() + r.path("put_file").asDouble() >= 1, write::toString);
                assertTrue(write.path("single_ms").asDouble() > 0 && write.path("cluster_ms").asDouble() > 0);
            }
            String md = out.path("markdown").asText();
            assertTrue(md.contains("| builds/s |") && md.contains("| 1m |") && md.contains("| S3 server | PutObject |"), md);
        } finally {
            for (ServerProcess n : nodes) {
                n.close();
            }
            s3.destroy();
            s3.waitFor(10, TimeUnit.SECONDS);
            s3.destroyForcibly();
        }
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static void awaitAnswer(URI url, Process p) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IllegalStateException("s3-server exited: " + p.exitValue());
            }
            try {
                if (http.send(HttpRequest.newBuilder(url).build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (java.io.IOException notYet) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("s3-server did not answer " + url);
    }
}
