package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The pure part of the side-by-side tables: medians, spreads, ratios and verdicts from known figures. */
class SideBySideTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final SideBySide.Names NAMES = new SideBySide.Names("lc", "dist", "nginx");

    @Test
    void medianAndSpread() {
        Stats odd = Stats.of(List.of(5.0, 1.0, 3.0));
        assertEquals(3.0, odd.median());
        assertEquals(1.0, odd.min());
        assertEquals(5.0, odd.max());
        assertEquals(2.5, Stats.of(List.of(4.0, 1.0, 2.0, 3.0)).median());
        assertEquals("3.00 (1.00–5.00)", odd.text());
        assertEquals("12,346 (1,000–20,000)", Stats.of(List.of(1000.0, 12345.6, 20000.0)).text());
        assertEquals("7.00", Stats.of(List.of(7.0)).text(), "one value has no spread");
        assertEquals("0.125", Stats.number(0.125));
        assertEquals("3.41×", Stats.ratio(3.4111));
        assertEquals("n/a", Stats.ratio(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> Stats.of(List.of()));
    }

    /** Rounds of the http benchmark: workload, target, figure name, one value per round. */
    private static ObjectNode http(Object[]... rows) {
        ObjectNode root = JSON.createObjectNode();
        root.putObject("settings").put("rounds", 3).put("small_blobs", 1000).put("small_blob_bytes", 4096)
                .put("small_blob_clients", 8).put("concurrency", 32).put("duration_s", 5).put("tags", 50)
                .put("blob_mib", 1024).put("chunk_mib", 16);
        ArrayNode rounds = root.putArray("rounds");
        for (Object[] row : rows) {
            double[] values = (double[]) row[3];
            for (int i = 0; i < values.length; i++) {
                ObjectNode figures = null;
                for (JsonNode r : rounds) {
                    if (r.get("workload").asText().equals(row[0]) && r.get("target").asText().equals(row[1])
                            && r.get("round").asInt() == i + 1) {
                        figures = (ObjectNode) r.get("figures");
                    }
                }
                if (figures == null) {
                    ObjectNode run = rounds.addObject().put("round", i + 1).put("workload", (String) row[0])
                            .put("target", (String) row[1]);
                    figures = run.putObject("figures");
                }
                figures.put((String) row[2], values[i]);
            }
        }
        return root;
    }

    private static Object[] f(String workload, String target, String figure, double... values) {
        return new Object[] {workload, target, figure, values};
    }

    private static SideBySide.Row row(List<SideBySide.Row> rows, String what, String figure) {
        return rows.stream().filter(r -> r.what().startsWith(what) && r.figure().equals(figure)).findFirst()
                .orElseThrow(() -> new AssertionError("no row " + what + " / " + figure + " in " + rows));
    }

    /** Facts with one core's SHA-256 rate (Java, from floor) and the disk floor. */
    private static ObjectNode ceilingFacts(double sha, Double disk) {
        ObjectNode facts = JSON.createObjectNode().put("sha256_openssl_MB_per_s", 1700.0);
        facts.putObject("loopback_floor").put("MB_per_s", 900.0).put("single_core_sha256_MB_per_s", sha);
        if (disk != null) {
            facts.putObject("disk_floor").put("MB_per_s", disk).put("MB_per_s_min", disk - 10)
                    .put("MB_per_s_max", disk + 10).put("rounds", 3).put("single_core_sha256_MB_per_s", sha);
        }
        return facts;
    }

    private static List<SideBySide.Row> oci(JsonNode http, ObjectNode facts) {
        return SideBySide.ociRows(http, NAMES, facts, MachineTargets.ceiling(facts, JSON.createObjectNode()));
    }

    @Test
    void uploadTargetsAreNinetyPercentOfTheLowerCeilingAndOnePointThreeCpuSecondsPerGiB() {
        JsonNode h = http(
                f("upload-monolithic", "lc", "MB_per_s", 700, 720, 800), // median 720: 90% of 800 exactly
                f("upload-monolithic", "dist", "MB_per_s", 150, 200, 250),
                f("upload-monolithic", "lc", "server_cpu_s_per_GiB", 1.2, 1.3, 1.4), // 1.3 exactly
                f("upload-chunked", "lc", "MB_per_s", 700, 719, 800), // just under
                f("upload-chunked", "lc", "server_cpu_s_per_GiB", 1.31, 1.31, 1.31));
        // The disk (800) is below one core's SHA-256 (1,600): the disk is the ceiling.
        List<SideBySide.Row> rows = oci(h, ceilingFacts(1600, 800.0));
        SideBySide.Row mono = row(rows, "Upload, monolithic", "MB/s");
        assertEquals(720, mono.layercache().median());
        assertEquals(3.6, mono.ratio(mono.distribution()), 1e-9, "Distribution's column stays, not judged");
        assertEquals(SideBySide.Verdict.MET, mono.verdict(), mono.target());
        assertTrue(mono.target().contains("min(single-core SHA-256 1,600 MB/s (Java; openssl 1,700), disk floor 800 MB/s)"
                + " = 800 MB/s (90%)"), mono.target());
        assertEquals(SideBySide.Verdict.MET, row(rows, "Upload, monolithic", "server CPU-s per GiB").verdict());
        assertEquals(SideBySide.Verdict.NOT_MET, row(rows, "Upload, chunked", "MB/s").verdict());
        assertEquals(SideBySide.Verdict.NOT_MET, row(rows, "Upload, chunked", "server CPU-s per GiB").verdict());

        // A disk faster than the hash: one core's SHA-256 is the ceiling, 720 < 90% of 1,000.
        rows = oci(h, ceilingFacts(1000, 2000.0));
        assertEquals(SideBySide.Verdict.NOT_MET, row(rows, "Upload, monolithic", "MB/s").verdict());
        assertEquals(1000, MachineTargets.ceiling(ceilingFacts(1000, 2000.0), JSON.createObjectNode()).limit());
        // No ceiling measured: no verdict, not a failure.
        assertEquals(SideBySide.Verdict.UNKNOWN, row(SideBySide.ociRows(h, NAMES), "Upload, monolithic", "MB/s")
                .verdict());
    }

    @Test
    void downloadNeedsDistributionAndNinetyPercentOfNginx() {
        JsonNode met = http(f("download", "lc", "MB_per_s", 1900), f("download", "dist", "MB_per_s", 1800),
                f("download", "nginx", "MB_per_s", 2100), // 1900 / 2100 = 0.905
                f("download", "lc", "server_cpu_s_per_GiB", 0.35), f("download", "dist", "server_cpu_s_per_GiB", 0.35));
        List<SideBySide.Row> rows = SideBySide.ociRows(met, NAMES);
        assertEquals(SideBySide.Verdict.MET, row(rows, "Download", "MB/s").verdict());
        assertEquals(SideBySide.Verdict.MET, row(rows, "Download", "server CPU-s per GiB").verdict(), "equal is enough");

        JsonNode belowNginx = http(f("download", "lc", "MB_per_s", 1800), f("download", "dist", "MB_per_s", 1700),
                f("download", "nginx", "MB_per_s", 2100), // 0.857
                f("download", "lc", "server_cpu_s_per_GiB", 0.36), f("download", "dist", "server_cpu_s_per_GiB", 0.35));
        rows = SideBySide.ociRows(belowNginx, NAMES);
        assertEquals(SideBySide.Verdict.NOT_MET, row(rows, "Download", "MB/s").verdict());
        assertEquals(SideBySide.Verdict.NOT_MET, row(rows, "Download", "server CPU-s per GiB").verdict());

        JsonNode noNginx = http(f("download", "lc", "MB_per_s", 1900), f("download", "dist", "MB_per_s", 1800));
        assertEquals(SideBySide.Verdict.UNKNOWN, row(SideBySide.ociRows(noNginx, NAMES), "Download", "MB/s").verdict(),
                "a comparison with a server that was not measured is not a failure");
    }

    @Test
    void javaClientSmallRequestsNeedTenTimesDistributionAndALowerP99() {
        JsonNode h = http(
                f("head-blob", "lc", "requests_per_s", 9000, 10000, 11000),
                f("head-blob", "dist", "requests_per_s", 900, 1000, 1100),
                f("head-blob", "lc", "p99_ms", 3, 4, 5), f("head-blob", "dist", "p99_ms", 100, 120, 140),
                f("get-manifest", "lc", "requests_per_s", 30000), f("get-manifest", "dist", "requests_per_s", 1000),
                f("get-manifest", "lc", "p99_ms", 9), f("get-manifest", "dist", "p99_ms", 9),
                f("static-small", "nginx", "requests_per_s", 20000, 25000, 30000));
        List<SideBySide.Row> rows = SideBySide.ociRows(h, NAMES);
        SideBySide.Row head = row(rows, "`HEAD` blob", "requests/s");
        assertEquals(10.0, head.ratio(head.distribution()), 1e-9);
        assertEquals(0.4, head.ratio(head.nginx()), 1e-9);
        assertEquals(SideBySide.Verdict.MET, head.verdict(), "10x exactly");
        assertFalse(head.target().contains("nginx"), "the share of nginx is judged with wrk and hey");
        assertEquals(SideBySide.Verdict.MET, row(rows, "`HEAD` blob", "p99 latency, ms").verdict());
        assertEquals(SideBySide.Verdict.MET, row(rows, "`GET` manifest", "requests/s").verdict());
        assertEquals(SideBySide.Verdict.NOT_MET, row(rows, "`GET` manifest", "p99 latency, ms").verdict(),
                "an equal p99 is not lower");
        assertEquals(SideBySide.Verdict.UNKNOWN, row(rows, "`GET` tags list", "requests/s").verdict());
        assertNull(row(rows, "`GET` tags list", "requests/s").layercache());
    }

    @Test
    void smallBlobsAreThreeTimesTheBaselineAndEveryAcknowledgedBlobIsThere() {
        JsonNode h = http(f("small-blobs", "lc", "blobs_per_s", 2700, 2802, 3000),
                f("small-blobs", "dist", "blobs_per_s", 100, 100, 110),
                f("small-blobs", "lc", "acknowledged", 1000, 1000, 999),
                f("small-blobs", "lc", "verified", 1000, 1000, 999),
                f("small-blobs", "dist", "acknowledged", 1000, 1000, 1000),
                f("small-blobs", "dist", "verified", 1000, 1000, 1000));
        ObjectNode facts = JSON.createObjectNode();
        facts.putObject("small_blobs_baseline").put("blobs_per_s", 934).put("source", "issue 24");
        List<SideBySide.Row> rows = oci(h, facts);
        SideBySide.Row rate = row(rows, "Small blobs (1,000 fresh blobs of 4 KiB, 8 clients)", "blobs/s");
        assertEquals(SideBySide.Verdict.MET, rate.verdict(), "2,802 = 3 × 934");
        assertTrue(rate.target().contains("≥ 3× 934 blobs/s (issue 24): 3.00×"), rate.target());
        SideBySide.Row durable = rows.get(rows.size() - 1);
        assertEquals(SideBySide.Verdict.MET, durable.verdict());
        assertTrue(durable.target().contains("2999 of 2999"), durable.target());
        ((ObjectNode) facts.get("small_blobs_baseline")).put("blobs_per_s", 935);
        assertEquals(SideBySide.Verdict.NOT_MET, row(oci(h, facts), "Small blobs", "blobs/s").verdict());
        assertEquals(SideBySide.Verdict.UNKNOWN, row(SideBySide.ociRows(h, NAMES), "Small blobs", "blobs/s").verdict(),
                "no baseline recorded: no verdict");

        JsonNode lost = http(f("small-blobs", "lc", "blobs_per_s", 300, 310, 320),
                f("small-blobs", "lc", "acknowledged", 1000, 1000, 1000),
                f("small-blobs", "lc", "verified", 1000, 999, 1000));
        rows = SideBySide.ociRows(lost, NAMES);
        assertEquals(SideBySide.Verdict.NOT_MET, rows.get(rows.size() - 1).verdict(), "one acknowledged blob missing");
    }

    /** Rounds as side-by-side-lib.sh's small_round writes them (wrk and hey). */
    private static ObjectNode small(Object[]... rows) {
        ObjectNode root = http(rows);
        for (JsonNode r : root.get("rounds")) {
            ((ObjectNode) r).put("tool", r.get("workload").asText().contains("head") ? "hey" : "wrk");
        }
        return root;
    }

    @Test
    void smallRequestsWithWrkAndHeyNeedNinetyPercentOfNginxAndNoErrors() {
        ObjectNode s = small(f("get-manifest", "layercache", "requests_per_s", 80000, 90000, 95000),
                f("get-manifest", "layercache", "non_2xx", 0, 0, 0),
                f("tags-list", "layercache", "requests_per_s", 70000, 89999, 99000),
                f("head-blob", "layercache", "requests_per_s", 50000, 60000, 70000),
                f("head-blob", "layercache", "non_2xx", 0, 3, 0),
                f("static-get", "nginx", "requests_per_s", 100000, 100000, 120000),
                f("static-head", "nginx", "requests_per_s", 60000, 60000, 60000));
        List<SideBySide.Row> rows = MachineTargets.smallRequestRows(s);
        SideBySide.Row manifest = row(rows, "`GET` manifest by tag (wrk)", "requests/s");
        assertEquals(0.9, manifest.ratio(manifest.nginx()), 1e-9);
        assertEquals(SideBySide.Verdict.MET, manifest.verdict(), "90% exactly");
        assertEquals(SideBySide.Verdict.NOT_MET, row(rows, "`GET` tags list (wrk)", "requests/s").verdict());
        SideBySide.Row head = row(rows, "`HEAD` blob (hey)", "requests/s");
        assertEquals(SideBySide.Verdict.NOT_MET, head.verdict(), "as fast as nginx, but with errors");
        assertTrue(head.target().contains("3 non-2xx"), head.target());
        assertEquals(SideBySide.Verdict.UNKNOWN,
                row(MachineTargets.smallRequestRows(JSON.createObjectNode()), "`HEAD` blob", "requests/s").verdict());
    }

    @Test
    void theJavaFloorsOfTheHeadAreShownNextToNginxAndLayercacheAsAShareOfThem() {
        ObjectNode s = small(f("head-blob", "layercache", "requests_per_s", 45000, 48000, 50000),
                f("static-head", "nginx", "requests_per_s", 60000, 60000, 60000),
                f("static-head", "nginx", "server_cpu_us_per_request", 11, 12, 13),
                f("head-floor", "netty", "requests_per_s", 50000, 60000, 55000),
                f("head-floor", "netty", "server_cpu_us_per_request", 9, 10, 11),
                f("head-floor-1", "netty", "requests_per_s", 58000, 59000, 61000));
        List<SideBySide.Row> rows = MachineTargets.smallRequestRows(s);
        SideBySide.Row floor = row(rows, "`HEAD` floor: bare Netty, no layercache code, 4 event loops", "requests/s");
        assertEquals(55000, floor.layercache().median());
        assertEquals(55000 / 60000.0, floor.ratio(floor.nginx()), 1e-9);
        assertTrue(floor.target().contains("layercache's `HEAD` blob is 0.87×"), floor.target()); // 48,000 ÷ 55,000
        assertEquals(SideBySide.Verdict.NONE, floor.verdict(), "a ceiling, not a target");
        assertEquals(10, row(rows, "`HEAD` floor: bare Netty, no layercache code, 4 event loops",
                "server CPU µs per request").layercache().median());
        assertTrue(row(rows, "`HEAD` floor: bare Netty, no layercache code, 1 event loop", "requests/s").target()
                .contains("0.81×"), "48,000 ÷ 59,000");
        assertTrue(MachineTargets.headFloorRows(small(f("head-blob", "layercache", "requests_per_s", 1))).isEmpty(),
                "no floor measured: no row");
    }

    @Test
    void theGrpcFloorIsShownWithReadBlobAndTheOciDownloadAsSharesOfIt() {
        ObjectNode grpc = JSON.createObjectNode();
        ArrayNode rows = grpc.putArray("rows");
        for (int i = 1; i <= 3; i++) {
            rows.addObject().put("benchmark", "ReadBlob 1024 MiB, run " + i).put("MB_per_s", 1700 + i * 50) // 1800
                    .put("grpc_floor_MB_per_s", 1900 + i * 50); // 2000
        }
        JsonNode h = http(f("download", "lc", "MB_per_s", 2400, 2500, 2600));
        SideBySide.Row floor = row(SideBySide.grpcRows(grpc, JSON.createObjectNode(), h, NAMES),
                "gRPC floor (`grpc-floor-server`)", "MB/s");
        assertEquals(2000, floor.layercache().median());
        assertTrue(floor.target().contains("layercache's `ReadBlob` is 0.90× of it"), floor.target());
        assertTrue(floor.target().contains("it is 0.80× of the OCI download (2,500 MB/s)"), floor.target());
        rows.removeAll();
        rows.addObject().put("benchmark", "ReadBlob 1024 MiB, run 1").put("MB_per_s", 1800);
        assertTrue(MachineTargets.grpcFloorRows(grpc, h, NAMES).isEmpty(), "no floor measured: no row");
    }

    @Test
    void grpcParityIsNinetyPercentOfTheOciApiOfTheSameRun() {
        ObjectNode grpc = JSON.createObjectNode();
        ArrayNode rows = grpc.putArray("rows");
        for (int i = 1; i <= 3; i++) {
            rows.addObject().put("benchmark", "WriteBlob 1024 MiB, run " + i).put("MB_per_s", 890 + i * 10); // 910
            rows.addObject().put("benchmark", "ReadBlob 1024 MiB, run " + i).put("MB_per_s", 1700 + i * 50); // 1800
        }
        JsonNode h = http(f("upload-monolithic", "lc", "MB_per_s", 1000, 1000, 1000),
                f("download", "lc", "MB_per_s", 2000, 2001, 2002));
        List<SideBySide.Row> g = SideBySide.grpcRows(grpc, JSON.createObjectNode(), h, NAMES);
        SideBySide.Row write = row(g, "`WriteBlob` ÷ OCI monolithic upload", "ratio of medians (MB/s)");
        assertEquals(0.91, write.layercache().median(), 1e-9);
        assertEquals(SideBySide.Verdict.MET, write.verdict());
        SideBySide.Row read = row(g, "`ReadBlob` ÷ OCI download", "ratio of medians (MB/s)");
        assertEquals(1800 / 2001.0, read.layercache().median(), 1e-9);
        assertEquals(SideBySide.Verdict.NOT_MET, read.verdict(), "0.8996 < 0.9");
        assertEquals(SideBySide.Verdict.UNKNOWN, row(SideBySide.grpcRows(grpc, JSON.createObjectNode()),
                "`ReadBlob` ÷ OCI download", "ratio of medians (MB/s)").verdict(), "no OCI figure: no verdict");
    }

    @Test
    void startUpIsReadyWithinFiveSecondsAndNeverServesARemovedBlob() {
        ObjectNode facts = JSON.createObjectNode();
        ObjectNode st = facts.putObject("startup").put("blobs", 1_000_000).put("roots", 100_000)
                .put("synthetic_store_s", 700.0).put("ready_s", 5.0).put("present_blob_status", 200);
        st.putObject("removed_blob").put("probes", 80).put("ok_answers", 0).put("status_at_end", 404)
                .put("probed_after_ready_s", 3).putArray("statuses").add("000").add("503").add("404");
        List<SideBySide.Row> rows = MachineTargets.startupRows(facts);
        SideBySide.Row ready = row(rows, "Start-up, 1,000,000 blobs and 100,000 roots", "seconds from the process's "
                + "start to `/readyz` 2xx");
        assertEquals(SideBySide.Verdict.MET, ready.verdict(), "5 s exactly");
        SideBySide.Row gone = row(rows, "Start-up", "a blob whose file was removed before the start");
        assertEquals(SideBySide.Verdict.MET, gone.verdict(), gone.target());
        assertTrue(gone.target().contains("000, 503, 404"), gone.target());

        st.put("ready_s", 5.01);
        ((ObjectNode) st.get("removed_blob")).put("ok_answers", 2);
        rows = MachineTargets.startupRows(facts);
        assertEquals(SideBySide.Verdict.NOT_MET, rows.get(0).verdict());
        assertEquals(SideBySide.Verdict.NOT_MET, rows.get(1).verdict(), "a 200 for a blob whose file is gone");
        st.remove("ready_s");
        assertEquals(SideBySide.Verdict.NOT_MET, MachineTargets.startupRows(facts).get(0).verdict(), "never ready");
        assertEquals(SideBySide.Verdict.UNKNOWN, MachineTargets.startupRows(JSON.createObjectNode()).get(0).verdict());
    }

    @Test
    void grpcAndMemoryTargets() throws Exception {
        ObjectNode grpc = JSON.createObjectNode();
        ArrayNode rows = grpc.putArray("rows");
        double[][] lookups = {{19000, 6.0}, {21000, 4.0}, {25000, 4.5}};
        for (int i = 0; i < lookups.length; i++) {
            rows.addObject().put("benchmark", "GetEntry, round " + (i + 1)).put("lookups_per_s", lookups[i][0])
                    .put("p99_ms", lookups[i][1]);
        }
        rows.addObject().put("benchmark", "GetEntry, median of 3 rounds").put("lookups_per_s", 1.0); // ignored
        for (int i = 1; i <= 3; i++) {
            rows.addObject().put("benchmark", "WriteBlob 1024 MiB, run " + i).put("MB_per_s", 1210 + i * 10)
                    .put("server_cpu_s_per_GiB", 1.2);
            rows.addObject().put("benchmark", "ReadBlob 1024 MiB, run " + i).put("MB_per_s", 1500)
                    .put("oci_download_curl_MB_per_s", 1400 + i * 100); // curl median 1600
        }
        rows.addObject().put("benchmark", "WriteBlob 1024 MiB, median of 3 runs").put("MB_per_s", 1000)
                .put("single_core_sha256_MB_per_s", 1400);
        ObjectNode facts = JSON.createObjectNode().put("sha256_openssl_MB_per_s", 1700.0);
        List<SideBySide.Row> g = SideBySide.grpcRows(grpc, facts);
        assertEquals(21000, row(g, "`GetEntry`", "lookups/s").layercache().median());
        assertEquals(SideBySide.Verdict.MET, row(g, "`GetEntry`", "lookups/s").verdict());
        assertEquals(4.5, row(g, "`GetEntry`", "p99 latency, ms").layercache().median());
        assertEquals(SideBySide.Verdict.MET, row(g, "`GetEntry`", "p99 latency, ms").verdict());
        SideBySide.Row write = row(g, "`WriteBlob`", "MB/s");
        assertEquals(1230, write.layercache().median()); // 1230 / 1400 = 87.9%: under 90% of the hash
        assertEquals(SideBySide.Verdict.NOT_MET, write.verdict(), write.target());
        assertTrue(write.target().contains("1,400 MB/s (Java; openssl 1,700)"), write.target());
        assertEquals(SideBySide.Verdict.MET, row(g, "`WriteBlob`", "server CPU-s per GiB").verdict());
        assertEquals(SideBySide.Verdict.NONE, row(g, "`ReadBlob`", "MB/s").verdict(),
                "issue 3's ReadBlob target is replaced by parity");
        assertTrue(row(g, "`ReadBlob`", "MB/s").target().contains("curl"));

        // A disk that takes less, durably, than the hash: it is the ceiling; 1,230 ≥ 90% of 800.
        facts.putObject("disk_floor").put("MB_per_s", 800.0).put("MB_per_s_min", 700.0).put("MB_per_s_max", 900.0)
                .put("rounds", 3);
        g = SideBySide.grpcRows(grpc, facts);
        assertEquals(800, row(g, "disk floor (`disk-floor`)", "MB/s").layercache().median());
        assertTrue(row(g, "disk floor (`disk-floor`)", "MB/s").target().contains("57% of single-core SHA-256"),
                row(g, "disk floor (`disk-floor`)", "MB/s").target());
        assertEquals(1230 / 800.0, row(g, "`WriteBlob`", "share of the disk floor").layercache().median(), 1e-9);
        assertEquals(SideBySide.Verdict.MET, row(g, "`WriteBlob`", "MB/s").verdict());

        // The durable floors (loopback, hash, the file written and fsynced) are shown beside it.
        facts.putObject("durable_floor").put("MB_per_s", 500.0).put("MB_per_s_min", 450.0)
                .put("MB_per_s_max", 550.0).put("rounds", 3);
        facts.putObject("durable_floor_page_cache").put("MB_per_s", 600.0).put("MB_per_s_min", 250.0)
                .put("MB_per_s_max", 650.0).put("rounds", 3);
        g = SideBySide.grpcRows(grpc, facts);
        SideBySide.Row durable = row(g, "durable floor (`floor --dir`), direct writes as the server", "MB/s");
        assertEquals(500, durable.layercache().median());
        assertTrue(durable.target().contains("36% of single-core SHA-256"), durable.target());
        assertEquals(600, row(g, "durable floor (`floor --dir`), page-cache writes", "MB/s").layercache().median());
        assertEquals(1230 / 500.0,
                row(g, "`WriteBlob`", "share of the durable floor (direct writes)").layercache().median(), 1e-9);

        ObjectNode memory = JSON.createObjectNode();
        ObjectNode m = memory.putObject("memory").put("big_mib", 4096).put("rss_peak_MiB", 300.0)
                .put("hwm_MiB", 511.0).put("jvm_options", "");
        m.putObject("small_requests_during").put("requests", 40000).put("seconds", 20.0).put("non_2xx", 0);
        m.putObject("container").put("not_measured", "no docker daemon");
        List<SideBySide.Row> mem = MachineTargets.memoryRows(memory);
        assertEquals(SideBySide.Verdict.MET, mem.get(0).verdict(), "511 MiB is under 512");
        assertEquals(511.0, mem.get(0).layercache().median(), "the high-water mark, not the sampled peak");
        assertTrue(mem.get(0).what().contains("4 GiB") && mem.get(0).what().contains("JVM options: none"),
                mem.get(0).what());
        assertEquals(2000, row(mem, "Moving 4 GiB", "manifest requests/s served meanwhile (wrk)").layercache().median());
        SideBySide.Row container = row(mem, "The container image", "peak resident memory, MiB");
        assertEquals(SideBySide.Verdict.UNKNOWN, container.verdict());
        assertTrue(container.target().contains("not measured: no docker daemon"), container.target());
        assertEquals("64 MiB", SideBySide.size(64));
        assertEquals("1.50 GiB", SideBySide.size(1536));
        m.put("hwm_MiB", 512.0);
        assertEquals(SideBySide.Verdict.NOT_MET, MachineTargets.memoryRows(memory).get(0).verdict());
        m.set("container", JSON.createObjectNode().put("image", "layercache:dev").put("limit_MiB", 1024)
                .put("hwm_MiB", 700.0).put("oom_killed", false));
        assertEquals(SideBySide.Verdict.MET, row(MachineTargets.memoryRows(memory), "The container image",
                "peak resident memory, MiB").verdict());
        ((ObjectNode) m.get("container")).put("oom_killed", true);
        assertEquals(SideBySide.Verdict.NOT_MET, row(MachineTargets.memoryRows(memory), "The container image",
                "peak resident memory, MiB").verdict());
        assertEquals(SideBySide.Verdict.UNKNOWN, MachineTargets.memoryRows(JSON.createObjectNode()).get(0).verdict());
    }

    @Test
    void spliceReplacesOnlyTheMarkedSection() {
        String doc = "# Benchmarks\n\nintro\n\n" + SideBySide.BEGIN + "\nold table\n" + SideBySide.END + "\n\n## Older\nkept\n";
        String out = SideBySide.splice(doc, "## New\n| a |\n");
        assertEquals("# Benchmarks\n\nintro\n\n" + SideBySide.BEGIN + "\n## New\n| a |\n" + SideBySide.END
                + "\n\n## Older\nkept\n", out);
        assertEquals(out, SideBySide.splice(out, "## New\n| a |\n"), "idempotent");
        assertThrows(IllegalArgumentException.class, () -> SideBySide.splice("# no markers\n", "x"));
    }

    @Test
    void compareWritesTheTablesIntoTheFileAndOneJson(@TempDir Path dir) throws Exception {
        JsonNode h = http(f("head-blob", "lc", "requests_per_s", 30000), f("head-blob", "dist", "requests_per_s", 1000),
                f("head-blob", "lc", "p99_ms", 2), f("head-blob", "dist", "p99_ms", 50),
                f("static-small", "nginx", "requests_per_s", 60000));
        Path httpJson = dir.resolve("http.json");
        JSON.writeValue(httpJson.toFile(), h);
        Path facts = dir.resolve("facts.json");
        JSON.writeValue(facts.toFile(), Map.of("date", "2026-11-28 10:00 UTC", "run_seconds", 600,
                "machine", Map.of("nproc", 2, "cpu", "AMD EPYC", "java", "17.0.15"),
                "commands", List.of("docker-registry serve $WORK/distribution.yml")));
        Path md = dir.resolve("BENCHMARKS.md");
        Files.writeString(md, "# B\n" + SideBySide.BEGIN + "\n" + SideBySide.END + "\nrest\n");
        Path out = dir.resolve("out.json");
        int exit = new CommandLine(new SideBySide()).execute("--http", httpJson.toString(), "--facts", facts.toString(),
                "--layercache", "lc", "--distribution", "dist", "--update", md.toString(), "--json", out.toString());
        assertEquals(0, exit);
        String text = Files.readString(md);
        assertTrue(text.startsWith("# B\n" + SideBySide.BEGIN + "\n## Side by side"), text);
        assertTrue(text.endsWith(SideBySide.END + "\nrest\n"), text);
        assertTrue(text.contains("| `HEAD` blob | requests/s | 30,000 | 1,000 | 60,000 | 30.00× | 0.50× | "
                + "≥ 10× Distribution: met |"), text);
        assertTrue(text.contains("2 cores (AMD EPYC)") && text.contains("run time 10.0 min"), text);
        assertTrue(text.contains("docker-registry serve $WORK/distribution.yml"), text);
        assertTrue(text.contains("`GetEntry` lookups | lookups/s |  | ≥ 20,000/s: no figure"), text);
        JsonNode all = JSON.readTree(out.toFile());
        assertEquals("MET", all.get("verdicts").get(6).get("verdict").asText(), all.get("verdicts").get(6).toString());
        assertEquals(h, all.get("http"));
    }
}
