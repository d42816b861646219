package dev.layercache.server.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A cluster on this machine: a real S3-compatible server ({@link S3Server}, s3proxy in this JVM,
 * on a filesystem backend) and N server processes on loopback ports sharing its bucket, each with
 * its own data folder (its hot tier). Nodes can be killed and restarted; the bucket can be stopped.
 */
public final class ClusterNodes implements AutoCloseable {
    private final Path dir;
    private final S3Server s3;
    private final ServerProcess[] nodes;
    private final String[] extraArgs;
    private final List<String> jvmOptions;

    private ClusterNodes(Path dir, S3Server s3, int n, List<String> jvmOptions, String... extraArgs) {
        this.dir = dir;
        this.s3 = s3;
        this.nodes = new ServerProcess[n];
        this.jvmOptions = jvmOptions;
        this.extraArgs = extraArgs;
    }

    /** Starts the S3 server and {@code n} nodes (in parallel: each takes a few seconds to start). */
    public static ClusterNodes start(Path dir, int n, String... extraArgs) throws Exception {
        return start(dir, n, List.of("-Xmx384m"), extraArgs);
    }

    /** As {@link #start(Path, int, String...)}, with JVM options for every node (a heap limit, say). */
    public static ClusterNodes start(Path dir, int n, List<String> jvmOptions, String... extraArgs) throws Exception {
        S3Server s3 = new S3Server();
        s3.start();
        ClusterNodes cluster = new ClusterNodes(dir, s3, n, jvmOptions, extraArgs);
        try {
            List<Thread> starting = new ArrayList<>();
            List<Exception> failures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int node = i;
                Thread t = new Thread(() -> {
                    try {
                        cluster.startNode(node);
                    } catch (Exception e) {
                        synchronized (failures) {
                            failures.add(e);
                        }
                    }
                });
                t.start();
                starting.add(t);
            }
            for (Thread t : starting) {
                t.join();
            }
            if (!failures.isEmpty()) {
                throw failures.get(0);
            }
            return cluster;
        } catch (Exception | Error e) {
            cluster.close();
            throw e;
        }
    }

    /** (Re)starts node {@code i} on its own data folder. */
    public ServerProcess startNode(int i) throws Exception {
        List<String> args = new ArrayList<>(List.of("--s3-bucket", S3Server.BUCKET, "--s3-endpoint", s3.endpoint().toString(),
                "--s3-region", "us-east-1", "--s3-path-style", "true", "--lifecycle-interval", "1s"));
        args.addAll(List.of(extraArgs));
        List<String> jvm = new ArrayList<>(jvmOptions);
        // The AWS SDK's default credential chain reads these system properties first.
        jvm.add("-Daws.accessKeyId=" + s3.accessKey());
        jvm.add("-Daws.secretAccessKey=" + s3.secretKey());
        Path data = Files.createDirectories(dir.resolve("node" + i));
        Path log = dir.resolve("node" + i + "-" + System.nanoTime() + ".log");
        ServerProcess p = ServerProcess.start(data, log, jvm, args.toArray(String[]::new));
        synchronized (nodes) {
            nodes[i] = p;
        }
        return p;
    }

    public ServerProcess node(int i) {
        synchronized (nodes) {
            return nodes[i];
        }
    }

    public int size() {
        return nodes.length;
    }

    public S3Server s3() {
        return s3;
    }

    /** The logs of every node, for failure messages. */
    public String logs() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < nodes.length; i++) {
            try {
                ServerProcess p = node(i);
                if (p != null) {
                    String log = p.log();
                    sb.append("\n--- node ").append(i).append(" (last 4000 chars) ---\n")
                            .append(log.substring(Math.max(0, log.length() - 4000)));
                }
            } catch (Exception e) {
                sb.append("\n(node ").append(i).append(" log unreadable: ").append(e).append(')');
            }
        }
        return sb.toString();
    }

    @Override
    public void close() throws Exception {
        for (int i = 0; i < nodes.length; i++) {
            ServerProcess p = node(i);
            if (p != null) {
                p.close();
            }
        }
        s3.close();
    }
}
