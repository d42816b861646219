package dev.layercache.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.ServerProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The real {@code Main} in a process of its own: exit codes, one-line errors and the start-up log. */
@Timeout(120)
class MainTest {
    @TempDir
    Path dir;

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) throws Exception {
        Process p = new ProcessBuilder(ServerProcess.command(args)).start();
        p.getOutputStream().close();
        // Small outputs: read one, then the other, without risk of a full pipe.
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "did not exit");
        return new Run(p.exitValue(), out, err);
    }

    @Test
    void aMistypedFlagExits2WithOneLineNotTheHelp() throws Exception {
        Run r = run("-http-port", "5001");
        assertEquals(2, r.exit(), r.toString());
        assertEquals("", r.out());
        assertEquals("layercache: unknown option -http-port; did you mean --http-port?\n", r.err());
        Run help = run("--help");
        assertEquals(0, help.exit(), help.toString());
        assertTrue(help.out().startsWith("Usage: java -jar layercache-server.jar"), help.out());
    }

    @Test
    void aMissingConfigFileIsSaidSo() throws Exception {
        Run r = run("--config", "nothere.yaml");
        assertEquals(2, r.exit(), r.toString());
        assertEquals("layercache: config file nothere.yaml does not exist\n", r.err());
    }

    /** The node listens on every interface with access control off: said, with the line that turns it on. */
    @Test
    void anOpenNodeBeyondLoopbackWarnsWithTheAddressAsWritten() throws Exception {
        Path log = dir.resolve("node.log");
        List<String> command = new ArrayList<>(ServerProcess.command("--data-dir", dir.resolve("data").toString(),
                "--http-port", "0", "--grpc-port", "0", "--bind-address", "0.0.0.0"));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            String text = await(log, p);
            Matcher http = Pattern.compile("HTTP \\(OCI Distribution\\) listening on 0\\.0\\.0\\.0:(\\d+) ")
                    .matcher(text);
            assertTrue(http.find(), text);
            assertTrue(Pattern.compile("gRPC \\(native cache API\\) listening on 0\\.0\\.0\\.0:\\d+ ").matcher(text)
                    .find(), text);
            assertTrue(!text.contains("[0:0:0:0:0:0:0:0]") && !text.contains("/0.0.0.0"), text);
            assertTrue(text.contains("WARN LayerCacheServer - access control is off and the node listens on 0.0.0.0"),
                    text);
            assertTrue(text.contains("--auth-htpasswd FILE or --auth-tokens FILE"), text);
        } finally {
            p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        // On loopback only, no warning.
        try (ServerProcess local = ServerProcess.start(dir.resolve("data2"), dir.resolve("local.log"))) {
            assertTrue(local.log().contains("listening on 127.0.0.1:" + local.port() + " "), local.log());
            assertTrue(!local.log().contains("access control is off"), local.log());
        }
    }

    /**
     * {@code --event-loops} is how many threads serve the connections of both ports: eight open
     * connections, spread over the loops in turn, start every loop there is and no more.
     */
    @Test
    void theEventLoopsAreAsManyAsSet() throws Exception {
        Path tasks = Path.of("/proc/self/task");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(tasks), "threads are counted in /proc (Linux)");
        try (ServerProcess node = ServerProcess.start(dir.resolve("loops"), dir.resolve("loops.log"),
                "--event-loops", "3")) {
            assertTrue(Pattern.compile("listening on 127\\.0\\.0\\.1:" + node.port()
                    + " \\(plain HTTP, (epoll|nio) transport, 3 event loops shared with gRPC\\)").matcher(node.log()).find(),
                    node.log());
            List<java.net.Socket> open = new ArrayList<>();
            try {
                for (int i = 0; i < 8; i++) {
                    java.net.Socket s = new java.net.Socket("127.0.0.1", node.port());
                    open.add(s);
                    s.getOutputStream().write("GET /v2/ HTTP/1.1\r\nHost: test\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    String status = new java.io.BufferedReader(new java.io.InputStreamReader(s.getInputStream(),
                            StandardCharsets.US_ASCII)).readLine();
                    assertEquals("HTTP/1.1 200 OK", status);
                }
                assertEquals(3, threadsNamed(node.process().pid(), "layercache-loop"));
            } finally {
                for (java.net.Socket s : open) {
                    s.close();
                }
            }
        }
    }

    /** Threads of process {@code pid} whose name (as the kernel keeps it, 15 characters) is {@code name}. */
    private static long threadsNamed(long pid, String name) throws IOException {
        try (var threads = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            return threads.filter(t -> {
                try {
                    return Files.readString(t.resolve("comm")).strip().equals(name);
                } catch (IOException gone) {
                    return false; // the thread ended meanwhile
                }
            }).count();
        }
    }

    private static String await(Path log, Process p) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            String text = Files.exists(log) ? Files.readString(log) : "";
            if (text.contains("layercache ready")) {
                return text;
            }
            if (!p.isAlive()) {
                throw new AssertionError("exited with " + p.exitValue() + ":\n" + text);
            }
            Thread.sleep(50);
        }
        throw new AssertionError("not ready within 60 s:\n" + Files.readString(log));
    }
}
