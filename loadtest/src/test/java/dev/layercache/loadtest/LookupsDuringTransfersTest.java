package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.ServerProcess;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The {@code grpc-transfers} benchmark run briefly (2 MiB blobs, one round, one second a mode)
 * against real server processes: the lookups are measured in both modes without a failure, and
 * with {@code --transfers-to} the blobs move through the other node, not the one looked up.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class LookupsDuringTransfersTest {
    private static final long BLOB = 2L << 20;

    @TempDir
    static Path work;

    static ServerProcess looked;
    static ServerProcess sink;

    @BeforeAll
    static void start() throws Exception {
        looked = ServerProcess.start(Files.createDirectories(work.resolve("looked")), work.resolve("looked.log"));
        sink = ServerProcess.start(Files.createDirectories(work.resolve("sink")), work.resolve("sink.log"));
    }

    @AfterAll
    static void stop() throws Exception {
        for (ServerProcess p : new ServerProcess[] {looked, sink}) {
            if (p != null) {
                p.close();
            }
        }
    }

    @Test
    void theFloorMovesTheBlobsThroughAnotherNode() throws Exception {
        double lookedBefore = receivedBytes(looked);
        double sinkBefore = receivedBytes(sink);
        run("floor", "--transfers-to", "127.0.0.1:" + sink.grpcPort());

        // The looked-up node got its entries' layer and the blob the readers read (prepared once)
        // and nothing of the writers' fresh blobs; the sink got the read blob and those.
        double lookedGot = receivedBytes(looked) - lookedBefore;
        double sinkGot = receivedBytes(sink) - sinkBefore;
        assertTrue(lookedGot <= BLOB + 4096, "the looked-up node received " + lookedGot + " bytes");
        assertTrue(sinkGot > BLOB, "the sink received only " + sinkGot + " bytes");
    }

    @Test
    void withoutItTheLookedUpNodeCarriesTheTransfers() throws Exception {
        double before = receivedBytes(looked);
        run("plain");
        assertTrue(receivedBytes(looked) - before > BLOB, "no fresh blob reached the looked-up node");
    }

    private static void run(String name, String... more) throws Exception {
        Path json = work.resolve(name + ".json");
        List<String> args = new ArrayList<>(List.of("--target", "node=127.0.0.1:" + looked.grpcPort(),
                "--server-pid", "" + looked.process().pid(), "--rounds", "1", "--duration", "1", "--warmup", "0",
                "--keys", "10", "--blob-mib", "2", "--json", json.toString()));
        args.addAll(List.of(more));
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        PrintStream original = System.out;
        int exit;
        System.setOut(new PrintStream(stdout, true, StandardCharsets.UTF_8));
        try {
            exit = new CommandLine(new LookupsDuringTransfers()).execute(args.toArray(String[]::new));
        } finally {
            System.setOut(original);
        }
        assertEquals(0, exit, stdout.toString(StandardCharsets.UTF_8) + looked.log());
        int measured = 0;
        for (JsonNode row : new ObjectMapper().readTree(json.toFile()).get("rows")) {
            if (row.has("lookups_per_s")) {
                measured++;
                assertTrue(row.get("lookups_per_s").asDouble() > 0, row.toString());
                assertEquals(0, row.get("failed").asLong(), row.toString());
                assertTrue(row.get("p99_ms").asDouble() > 0, row.toString());
            }
        }
        assertEquals(2, measured, "one quiet and one busy measurement");
    }

    private static double receivedBytes(ServerProcess node) throws Exception {
        String text = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + node.port() + "/metrics")).build(), BodyHandlers.ofString()).body();
        return new PrometheusText(text).value("layercache_received_bytes_total", "surface", "grpc");
    }
}
