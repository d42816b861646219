package dev.layercache.server.testing;

import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Comparator;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * A real node in this JVM for tests: real RocksDB and files in a fresh temporary folder, HTTP on
 * 127.0.0.1 at a free port. Register as a static field with {@code @RegisterExtension} for one
 * server per class, or as an instance field for one per test.
 *
 * <p>The top height of the tests: a test of what the API answers, with no need of a socket, a
 * timeout, TLS or a restart, runs on {@link TestServices} (the same services and pipeline, without
 * ports or threads of their own).
 */
public final class TestServer extends PerClassOrPerTest {
    private final UnaryOperator<ServerConfig> customize;
    private final Clock clock;
    private Path dataDir;
    private LayerCacheServer server;

    /** A node with the test defaults ({@link ServerConfig#forTesting}). */
    public TestServer() {
        this(UnaryOperator.identity());
    }

    /** A node whose test configuration is changed by {@code customize} (say, other metrics settings). */
    public TestServer(UnaryOperator<ServerConfig> customize) {
        this(customize, Clock.systemUTC());
    }

    /** A node that tells time by {@code clock} (a {@link TestClock} to move it forward). */
    public TestServer(UnaryOperator<ServerConfig> customize, Clock clock) {
        this.customize = customize;
        this.clock = clock;
    }

    @Override
    public void start() throws Exception {
        if (dataDir == null) {
            dataDir = Files.createTempDirectory("layercache-test");
        }
        server = LayerCacheServer.start(customize.apply(ServerConfig.forTesting(dataDir)), clock);
    }

    /** Stops the server gracefully and starts it again on the same data (a new port). */
    public void restart() throws Exception {
        server.close();
        start();
    }

    /** Stops the server gracefully and keeps its data, for a look at it or a {@link #start} again. */
    public void stopKeepingData() {
        if (server != null) {
            server.close();
            server = null;
        }
    }

    @Override
    public void stop() {
        if (server != null) {
            server.close();
            server = null;
        }
        if (dataDir != null) {
            deleteRecursively(dataDir);
            dataDir = null;
        }
    }

    public int port() {
        return server.httpPort();
    }

    /** The running node itself. */
    public LayerCacheServer server() {
        return server;
    }

    /** The port of the gRPC API. */
    public int grpcPort() {
        return server.grpcPort();
    }

    /** {@code 127.0.0.1:PORT}, as builders write a registry host. */
    public String hostPort() {
        return "127.0.0.1:" + port();
    }

    public URI uri(String path) {
        return URI.create("http://" + hostPort() + path);
    }

    public Path dataDir() {
        return dataDir;
    }

    public static void deleteRecursively(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
