package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.ServerProcess;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The {@code grpc} benchmark run briefly (an 8 MiB blob, two rounds, one second of lookups)
 * against a real layercache server process: every figure it reports is there and positive, its
 * warm-up reads count, and every measured read got the whole blob (the benchmark fails when a
 * read comes back short), next to curl's OCI download of the same blob and the gRPC floor's
 * ({@link GrpcFloorServer}) stream of as many bytes.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GrpcBenchmarkTest {
    @TempDir
    static Path work;

    static ServerProcess server;

    @BeforeAll
    static void start() throws Exception {
        server = ServerProcess.start(Files.createDirectories(work.resolve("data")), work.resolve("server.log"));
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void everyFigureIsMeasured() throws Exception {
        Path json = work.resolve("grpc.json");
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        PrintStream original = System.out;
        int exit;
        System.setOut(new PrintStream(stdout, true, StandardCharsets.UTF_8));
        io.grpc.Server floor = GrpcFloorServer.start(0);
        try {
            exit = new CommandLine(new GrpcBenchmark()).execute("--target", "127.0.0.1:" + server.grpcPort(),
                    "--http", "http://127.0.0.1:" + server.port(), "--server-pid", "" + server.process().pid(),
                    "--rounds", "2", "--duration", "1", "--warmup", "0", "--concurrency", "4", "--keys", "10",
                    "--blob-mib", "8", "--read-warmup-mib", "12", "--floor", "127.0.0.1:" + floor.getPort(),
                    "--json", json.toString());
        } finally {
            System.setOut(original);
            GrpcFloorServer.stop(floor);
        }
        assertEquals(0, exit, server.log());

        List<String> names = new ArrayList<>();
        for (JsonNode row : new ObjectMapper().readTree(json.toFile()).get("rows")) {
            String name = row.get("benchmark").asText();
            names.add(name);
            if (name.startsWith("GetEntry, round")) {
                assertTrue(row.get("lookups_per_s").asDouble() > 0, row.toString());
                assertEquals(0, row.get("failed").asLong(), row.toString());
            } else if (name.startsWith("WriteBlob 8 MiB, run")) {
                assertTrue(row.get("MB_per_s").asDouble() > 0, row.toString());
                assertFalse(row.get("already_existed").asBoolean(), "each round writes a new blob: " + row);
                assertTrue(row.get("server_cpu_s_per_GiB").asDouble() >= 0, row.toString());
            } else if (name.startsWith("ReadBlob 8 MiB, run")) {
                assertTrue(row.get("MB_per_s").asDouble() > 0, row.toString());
                assertTrue(row.get("client_cpu_s_per_GiB").asDouble() >= 0, row.toString());
                if (Files.isExecutable(Path.of("/usr/bin/curl"))) {
                    assertTrue(row.get("oci_download_curl_MB_per_s").asDouble() > 0, row.toString());
                }
                // The floor's read of the same size came whole (the benchmark fails otherwise).
                assertTrue(row.get("grpc_floor_MB_per_s").asDouble() > 0, row.toString());
            } else if (name.startsWith("ReadBlob 8 MiB, median")) {
                assertTrue(row.get("ratio_to_grpc_floor").asDouble() > 0, row.toString());
            } else if (name.startsWith("WriteBlob 8 MiB, median")) {
                assertTrue(row.get("single_core_sha256_MB_per_s").asDouble() > 0, row.toString());
                assertTrue(row.get("share_of_sha256_rate").asDouble() > 0, row.toString());
            }
        }
        assertEquals(List.of("GetEntry, round 1", "GetEntry, round 2", "GetEntry, median of 2 rounds",
                "WriteBlob 8 MiB, run 1", "WriteBlob 8 MiB, run 2", "WriteBlob 8 MiB, median of 2 runs",
                "ReadBlob 8 MiB, run 1", "ReadBlob 8 MiB, run 2", "ReadBlob 8 MiB, median of 2 runs"), names);
        // Two warm-up reads (12 MiB in whole reads of 8) and two measured ones, each of the whole
        // blob: what the server counts as sent over gRPC (lookups send no blob bytes).
        assertEquals(4L * (8 << 20), servedOverGrpc());
        String markdown = stdout.toString(StandardCharsets.UTF_8);
        assertTrue(markdown.contains("ReadBlob 8 MiB, median of 2 runs"), markdown);
    }

    private static long servedOverGrpc() throws Exception {
        HttpResponse<String> metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + server.port() + "/metrics")).build(), BodyHandlers.ofString());
        Matcher m = Pattern.compile("(?m)^layercache_served_bytes_total\\{surface=\"grpc\"} (\\S+)$")
                .matcher(metrics.body());
        assertTrue(m.find(), metrics.body());
        return (long) Double.parseDouble(m.group(1));
    }
}
