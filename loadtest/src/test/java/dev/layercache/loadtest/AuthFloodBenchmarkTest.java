package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.ServerProcess;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The {@code auth-flood} benchmark (what {@code event-loops.sh} runs first) run briefly against a
 * real server process with access control on: it writes the htpasswd file the node reads, the
 * authorised client's HEADs are all answered 200 in every mode, and the flood's guesses are all
 * refused with 401, never let in. Wrong credentials for the authorised client stop it with a clear
 * error instead of measuring refusals (checked first: after a flood the node answers that address's
 * next wrong password with 429, not 401).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AuthFloodBenchmarkTest {
    @TempDir
    static Path work;

    static ServerProcess node;

    @BeforeAll
    static void start() throws Exception {
        Path htpasswd = work.resolve("htpasswd");
        assertEquals(0, new CommandLine(new AuthFloodBenchmark()).execute(
                "--write-htpasswd", htpasswd.toString(), "--cost", "4"));
        assertTrue(Files.readString(htpasswd).startsWith("alice:$2y$04$"), Files.readString(htpasswd));
        node = ServerProcess.start(Files.createDirectories(work.resolve("data")), work.resolve("node.log"),
                "--auth-htpasswd", htpasswd.toString());
    }

    @AfterAll
    static void stop() throws Exception {
        if (node != null) {
            node.close();
        }
    }

    @Test
    @Order(2)
    void theAuthorisedClientIsAnsweredInEveryModeAndEveryGuessIsRefused() throws Exception {
        Path json = work.resolve("auth-flood.json");
        Run run = run("--json", json.toString());
        assertEquals(0, run.exit, run.out + node.log());

        List<String> modes = List.of("no flood", "a new wrong password every request", "one wrong password repeated");
        List<String> measured = new ArrayList<>();
        for (JsonNode row : new ObjectMapper().readTree(json.toFile()).get("rows")) {
            String name = row.get("benchmark").asText();
            if (!name.endsWith("round 1")) {
                continue; // the medians repeat the round's figures
            }
            measured.add(name);
            assertTrue(row.get("head_per_s").asDouble() > 0, row.toString());
            assertEquals(0, row.get("head_failed").asLong(), row.toString());
            assertTrue(row.get("server_cpu_s_per_s").asDouble() > 0, row.toString());
            if (!name.contains("no flood")) {
                assertTrue(row.path("flood_401").asLong() > 0, "the flood was answered: " + row);
                assertFalse(row.has("flood_200"), "a wrong password was let in: " + row);
                assertEquals(0, row.path("flood_errors").asLong(-1), row.toString());
            }
        }
        assertEquals(modes.stream().map(m -> "node, " + m + ", round 1").toList(), measured);
        assertTrue(run.out.contains("HEAD of an authorised client during wrong-password floods"), run.out);
    }

    @Test
    @Order(1)
    void wrongCredentialsForTheAuthorisedClientStopTheRun() throws Exception {
        Run run = run("--password", "not-alices-password");
        assertNotEquals(0, run.exit, run.out);
        assertTrue(run.out.contains("pushing the blob answered 401"), run.out);
    }

    private record Run(int exit, String out) {
    }

    private static Run run(String... more) {
        List<String> args = new ArrayList<>(List.of("--target", "node=http://127.0.0.1:" + node.port(),
                "--server-pid", "" + node.process().pid(), "--rounds", "1", "--duration", "1", "--warmup", "0",
                "--concurrency", "2", "--flood-connections", "2", "--flood-rate", "20"));
        args.addAll(List.of(more));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream original = System.out;
        PrintStream originalErr = System.err;
        PrintStream capture = new PrintStream(out, true, StandardCharsets.UTF_8);
        System.setOut(capture);
        System.setErr(capture);
        try {
            int exit = new CommandLine(new AuthFloodBenchmark()).execute(args.toArray(String[]::new));
            return new Run(exit, out.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(original);
            System.setErr(originalErr);
        }
    }
}
