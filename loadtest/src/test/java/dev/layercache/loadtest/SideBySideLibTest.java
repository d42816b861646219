package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.ServerProcess;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * side-by-side.sh's small-request phase at a tiny size, against a real node: the script's own
 * functions (side-by-side-lib.sh) push an image with curl, then measure one-second rounds with
 * wrk (`GET` manifest by tag, `GET` tags list) and hey (`HEAD` blob, and `HEAD` of a blob the
 * node does not have, whose 404s must be counted as errors, or the phase could pass on errors).
 * Then `compare`'s rows judge what was written. Skipped with the reason where wrk, hey, jq or
 * curl is missing; in CI (which installs them) it fails instead.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SideBySideLibTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path work;

    @Test
    void smallRequestRoundsWithWrkAndHeyCountRequestsCpuAndErrors() throws Exception {
        for (String tool : List.of("bash", "wrk", "hey", "jq", "curl", "sha256sum")) {
            RealTools.require(tool, "side-by-side.sh's small-request phase needs it: apt-get install wrk hey jq curl");
        }
        Path lib = Path.of("side-by-side-lib.sh").toAbsolutePath();
        assertTrue(Files.exists(lib), "run from the loadtest module: " + lib);
        try (ServerProcess server = ServerProcess.start(Files.createDirectories(work.resolve("data")),
                work.resolve("server.log"), "--min-free-disk", "0")) {
            // No floor of free disk: on a shared, fuller disk the node would evict the pushed image.
            String url = "http://127.0.0.1:" + server.port();
            long pid = server.process().pid();
            String missing = "sha256:" + "0".repeat(64);
            String script = String.join("\n",
                    "set -euo pipefail",
                    "BENCH=test; . ./bench-lib.sh",
                    "work='" + work + "'; DURATION=1; WRK_THREADS=1; WRK_CONNECTIONS=4; PROFILE=0",
                    ". ./side-by-side-lib.sh",
                    "push_image " + url + " bench/wrk \"$work/wrk\" 3",
                    "small_round 1 get-manifest layercache wrk " + url + "/v2/bench/wrk/manifests/t1 " + pid
                            + " -s \"$work/wrk/accept.lua\"",
                    "small_round 1 tags-list layercache wrk " + url + "/v2/bench/wrk/tags/list " + pid,
                    "small_round 1 head-blob layercache hey " + url + "/v2/bench/wrk/blobs/$small_layer " + pid,
                    "small_round 1 head-missing layercache hey " + url + "/v2/bench/wrk/blobs/" + missing + " " + pid,
                    "jq -s '{rounds: .}' \"$work/small-rounds.jsonl\" > \"$work/small.json\"");
            Process p = new ProcessBuilder("bash", "-c", script).directory(lib.getParent().toFile())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(90, TimeUnit.SECONDS), out);
            assertEquals(0, p.exitValue(), out);

            JsonNode small = JSON.readTree(work.resolve("small.json").toFile());
            Map<String, JsonNode> byWorkload = new HashMap<>();
            small.get("rounds").forEach(r -> byWorkload.put(r.get("workload").asText(), r));
            assertEquals(List.of("get-manifest", "head-blob", "head-missing", "tags-list"),
                    new ArrayList<>(new java.util.TreeSet<>(byWorkload.keySet())), small.toString());
            for (String w : List.of("get-manifest", "tags-list", "head-blob")) {
                JsonNode f = byWorkload.get(w).get("figures");
                assertTrue(f.get("requests_per_s").asDouble() > 0, w + ": " + f);
                assertTrue(f.get("requests").asLong() > 0, w + ": " + f);
                assertEquals(0, f.get("non_2xx").asLong(), w + " answered errors: " + f);
                assertTrue(f.get("server_cpu_us_per_request").asDouble() > 0, w + ": the node's CPU was counted: " + f);
                assertTrue(f.get("p99_ms").asDouble() > 0, w + ": " + f);
            }
            assertEquals("wrk", byWorkload.get("get-manifest").get("tool").asText());
            assertEquals("hey", byWorkload.get("head-blob").get("tool").asText());
            JsonNode miss = byWorkload.get("head-missing").get("figures");
            assertTrue(miss.get("requests").asLong() > 0 && miss.get("non_2xx").asLong() == miss.get("requests").asLong(),
                    "every 404 is counted as an error: " + miss);

            // compare's rows on what was written: layercache's figures are there; without nginx's
            // rounds the ratio has no verdict rather than a false one.
            List<SideBySide.Row> rows = MachineTargets.smallRequestRows(small);
            SideBySide.Row manifest = rows.stream().filter(r -> r.what().equals("`GET` manifest by tag (wrk)")
                    && r.figure().equals("requests/s")).findFirst().orElseThrow();
            assertTrue(manifest.layercache().median() > 0);
            assertEquals(SideBySide.Verdict.UNKNOWN, manifest.verdict());
        }
    }
}
