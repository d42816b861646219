package dev.layercache.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.layercache.server.testing.TestServer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The image's health check against a real node, a closed port, a node saying 503 and one that never answers. */
class HealthCheckTest {
    @RegisterExtension
    static final TestServer server = new TestServer();

    private final ByteArrayOutputStream output = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(output, true, StandardCharsets.UTF_8);

    private String said() {
        return output.toString(StandardCharsets.UTF_8);
    }

    @Test
    void aServingNodeIsHealthy() {
        String port = Integer.toString(server.port());
        assertEquals(0, HealthCheck.run(new String[] {port}, Map.of(), out), this::said);
        assertTrue(said().contains("answered 200"), said());
        // As in the image: the port from the environment, the bind address of all interfaces.
        assertEquals(0, HealthCheck.run(new String[0],
                Map.of("LAYERCACHE_HTTP_PORT", port, "LAYERCACHE_BIND_ADDRESS", "0.0.0.0"), out), this::said);
        // The argument wins over the environment.
        assertEquals(0, HealthCheck.run(new String[] {port}, Map.of("LAYERCACHE_HTTP_PORT", "1"), out), this::said);
    }

    @Test
    void aNodeWithTlsIsHealthy(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        dev.layercache.server.testing.TestPki pki = dev.layercache.server.testing.TestPki.create(dir.resolve("pki"),
                "server");
        dev.layercache.server.testing.TestPki.Issued cert = pki.server("cache.example", 1);
        dev.layercache.server.config.ServerConfig config = dev.layercache.server.config.ServerConfig
                .forTesting(dir.resolve("data"))
                .withTls(new dev.layercache.server.config.ServerConfig.Tls(cert.cert(), cert.key(), null));
        try (LayerCacheServer node = LayerCacheServer.start(config)) {
            assertEquals(0, HealthCheck.run(new String[] {Integer.toString(node.httpPort())}, Map.of(), out),
                    this::said);
            assertTrue(said().contains("answered 200"), said());
        }
    }

    @Test
    void aClosedPortIsUnhealthy() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        assertEquals(1, HealthCheck.run(new String[] {Integer.toString(closed)}, Map.of(), out), this::said);
        assertTrue(said().startsWith("not ready"), said());
    }

    @Test
    void anythingButTwoHundredIsUnhealthy() throws Exception {
        HttpServer stopping = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        stopping.createContext("/readyz", exchange -> {
            exchange.sendResponseHeaders(503, -1);
            exchange.close();
        });
        stopping.start();
        try {
            String port = Integer.toString(stopping.getAddress().getPort());
            assertEquals(1, HealthCheck.run(new String[] {port}, Map.of(), out), this::said);
            assertTrue(said().contains("answered 503"), said());
        } finally {
            stopping.stop(0);
        }
    }

    @Test
    void aNodeThatNeverAnswersIsUnhealthyWithinTheTimeout() throws Exception {
        // The kernel accepts the connection (backlog); nobody ever reads or answers.
        try (ServerSocket silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            long start = System.nanoTime();
            int code = HealthCheck.run(new String[] {Integer.toString(silent.getLocalPort())}, Map.of(), out);
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertEquals(1, code, this::said);
            assertTrue(millis >= HealthCheck.TIMEOUT.toMillis() - 100 && millis < HealthCheck.TIMEOUT.toMillis() + 1500,
                    "gave up after " + millis + " ms: " + said());
        }
    }

    @Test
    void aPortThatIsNoPortIsUnhealthy() {
        assertEquals(1, HealthCheck.run(new String[0], Map.of("LAYERCACHE_HTTP_PORT", "0"), out), this::said);
        assertEquals(1, HealthCheck.run(new String[] {"http"}, Map.of(), out), this::said);
        assertTrue(said().contains("no HTTP port"), said());
    }

    @Test
    void checksLoopbackUnlessBoundToOneAddress() {
        assertEquals("127.0.0.1", HealthCheck.host(""));
        assertEquals("127.0.0.1", HealthCheck.host("0.0.0.0"));
        assertEquals("127.0.0.1", HealthCheck.host("::"));
        assertEquals("10.1.2.3", HealthCheck.host("10.1.2.3"));
        assertEquals("[::1]", HealthCheck.host("::1"));
    }
}
