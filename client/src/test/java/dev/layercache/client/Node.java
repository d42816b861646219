package dev.layercache.client;

import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import java.net.BindException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A real layercache node in this JVM on 127.0.0.1, which can be stopped and started again on
 * the same data and the same ports (for a client that keeps its target across a restart).
 */
final class Node implements AutoCloseable {
    private final Path dataDir;
    private LayerCacheServer server;
    private int httpPort;
    private int grpcPort;

    private Node(Path dataDir) {
        this.dataDir = dataDir;
    }

    static Node start(Path dataDir) throws Exception {
        Node n = new Node(dataDir);
        n.server = LayerCacheServer.start(ServerConfig.forTesting(dataDir));
        n.httpPort = n.server.httpPort();
        n.grpcPort = n.server.grpcPort();
        return n;
    }

    /** {@code 127.0.0.1:GRPC_PORT}. */
    String target() {
        return "127.0.0.1:" + grpcPort;
    }

    int grpcPort() {
        return grpcPort;
    }

    int httpPort() {
        return httpPort;
    }

    Path dataDir() {
        return dataDir;
    }

    /** A plaintext client of this node. */
    LayerCacheClient client() {
        return client(ClientListener.NONE);
    }

    LayerCacheClient client(ClientListener listener) {
        return LayerCacheClient.builder().target(target()).plaintext().listener(listener).build();
    }

    synchronized void stop() {
        if (server != null) {
            server.close();
            server = null;
        }
    }

    /** Starts again on the same data and ports (retrying while the old sockets linger). */
    synchronized void startAgain() throws Exception {
        if (server != null) {
            return;
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (true) {
            try {
                server = LayerCacheServer.start(ServerConfig.forTesting(dataDir).withPorts(httpPort, grpcPort));
                return;
            } catch (Exception e) {
                if (!(rootCause(e) instanceof BindException) || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(100);
            }
        }
    }

    void restart() throws Exception {
        stop();
        startAgain();
    }

    @Override
    public void close() {
        stop();
    }

    private static Throwable rootCause(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }
}
