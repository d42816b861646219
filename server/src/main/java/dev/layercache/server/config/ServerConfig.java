package dev.layercache.server.config;

import java.nio.file.Path;
import java.time.Duration;

/** The validated configuration of a node. Built by {@link ConfigLoader}; never invalid. */
public record ServerConfig(
        int httpPort,
        int grpcPort,
        String bindAddress,
        Path dataDir,
        long maxManifestSize,
        long maxHeaderSize,
        int blockingThreads,
        Duration shutdownGrace,
        Metrics metrics) {

    /**
     * What the node counts.
     *
     * @param enabled        false turns counting and the /metrics, /api/v1/stats and /ui/ paths off
     * @param namespaceDepth leading path components of a repository that make its namespace label
     * @param maxNamespaces  distinct namespace labels at most (Prometheus cardinality); later ones are "other"
     */
    public record Metrics(boolean enabled, int namespaceDepth, int maxNamespaces) {
        public static final Metrics DEFAULT = new Metrics(true, 1, 100);
    }

    /**
     * A configuration for tests and embedding: data in {@code dataDir}, both ports chosen by the
     * system, loopback only, everything else default.
     */
    public static ServerConfig forTesting(Path dataDir) {
        return new ServerConfig(0, 0, "127.0.0.1", dataDir, 4L << 20, 16L << 10, 8, Duration.ofSeconds(5),
                Metrics.DEFAULT);
    }

    /** This configuration with other ports (0: any free port). */
    public ServerConfig withPorts(int http, int grpc) {
        return new ServerConfig(http, grpc, bindAddress, dataDir, maxManifestSize, maxHeaderSize, blockingThreads,
                shutdownGrace, metrics);
    }

    /** This configuration with other metrics settings. */
    public ServerConfig withMetrics(Metrics other) {
        return new ServerConfig(httpPort, grpcPort, bindAddress, dataDir, maxManifestSize, maxHeaderSize,
                blockingThreads, shutdownGrace, other);
    }
}
