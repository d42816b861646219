package dev.layercache.server.process;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.ServerProcess;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The server as an operator runs it: exit codes, health endpoints, SIGTERM. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class LifecycleTest {
    @TempDir
    Path dir;

    @Test
    void invalidConfigurationExitsWithCodeTwoAndOneLine() throws Exception {
        Process p = new ProcessBuilder(ServerProcess.command("--http-port", "not-a-port",
                "--data-dir", dir.resolve("d").toString())).redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(2, p.exitValue(), out);
        assertEquals(1, out.lines().count(), out);
        assertTrue(out.contains("http-port"), out);
    }

    @Test
    void environmentVariablesConfigureTheServer() throws Exception {
        ProcessBuilder pb = new ProcessBuilder(ServerProcess.command()).redirectErrorStream(true);
        pb.environment().put("LAYERCACHE_MAX_MANIFEST_SIZE", "3MiB");
        Process p = pb.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(2, p.exitValue(), out);
        assertTrue(out.contains("LAYERCACHE_MAX_MANIFEST_SIZE"), out);
    }

    @Test
    void healthAndReadiness() throws Exception {
        try (ServerProcess server = ServerProcess.start(dir.resolve("data"), dir.resolve("log"))) {
            // Started with no budget settings: the log names the budget in force.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!server.log().contains("disk budget: max-disk-size 60% (") && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertTrue(server.log().contains("disk budget: max-disk-size 60% ("), server.log());
            assertTrue(server.log().contains("min-free-disk 10% ("), server.log());
            assertTrue(server.log().contains("budget in force "), server.log());
            assertEquals(200, Http.exchange(server.port(), "GET", "/healthz", List.of(), null).status());
            assertEquals(200, Http.exchange(server.port(), "GET", "/readyz", List.of(), null).status());
            Http.Reply base = Http.exchange(server.port(), "GET", "/v2/", List.of(), null);
            assertEquals(200, base.status());
            assertEquals("registry/2.0", base.header("Docker-Distribution-Api-Version"));
        }
    }

    private static boolean isEmpty(Path dir) throws java.io.IOException {
        try (var files = Files.list(dir)) {
            return files.findAny().isEmpty();
        }
    }

    @Test
    void sigtermFinishesTheRequestInProgressThenStops() throws Exception {
        Path data = dir.resolve("data");
        byte[] blob = new byte[4 << 20];
        new Random(1).nextBytes(blob);
        String digest = Registry.sha256(blob);
        try (ServerProcess server = ServerProcess.start(data, dir.resolve("first.log"))) {
            int port = server.port();
            try (Socket s = new Socket("127.0.0.1", port)) {
                s.setSoTimeout(30_000);
                OutputStream out = s.getOutputStream();
                out.write(("POST /v2/term/app/blobs/uploads/?digest=" + digest + " HTTP/1.1\r\nHost: x\r\n"
                        + "Content-Length: " + blob.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(blob, 0, blob.length / 2);
                out.flush();
                // The request is in progress once its upload file exists (the server has read it).
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (isEmpty(data.resolve("uploads")) && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                assertFalse(isEmpty(data.resolve("uploads")), "the server never started the upload");

                server.process().destroy(); // SIGTERM while the upload is half sent
                Thread.sleep(500);
                assertThrows(ConnectException.class, () -> new Socket("127.0.0.1", port).close(),
                        "a stopping server accepts no new connections");
                assertTrue(server.process().isAlive(), "the server waits for the request in progress");

                out.write(blob, blob.length / 2, blob.length - blob.length / 2);
                out.flush();
                InputStream in = s.getInputStream();
                Http.Reply reply = Http.read(in, false);
                assertEquals(201, reply.status(), reply.text());
            }
            assertTrue(server.process().waitFor(60, TimeUnit.SECONDS));
            assertTrue(server.log().contains("layercache stopped"), server.log());
        }
        assertFalse(Files.exists(data.resolve("metadata").resolve("LOCK.held")));
        // RocksDB was closed cleanly: a new process opens the same data and serves the blob.
        try (ServerProcess server = ServerProcess.start(data, dir.resolve("second.log"))) {
            assertArrayEquals(blob, new Registry(server.port()).get("/v2/term/app/blobs/" + digest).body());
        }
    }
}
