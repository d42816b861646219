package dev.layercache.loadtest;

import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.loadtest.SideBySide.Names;
import dev.layercache.loadtest.SideBySide.Row;
import dev.layercache.loadtest.SideBySide.Verdict;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * Issue 24's targets: each figure judged against a ceiling measured in the same run of
 * {@code side-by-side.sh}, never against a number from another day. Uploads against the lower of
 * one core's SHA-256 rate and the disk's durable write rate; small requests against nginx with
 * the same tool (wrk, hey); gRPC against the OCI API of the same node; small blobs against the
 * rate before the work (a recorded baseline, with its source); start-up and memory against
 * absolute bounds. {@link SideBySide} lays the rows out.
 */
final class MachineTargets {
    /** Server CPU-s per GiB an upload may cost: twice the hashing floor (issue 24). */
    static final double UPLOAD_CPU_S_PER_GIB = 1.3;
    static final double SHARE = 0.9;
    static final double READY_SECONDS = 5;
    static final double MEMORY_MIB = 512;

    private MachineTargets() {
    }

    /**
     * The ceiling of a durable, verified upload on this machine: the lower of one core's SHA-256
     * rate (Java's {@code MessageDigest}, as the server hashes; openssl's shown beside it) and the
     * disk's durable write rate ({@code disk-floor}). Either may be missing.
     */
    record Ceiling(Stats javaSha, Double opensslSha, Stats disk) {
        /** The lower of the two measured rates, or NaN when neither was measured. */
        double limit() {
            if (javaSha == null && disk == null) {
                return Double.NaN;
            }
            if (javaSha == null || disk == null) {
                return (javaSha == null ? disk : javaSha).median();
            }
            return Math.min(javaSha.median(), disk.median());
        }

        String text() {
            List<String> parts = new ArrayList<>();
            if (javaSha != null) {
                parts.add("single-core SHA-256 " + Stats.number(javaSha.median()) + " MB/s (Java"
                        + (opensslSha == null ? "" : "; openssl " + Stats.number(opensslSha)) + ")");
            }
            if (disk != null) {
                parts.add("disk floor " + Stats.number(disk.median()) + " MB/s");
            }
            return parts.isEmpty() ? "no ceiling measured"
                    : "min(" + String.join(", ", parts) + ") = " + Stats.number(limit()) + " MB/s";
        }
    }

    /**
     * Java's single-core SHA-256 rate, every time the run measured it (the {@code floor},
     * {@code disk-floor} and {@code grpc} commands each do), with the disk floor and openssl's rate.
     */
    static Ceiling ceiling(JsonNode facts, JsonNode grpc) {
        List<Double> sha = new ArrayList<>();
        for (String key : List.of("loopback_floor", "disk_floor")) {
            JsonNode v = facts.path(key).path("single_core_sha256_MB_per_s");
            if (v.isNumber()) {
                sha.add(v.asDouble());
            }
        }
        Stats fromGrpc = SideBySide.javaSha256(grpc);
        if (fromGrpc != null) {
            sha.add(fromGrpc.median());
        }
        JsonNode openssl = facts.path("sha256_openssl_MB_per_s");
        return new Ceiling(sha.isEmpty() ? null : Stats.of(sha), openssl.isNumber() ? openssl.asDouble() : null,
                SideBySide.floorStats(facts.path("disk_floor")));
    }

    /** An upload's MB/s: at least 90% of the ceiling. */
    static Row uploadRate(String what, Stats lc, Stats distribution, Ceiling c) {
        double limit = c.limit();
        Verdict v = lc == null || Double.isNaN(limit) ? Verdict.UNKNOWN : Verdict.of(lc.median() >= SHARE * limit);
        return new Row(what, "MB/s", lc, distribution, null, "≥ 90% of " + c.text()
                + (lc == null || Double.isNaN(limit) ? "" : String.format(Locale.ROOT, " (%.0f%%)",
                100 * lc.median() / limit)), v);
    }

    /** An upload's server CPU: at most 1.3 CPU-s per GiB. */
    static Row uploadCpu(String what, Stats lc, Stats distribution) {
        return new Row(what, "server CPU-s per GiB", lc, distribution, null, "≤ 1.3 CPU-s per GiB",
                lc == null ? Verdict.UNKNOWN : Verdict.of(lc.median() <= UPLOAD_CPU_S_PER_GIB));
    }

    /**
     * Small requests measured with wrk (GET) and hey (HEAD), layercache against nginx's 4 KiB file
     * with the same tool and connections: at least 90% of nginx's rate. A round with any non-2xx
     * answer or socket error fails its row: a fast error is not a served request.
     */
    static List<Row> smallRequestRows(JsonNode small) {
        List<Row> rows = new ArrayList<>();
        String[][] requests = {{"get-manifest", "`GET` manifest by tag", "static-get", "`GET`"},
                {"tags-list", "`GET` tags list", "static-get", "`GET`"},
                {"head-blob", "`HEAD` blob", "static-head", "`HEAD`"}};
        for (String[] r : requests) {
            Stats lc = SideBySide.stats(small, r[0], "layercache", "requests_per_s");
            Stats nginx = SideBySide.stats(small, r[2], "nginx", "requests_per_s");
            double errors = sum(SideBySide.values(small, r[0], "layercache", "non_2xx"));
            String tool = tool(small, r[0]);
            String what = r[1] + (tool.isEmpty() ? "" : " (" + tool + ")");
            String target = "≥ 90% of nginx's " + r[3] + " of a 4 KiB file"
                    + (errors > 0 ? String.format(Locale.ROOT, "; %,.0f non-2xx answers or socket errors", errors) : "");
            Verdict v = lc == null || nginx == null ? Verdict.UNKNOWN
                    : Verdict.of(errors == 0 && lc.median() / nginx.median() >= SHARE);
            rows.add(new Row(what, "requests/s", lc, null, nginx, target, v));
            rows.add(new Row(what, "p99 latency, ms", SideBySide.stats(small, r[0], "layercache", "p99_ms"), null,
                    SideBySide.stats(small, r[2], "nginx", "p99_ms"), "", Verdict.NONE));
            rows.add(new Row(what, "server CPU µs per request",
                    SideBySide.stats(small, r[0], "layercache", "server_cpu_us_per_request"), null,
                    SideBySide.stats(small, r[2], "nginx", "server_cpu_us_per_request"), "", Verdict.NONE));
        }
        rows.addAll(headFloorRows(small));
        return rows;
    }

    /**
     * The Java ceilings of the {@code HEAD} measured with hey: bare Netty answering every request as
     * layercache answers a 4 KiB blob's {@code HEAD} ({@code http-floor-server}), with layercache's
     * event loops per core and with one. Not targets: they say how much of the distance to nginx is
     * the JVM and Netty on this machine, and how much is layercache's own code.
     */
    static List<Row> headFloorRows(JsonNode small) {
        List<Row> rows = new ArrayList<>();
        Stats lc = SideBySide.stats(small, "head-blob", "layercache", "requests_per_s");
        String[][] floors = {{"head-floor", HttpFloorServer.LAYERCACHE_LOOPS_PER_CORE + " event loops per core, as layercache"},
                {"head-floor-1", "1 event loop per core"}};
        for (String[] f : floors) {
            Stats floor = SideBySide.stats(small, f[0], "netty", "requests_per_s");
            if (floor == null) {
                continue;
            }
            String what = "`HEAD` floor: bare Netty, no layercache code, " + f[1] + " (hey)";
            String note = "the same answer with nothing behind it"
                    + (lc == null ? "" : "; layercache's `HEAD` blob is " + Stats.ratio(lc.median() / floor.median())
                    + " of it");
            rows.add(new Row(what, "requests/s", floor, null, SideBySide.stats(small, "static-head", "nginx",
                    "requests_per_s"), note, Verdict.NONE));
            rows.add(new Row(what, "server CPU µs per request", SideBySide.stats(small, f[0], "netty",
                    "server_cpu_us_per_request"), null, SideBySide.stats(small, "static-head", "nginx",
                    "server_cpu_us_per_request"), "", Verdict.NONE));
        }
        return rows;
    }

    /**
     * The Java ceiling of {@code ReadBlob}: bare grpc-java streaming the same number of bytes from
     * memory ({@code grpc-floor-server}), read in the same rounds by the same client, and what that
     * ceiling is as a share of the OCI download of the same run.
     */
    static List<Row> grpcFloorRows(JsonNode grpc, JsonNode http, Names n) {
        List<Double> floorRates = SideBySide.grpcValues(grpc, "ReadBlob", "grpc_floor_MB_per_s");
        if (floorRates.isEmpty()) {
            return List.of();
        }
        Stats floor = Stats.of(floorRates);
        List<Double> read = SideBySide.grpcValues(grpc, "ReadBlob", "MB_per_s");
        Stats oci = SideBySide.stats(http, "download", n.layercache(), "MB_per_s");
        String note = "bare grpc-java sending the same bytes from memory to the same client"
                + (read.isEmpty() ? "" : "; layercache's `ReadBlob` is " + Stats.ratio(Stats.of(read).median()
                / floor.median()) + " of it")
                + (oci == null ? "" : "; it is " + Stats.ratio(floor.median() / oci.median())
                + " of the OCI download (" + Stats.number(oci.median()) + " MB/s)");
        return List.of(new Row("gRPC floor (`grpc-floor-server`)", "MB/s", floor, null, null, note, Verdict.NONE));
    }

    private static String tool(JsonNode small, String workload) {
        for (JsonNode run : small.path("rounds")) {
            if (run.path("workload").asText().equals(workload)) {
                return run.path("tool").asText();
            }
        }
        return "";
    }

    /** Small blobs: at least three times the rate before issue 24, a baseline recorded with its source. */
    static Row smallBlobsRate(String what, Stats lc, Stats distribution, JsonNode facts) {
        JsonNode baseline = facts.path("small_blobs_baseline");
        if (!baseline.path("blobs_per_s").isNumber()) {
            return new Row(what, "blobs/s", lc, distribution, null, "≥ 3× the rate before issue 24 (no baseline given)",
                    Verdict.UNKNOWN);
        }
        double before = baseline.get("blobs_per_s").asDouble();
        String target = "≥ 3× " + Stats.number(before) + " blobs/s (" + baseline.path("source").asText("baseline")
                + ")" + (lc == null ? "" : String.format(Locale.ROOT, ": %.2f×", lc.median() / before));
        return new Row(what, "blobs/s", lc, distribution, null, target,
                lc == null ? Verdict.UNKNOWN : Verdict.of(lc.median() >= 3 * before));
    }

    /**
     * gRPC parity: {@code WriteBlob} at least 90% of the OCI monolithic upload and
     * {@code ReadBlob} at least 90% of the OCI download, both of the same node in the same run.
     */
    static List<Row> parityRows(JsonNode grpc, JsonNode http, Names n) {
        List<Row> rows = new ArrayList<>();
        String[][] pairs = {{"WriteBlob", "upload-monolithic", "`WriteBlob` ÷ OCI monolithic upload"},
                {"ReadBlob", "download", "`ReadBlob` ÷ OCI download (`GET` blob)"}};
        for (String[] p : pairs) {
            List<Double> g = SideBySide.grpcValues(grpc, p[0], "MB_per_s");
            Stats oci = SideBySide.stats(http, p[1], n.layercache(), "MB_per_s");
            if (g.isEmpty() || oci == null) {
                rows.add(new Row(p[2], "ratio of medians (MB/s)", null, null, null, "≥ 0.90", Verdict.UNKNOWN));
                continue;
            }
            Stats grpcRate = Stats.of(g);
            double ratio = grpcRate.median() / oci.median();
            rows.add(new Row(p[2], "ratio of medians (MB/s)", new Stats(ratio, grpcRate.min() / oci.median(),
                    grpcRate.max() / oci.median(), grpcRate.n()), null, null, "≥ 0.90 (" + Stats.number(grpcRate.median())
                    + " ÷ " + Stats.number(oci.median()) + " MB/s)", Verdict.of(ratio >= SHARE)));
        }
        return rows;
    }

    /** Start-up on a large synthetic store: ready within 5 s; a blob whose file is gone never a 200. */
    static List<Row> startupRows(JsonNode facts) {
        JsonNode s = facts.path("startup");
        List<Row> rows = new ArrayList<>();
        if (!s.path("blobs").isNumber()) {
            rows.add(new Row("Start-up", "seconds from the process's start to `/readyz` 2xx", null, null, null,
                    "≤ 5 s (phase skipped)", Verdict.UNKNOWN));
            return rows;
        }
        String what = String.format(Locale.ROOT, "Start-up, %,d blobs and %,d roots", s.get("blobs").asLong(),
                s.path("roots").asLong());
        Stats ready = s.path("ready_s").isNumber() ? Stats.of(List.of(s.get("ready_s").asDouble())) : null;
        rows.add(new Row(what, "seconds from the process's start to `/readyz` 2xx", ready, null, null,
                ready == null ? "≤ 5 s (not ready within " + s.path("timeout_s").asInt() + " s)" : "≤ 5 s",
                ready == null ? Verdict.NOT_MET : Verdict.of(ready.median() <= READY_SECONDS)));
        JsonNode gone = s.path("removed_blob");
        if (gone.path("probes").isNumber()) {
            List<String> statuses = new ArrayList<>();
            gone.path("statuses").forEach(x -> statuses.add(x.asText()));
            long ok = gone.path("ok_answers").asLong();
            int atEnd = gone.path("status_at_end").asInt();
            boolean present = s.path("present_blob_status").asInt() == 200;
            String target = "never 200, 404 once serving (" + gone.get("probes").asLong() + " `HEAD`s from the start to "
                    + gone.path("probed_after_ready_s").asInt() + " s after ready; answers seen: "
                    + String.join(", ", statuses) + "; at the end " + atEnd + "; a blob whose file is there: "
                    + s.path("present_blob_status").asInt() + ")";
            rows.add(new Row(what, "a blob whose file was removed before the start", Stats.of(List.of((double) ok)),
                    null, null, target, Verdict.of(ok == 0 && atEnd == 404 && present)));
        }
        if (s.path("synthetic_store_s").isNumber()) {
            rows.add(new Row(what, "seconds to write the store (`SyntheticStore`, not a target)",
                    Stats.of(List.of(s.get("synthetic_store_s").asDouble())), null, null, "", Verdict.NONE));
        }
        return rows;
    }

    /**
     * The memory phase: the plain command's peak resident set (the kernel's VmHWM, or the sampled
     * VmRSS if higher) under 512 MiB while big blobs move both ways and wrk asks for a manifest;
     * and the container image under its memory limit, or why it was not measured.
     */
    static List<Row> memoryRows(JsonNode facts) {
        JsonNode m = facts.path("memory");
        List<Row> rows = new ArrayList<>();
        String what = "Moving " + (m.path("big_mib").isNumber() ? SideBySide.size(m.get("big_mib").asLong()) : "big")
                + " blobs both ways, OCI and gRPC, serving small requests (a fresh node, JVM options: "
                + (m.path("jvm_options").asText("").isEmpty() ? "none" : m.get("jvm_options").asText()) + ")";
        Stats p = peak(m);
        rows.add(new Row(what, "peak resident memory (VmHWM), MiB", p, null, null, "< 512 MiB",
                p == null ? Verdict.UNKNOWN : Verdict.of(p.median() < MEMORY_MIB)));
        if (m.path("rss_peak_MiB").isNumber()) {
            rows.add(new Row(what, "VmRSS sampled every 0.1 s, peak, MiB",
                    Stats.of(List.of(m.get("rss_peak_MiB").asDouble())), null, null, "", Verdict.NONE));
        }
        JsonNode during = m.path("small_requests_during");
        if (during.path("requests").isNumber() && during.path("seconds").asDouble() > 0) {
            rows.add(new Row(what, "manifest requests/s served meanwhile (wrk)",
                    Stats.of(List.of(during.get("requests").asDouble() / during.get("seconds").asDouble())), null, null,
                    during.path("non_2xx").asLong() == 0 ? "every answer 2xx" : during.get("non_2xx").asLong()
                    + " non-2xx answers", during.path("non_2xx").asLong() == 0 ? Verdict.NONE : Verdict.NOT_MET));
        }
        JsonNode c = m.path("container");
        if (c.has("not_measured")) {
            rows.add(new Row("The container image under its memory limit", "peak resident memory, MiB", null, null,
                    null, "under the limit; not measured: " + c.get("not_measured").asText(), Verdict.UNKNOWN));
        } else if (c.path("limit_MiB").isNumber()) {
            Stats cp = peak(c);
            boolean oom = c.path("oom_killed").asBoolean(false);
            rows.add(new Row("The container image (" + c.path("image").asText() + ", `--memory "
                    + c.get("limit_MiB").asInt() + "m`)", "peak resident memory, MiB", cp, null, null,
                    "< " + c.get("limit_MiB").asInt() + " MiB" + (oom ? ", but it was OOM-killed" : ""),
                    cp == null ? Verdict.UNKNOWN : Verdict.of(!oom && cp.median() < c.get("limit_MiB").asDouble())));
        }
        if (m.path("main_hwm_MiB").isNumber()) {
            rows.add(new Row("The node of the tables above, after all of them", "peak resident memory (VmHWM), MiB",
                    Stats.of(List.of(m.get("main_hwm_MiB").asDouble())), null, null, "", Verdict.NONE));
        }
        return rows;
    }

    private static Stats peak(JsonNode m) {
        List<Double> known = new ArrayList<>();
        for (String key : List.of("hwm_MiB", "rss_peak_MiB")) {
            if (m.path(key).isNumber() && m.get(key).asDouble() > 0) {
                known.add(m.get(key).asDouble());
            }
        }
        return known.isEmpty() ? null : Stats.of(List.of(Collections.max(known)));
    }

    private static double sum(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).sum();
    }
}
