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
        Duration shutdownGrace) {

    /**
     * A configuration for tests and embedding: data in {@code dataDir}, both ports chosen by the
     * system, loopback only, everything else default.
     */
    public static ServerConfig forTesting(Path dataDir) {
        return new ServerConfig(0, 0, "127.0.0.1", dataDir, 4L << 20, 16L << 10, 8, Duration.ofSeconds(5));
    }

    /** This configuration with other ports (0: any free port). */
    public ServerConfig withPorts(int http, int grpc) {
        return new ServerConfig(http, grpc, bindAddress, dataDir, maxManifestSize, maxHeaderSize, blockingThreads,
                shutdownGrace);
    }
}
