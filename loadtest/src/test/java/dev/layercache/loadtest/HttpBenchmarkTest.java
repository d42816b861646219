package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.ServerProcess;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The {@code http} benchmark run briefly (tiny sizes, one round of one second) with every workload
 * against a real layercache server process, the same node also standing in for the plain web
 * server (its blob URLs are static files). Checks what the figures claim: each is positive, and
 * what the uploads and the small-blobs workload acknowledged is on the server, byte for byte,
 * checked here by reading it back and hashing it.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HttpBenchmarkTest {
    private static final String REPO = "bench/test";

    @TempDir
    static Path work;

    static ServerProcess server;
    static URI base;

    @BeforeAll
    static void start() throws Exception {
        server = ServerProcess.start(Files.createDirectories(work.resolve("data")), work.resolve("server.log"));
        base = URI.create("http://127.0.0.1:" + server.port());
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void everyWorkloadMeasuresAndWhatWasAcknowledgedIsStored() throws Exception {
        // The "static" files: a download file and a 4 KiB file, pushed here, served at their blob URLs.
        Path download = work.resolve("download.bin");
        String downloadDigest = RandomContent.file(download, 8L << 20);
        byte[] small = RandomContent.bytes(4096);
        String smallDigest = RandomContent.digestOf(small);
        try (HttpConnection c = new HttpConnection(base)) {
            assertEquals(downloadDigest, Oci.ensureBlob(c, "static/files", download));
            Oci.pushBlob(c, "static/files", small, smallDigest);
        }
        Path json = work.resolve("http.json");
        Path scratch = Files.createDirectories(work.resolve("scratch"));
        HttpBenchmark bench = new HttpBenchmark();
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        PrintStream original = System.out;
        int exit;
        System.setOut(new PrintStream(stdout, true, StandardCharsets.UTF_8));
        try {
            exit = new CommandLine(bench).execute("--target", "lc=" + base, "--static", "web=" + base,
                    "--server-pid", server.process().pid() + "," + server.process().pid(),
                    "--repository", REPO, "--rounds", "1", "--duration", "1", "--warmup", "0", "--concurrency", "4",
                    "--tags", "20", "--blob-mib", "8", "--chunk-mib", "2", "--small-blobs", "100",
                    "--download-file", download.toString(), "--download-seconds", "0.2",
                    "--static-download", Oci.blobPath("static/files", downloadDigest),
                    "--static-small", Oci.blobPath("static/files", smallDigest),
                    "--work-dir", scratch.toString(), "--json", json.toString());
        } finally {
            System.setOut(original);
        }
        assertEquals(0, exit, server.log());

        JsonNode result = new ObjectMapper().readTree(json.toFile());
        Map<String, String> primary = Map.of("head-blob", "requests_per_s", "get-manifest", "requests_per_s",
                "tags-list", "requests_per_s", "static-small", "requests_per_s", "upload-monolithic", "MB_per_s",
                "upload-chunked", "MB_per_s", "download", "MB_per_s", "small-blobs", "blobs_per_s");
        List<String> seen = new ArrayList<>();
        for (JsonNode run : result.get("rounds")) {
            String w = run.get("workload").asText();
            String target = run.get("target").asText();
            JsonNode f = run.get("figures");
            seen.add(w + "@" + target);
            assertTrue(f.get(primary.get(w)).asDouble() > 0, w + " on " + target + ": " + f);
            if (f.has("failed")) {
                assertEquals(0, f.get("failed").asLong(), w + " on " + target + ": " + f);
            }
            String cpu = firstCpuFigure(f);
            assertNotNull(cpu, "server CPU of " + w + " on " + target + ": " + f);
            assertTrue(f.get(cpu).asDouble() >= 0, cpu);
            if (primary.get(w).equals("requests_per_s")) {
                assertTrue(f.get("p99_ms").asDouble() > 0, f.toString());
                assertTrue(f.get("max_ms").asDouble() >= f.get("p99_ms").asDouble(), f.toString());
            }
        }
        assertEquals(List.of("head-blob@lc", "get-manifest@lc", "tags-list@lc", "upload-monolithic@lc",
                "upload-chunked@lc", "download@lc", "download@web", "small-blobs@lc", "static-small@web"), seen);
        assertEquals(9, result.get("summary").size());
        String markdown = stdout.toString(StandardCharsets.UTF_8);
        assertTrue(markdown.contains("### upload-chunked") && markdown.contains("| lc |"), markdown);

        // Uploads in both modes left the blob whose digest they announced, whole.
        for (JsonNode run : result.get("rounds")) {
            if (run.get("workload").asText().startsWith("upload-")) {
                String digest = run.get("figures").get("digest").asText();
                assertEquals(8L << 20, run.get("figures").get("bytes").asLong());
                assertStored(digest, 8L << 20);
            }
        }

        // Every small blob acknowledged is there with its length, and its bytes hash to its digest.
        JsonNode smallRun = result.get("rounds").get(7).get("figures");
        assertEquals(100, smallRun.get("acknowledged").asInt());
        assertEquals(100, smallRun.get("verified").asInt());
        List<String> pushed = ((SmallBlobsWorkload) bench.workloads().get("small-blobs")).pushed("lc");
        assertEquals(100, pushed.size());
        assertEquals(100, pushed.stream().distinct().count(), "fresh content: no two blobs alike");
        for (String digest : pushed) {
            assertStored(digest, 4096);
        }

        // The tags list holds the fixture's tags.
        try (HttpConnection c = new HttpConnection(base)) {
            HttpConnection.Response tags = c.send("GET", "/v2/" + REPO + "/tags/list", Map.of(),
                    HttpConnection.Body.KEEP);
            JsonNode list = new ObjectMapper().readTree(tags.body()).get("tags");
            assertEquals(20, list.size(), list.toString());
        }
    }

    /**
     * The upload warm-up goes on uploading its blob for its seconds (a fresh JVM's upload path
     * compiles for gigabytes), each copy whole on the server, and the measured upload after it is
     * still of content new to the server, even when it is the warm-up's size.
     */
    @Test
    void theUploadWarmUpRepeatsItsBlobForItsTimeAndTheMeasuredUploadIsFresh() throws Exception {
        Path scratch = Files.createDirectories(work.resolve("warm-up"));
        HttpBenchmark.Target lc = new HttpBenchmark.Target("lc", base, server.process().pid(), false);
        for (boolean chunked : new boolean[] {false, true}) {
            UploadWorkload upload = new UploadWorkload(chunked, 4L << 20, 1L << 20, scratch, REPO, 1);
            long t0 = System.nanoTime();
            Map<String, Object> warm = upload.run(lc, true);
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(seconds >= 1.0, "warm-up lasted " + seconds + " s");
            int uploads = ((Number) warm.get("warm_up_uploads")).intValue();
            assertTrue(uploads >= 2, "uploads in 1 s of warm-up: " + uploads);
            String warmDigest = (String) warm.get("digest");
            assertStored(warmDigest, 4L << 20);

            Map<String, Object> measured = upload.run(lc, false);
            assertFalse(measured.containsKey("warm_up_uploads"), measured.toString());
            assertTrue(!warmDigest.equals(measured.get("digest")), "the measured upload is of new content");
            assertStored((String) measured.get("digest"), 4L << 20);
        }
        // With no warm-up time, one upload.
        UploadWorkload once = new UploadWorkload(false, 4L << 20, 0, scratch, REPO, 0);
        assertEquals(1, ((Number) once.run(lc, true).get("warm_up_uploads")).intValue());
    }

    private static String firstCpuFigure(JsonNode f) {
        for (var it = f.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (name.startsWith("server_cpu_")) {
                return name;
            }
        }
        return null;
    }

    /** GETs the blob, hashes what came back and checks digest and length. */
    private static void assertStored(String digest, long size) throws Exception {
        try (HttpConnection c = new HttpConnection(base)) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            HttpConnection.Response r = c.get(Oci.blobPath(REPO, digest), sha);
            assertEquals(200, r.status(), digest);
            assertEquals(size, r.bodyLength(), digest);
            assertEquals(digest, RandomContent.digest(sha), "bytes of " + digest);
        }
    }

    @Test
    void aWrongStaticPathIsRefusedRatherThanMeasured() throws Exception {
        HttpBenchmark bench = new HttpBenchmark();
        PrintStream err = System.err;
        System.setErr(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        int exit;
        try {
            exit = new CommandLine(bench).execute("--static", "web=" + base, "--workloads", "static-small",
                    "--static-small", "/no/such/file", "--rounds", "1", "--duration", "1", "--warmup", "0");
        } finally {
            System.setErr(err);
        }
        assertFalse(exit == 0, "a 404 must not be measured as a fast answer");
        assertTrue(bench.runs().isEmpty());
    }
}
