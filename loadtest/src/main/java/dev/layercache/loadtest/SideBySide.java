package dev.layercache.loadtest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The side-by-side tables: reads what {@code http} and {@code grpc} wrote (every round's figures)
 * and the facts the script gathered (machine, commands, SHA-256 rate, memory), takes medians and
 * spreads, ratios of medians, and judges each figure against the benchmark issue's targets. Writes
 * Markdown, optionally between the markers of a file (BENCHMARKS.md), and one JSON of it all.
 */
@Command(name = "compare", mixinStandardHelpOptions = true,
        description = "Side-by-side tables with targets met / not met, from the JSON of http and grpc")
final class SideBySide implements Callable<Integer> {
    static final String BEGIN = "<!-- side-by-side:begin -->";
    static final String END = "<!-- side-by-side:end -->";

    @Option(names = "--http", required = true, description = "JSON written by http --json")
    Path httpJson;

    @Option(names = "--grpc", description = "JSON written by grpc --json")
    Path grpcJson;

    @Option(names = "--facts", description = "JSON of the machine, the commands, the SHA-256 rate and memory")
    Path factsJson;

    @Option(names = "--layercache", defaultValue = "layercache", description = "target name of layercache")
    String layercache;

    @Option(names = "--distribution", defaultValue = "distribution", description = "target name of Distribution")
    String distribution;

    @Option(names = "--nginx", defaultValue = "nginx", description = "target name of the static ceiling")
    String nginx;

    @Option(names = "--update", description = "a Markdown file whose text between " + BEGIN + " and " + END
            + " is replaced by the tables")
    Path update;

    @Option(names = "--json", description = "write inputs, summaries and verdicts here as one JSON")
    Path json;

    /** How a figure fares against its target. */
    enum Verdict {
        MET("met"), NOT_MET("**not met**"), UNKNOWN("no figure"), NONE("");

        final String text;

        Verdict(String text) {
            this.text = text;
        }

        static Verdict of(boolean met) {
            return met ? MET : NOT_MET;
        }
    }

    /**
     * One line of a table: a figure of three servers (any may be missing), the ratios of medians,
     * the target's wording and its verdict.
     */
    record Row(String what, String figure, Stats layercache, Stats distribution, Stats nginx, String target,
               Verdict verdict) {
        double ratio(Stats other) {
            return layercache == null || other == null ? Double.NaN : layercache.median() / other.median();
        }
    }

    /** The names of the three servers in the http JSON. */
    record Names(String layercache, String distribution, String nginx) {
    }

    @Override
    public Integer call() throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        JsonNode http = mapper.readTree(httpJson.toFile());
        JsonNode grpc = grpcJson == null ? mapper.createObjectNode() : mapper.readTree(grpcJson.toFile());
        JsonNode facts = factsJson == null ? mapper.createObjectNode() : mapper.readTree(factsJson.toFile());
        Names names = new Names(layercache, distribution, nginx);
        List<Row> oci = ociRows(http, names);
        List<Row> native_ = grpcRows(grpc, facts);
        List<Row> memory = memoryRows(facts);
        String section = markdown(oci, native_, memory, http, facts);
        System.out.println(section);
        if (update != null) {
            String doc = Files.readString(update);
            Files.writeString(update, splice(doc, section));
        }
        if (json != null) {
            ObjectNode out = mapper.createObjectNode();
            out.set("facts", facts);
            List<Row> all = new ArrayList<>(oci);
            all.addAll(native_);
            all.addAll(memory);
            out.set("verdicts", mapper.valueToTree(all));
            out.set("http", http);
            out.set("grpc", grpc);
            Files.write(json, mapper.enable(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(out));
        }
        return 0;
    }

    // ------------------------------------------------------------------ figures from the inputs

    /** Median and spread of {@code figure} over the measured rounds of (workload, target), or null. */
    static Stats stats(JsonNode http, String workload, String target, String figure) {
        List<Double> values = values(http, workload, target, figure);
        return values.isEmpty() ? null : Stats.of(values);
    }

    static List<Double> values(JsonNode http, String workload, String target, String figure) {
        List<Double> values = new ArrayList<>();
        for (JsonNode run : http.path("rounds")) {
            if (run.path("workload").asText().equals(workload) && run.path("target").asText().equals(target)) {
                JsonNode v = run.path("figures").path(figure);
                if (v.isNumber()) {
                    values.add(v.asDouble());
                }
            }
        }
        return values;
    }

    private static final Map<String, String> REQUESTS = new LinkedHashMap<>();

    static {
        REQUESTS.put("head-blob", "`HEAD` blob");
        REQUESTS.put("get-manifest", "`GET` manifest by tag");
        REQUESTS.put("tags-list", "`GET` tags list");
    }

    static List<Row> ociRows(JsonNode http, Names n) {
        List<Row> rows = new ArrayList<>();
        for (String w : List.of("upload-monolithic", "upload-chunked")) {
            String what = w.equals("upload-monolithic") ? "Upload, monolithic (`POST`, one `PUT`)"
                    : "Upload, chunked (`PATCH`es with `Content-Range`)";
            Stats lc = stats(http, w, n.layercache(), "MB_per_s");
            Stats d = stats(http, w, n.distribution(), "MB_per_s");
            rows.add(judge(new Row(what, "MB/s", lc, d, null, "≥ 3× Distribution", Verdict.NONE),
                    r -> r.ratio(d) >= 3));
            Stats lcCpu = stats(http, w, n.layercache(), "server_cpu_s_per_GiB");
            Stats dCpu = stats(http, w, n.distribution(), "server_cpu_s_per_GiB");
            rows.add(judge(new Row(what, "server CPU-s per GiB", lcCpu, dCpu, null, "≤ 1/3 of Distribution's",
                    Verdict.NONE), r -> r.ratio(dCpu) <= 1.0 / 3));
        }
        Stats lc = stats(http, "download", n.layercache(), "MB_per_s");
        Stats d = stats(http, "download", n.distribution(), "MB_per_s");
        Stats x = stats(http, "download", n.nginx(), "MB_per_s");
        rows.add(judge(new Row("Download (`GET` blob, page cache warm)", "MB/s", lc, d, x,
                "≥ 1.0× Distribution and ≥ 90% of nginx", Verdict.NONE), r -> r.ratio(d) >= 1.0 && r.ratio(x) >= 0.9));
        Stats dCpu = stats(http, "download", n.distribution(), "server_cpu_s_per_GiB");
        rows.add(judge(new Row("Download (`GET` blob, page cache warm)", "server CPU-s per GiB",
                stats(http, "download", n.layercache(), "server_cpu_s_per_GiB"), dCpu,
                stats(http, "download", n.nginx(), "server_cpu_s_per_GiB"), "≤ Distribution's", Verdict.NONE),
                r -> r.ratio(dCpu) <= 1.0));
        Stats staticRate = stats(http, "static-small", n.nginx(), "requests_per_s");
        for (Map.Entry<String, String> e : REQUESTS.entrySet()) {
            String w = e.getKey();
            Stats dr = stats(http, w, n.distribution(), "requests_per_s");
            rows.add(judge(new Row(e.getValue(), "requests/s", stats(http, w, n.layercache(), "requests_per_s"), dr,
                    staticRate, "≥ 10× Distribution and ≥ 40% of nginx (static 4 KiB file)", Verdict.NONE),
                    r -> r.ratio(dr) >= 10 && r.ratio(staticRate) >= 0.4));
            Stats dp = stats(http, w, n.distribution(), "p99_ms");
            rows.add(judge(new Row(e.getValue(), "p99 latency, ms", stats(http, w, n.layercache(), "p99_ms"), dp,
                    stats(http, "static-small", n.nginx(), "p99_ms"), "lower than Distribution's", Verdict.NONE),
                    r -> r.ratio(dp) < 1));
            rows.add(new Row(e.getValue(), "server CPU µs per request",
                    stats(http, w, n.layercache(), "server_cpu_us_per_request"),
                    stats(http, w, n.distribution(), "server_cpu_us_per_request"),
                    stats(http, "static-small", n.nginx(), "server_cpu_us_per_request"), "", Verdict.NONE));
        }
        String what = "Small blobs (fresh 4 KiB blobs, 8 clients)";
        JsonNode settings = http.path("settings");
        if (settings.has("small_blobs")) {
            what = "Small blobs (" + String.format(Locale.ROOT, "%,d", settings.get("small_blobs").asInt())
                    + " fresh blobs of " + settings.path("small_blob_bytes").asInt() / 1024 + " KiB, "
                    + settings.path("small_blob_clients").asInt() + " clients)";
        }
        Stats sd = stats(http, "small-blobs", n.distribution(), "blobs_per_s");
        rows.add(judge(new Row(what, "blobs/s", stats(http, "small-blobs", n.layercache(), "blobs_per_s"), sd, null,
                "≥ 3× Distribution", Verdict.NONE), r -> r.ratio(sd) >= 3));
        rows.add(new Row(what, "wall time, s", stats(http, "small-blobs", n.layercache(), "seconds"),
                stats(http, "small-blobs", n.distribution(), "seconds"), null, "", Verdict.NONE));
        rows.add(new Row(what, "server CPU µs per blob", stats(http, "small-blobs", n.layercache(),
                "server_cpu_us_per_blob"), stats(http, "small-blobs", n.distribution(), "server_cpu_us_per_blob"),
                null, "", Verdict.NONE));
        rows.add(durability(http, n, what));
        return rows;
    }

    /** Every acknowledged blob answered HEAD with its length, in every round. */
    private static Row durability(JsonNode http, Names n, String what) {
        List<Double> acknowledged = values(http, "small-blobs", n.layercache(), "acknowledged");
        List<Double> verified = values(http, "small-blobs", n.layercache(), "verified");
        Stats ack = acknowledged.isEmpty() ? null : Stats.of(acknowledged);
        Stats ok = verified.isEmpty() ? null : Stats.of(verified);
        Verdict v = ack == null || ok == null ? Verdict.UNKNOWN
                : Verdict.of(sum(acknowledged) == sum(verified) && sum(acknowledged) > 0);
        List<Double> dAck = values(http, "small-blobs", n.distribution(), "acknowledged");
        List<Double> dOk = values(http, "small-blobs", n.distribution(), "verified");
        String text = "every acknowledged blob retrievable (" + (long) sum(verified) + " of " + (long) sum(acknowledged)
                + " over all rounds; Distribution " + (long) sum(dOk) + " of " + (long) sum(dAck) + ")";
        // Distribution's count stays in the words: a ratio of two counts would say nothing.
        return new Row(what, "acknowledged blobs found by `HEAD` with their length, per round", ok, null, null,
                text, v);
    }

    private static double sum(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).sum();
    }

    private static Row judge(Row row, java.util.function.Predicate<Row> rule) {
        boolean known = row.layercache() != null && !row.target().isEmpty();
        Verdict v = known ? Verdict.of(rule.test(row)) : Verdict.UNKNOWN;
        // A rule that compares with a missing server cannot be judged: NaN compares false.
        if (known && v == Verdict.NOT_MET && missingComparison(row)) {
            v = Verdict.UNKNOWN;
        }
        return new Row(row.what(), row.figure(), row.layercache(), row.distribution(), row.nginx(), row.target(), v);
    }

    private static boolean missingComparison(Row row) {
        return row.target().contains("Distribution") && row.distribution() == null
                || row.target().contains("nginx") && row.nginx() == null;
    }

    private static final Pattern GRPC_RUN = Pattern.compile("^(GetEntry|WriteBlob|ReadBlob)\\b.*, (round|run) \\d+$");

    /** Every per-round value of {@code figure} in the grpc report's rows of {@code kind}. */
    static List<Double> grpcValues(JsonNode grpc, String kind, String figure) {
        List<Double> values = new ArrayList<>();
        for (JsonNode row : grpc.path("rows")) {
            Matcher m = GRPC_RUN.matcher(row.path("benchmark").asText());
            if (m.matches() && m.group(1).equals(kind) && row.path(figure).isNumber()) {
                values.add(row.path(figure).asDouble());
            }
        }
        return values;
    }

    private static Stats grpcStats(JsonNode grpc, String kind, String figure) {
        List<Double> v = grpcValues(grpc, kind, figure);
        return v.isEmpty() ? null : Stats.of(v);
    }

    /** The machine's single-core SHA-256 rate as the grpc benchmark measured it (Java's MessageDigest). */
    static Stats javaSha256(JsonNode grpc) {
        for (JsonNode row : grpc.path("rows")) {
            if (row.path("single_core_sha256_MB_per_s").isNumber()) {
                return Stats.of(List.of(row.get("single_core_sha256_MB_per_s").asDouble()));
            }
        }
        return null;
    }

    static List<Row> grpcRows(JsonNode grpc, JsonNode facts) {
        List<Row> rows = new ArrayList<>();
        Stats lookups = grpcStats(grpc, "GetEntry", "lookups_per_s");
        rows.add(new Row("`GetEntry` lookups", "lookups/s", lookups, null, null, "≥ 20,000/s",
                lookups == null ? Verdict.UNKNOWN : Verdict.of(lookups.median() >= 20_000)));
        Stats p99 = grpcStats(grpc, "GetEntry", "p99_ms");
        rows.add(new Row("`GetEntry` lookups", "p99 latency, ms", p99, null, null, "≤ 5 ms",
                p99 == null ? Verdict.UNKNOWN : Verdict.of(p99.median() <= 5)));
        rows.add(new Row("`GetEntry` lookups", "server CPU µs per lookup",
                grpcStats(grpc, "GetEntry", "server_cpu_us_per_lookup"), null, null, "", Verdict.NONE));
        Stats write = grpcStats(grpc, "WriteBlob", "MB_per_s");
        Stats sha = javaSha256(grpc);
        String shaText = sha == null ? "70% of single-core SHA-256"
                : "≥ 70% of single-core SHA-256 (" + Stats.number(sha.median()) + " MB/s Java"
                + (facts.path("sha256_openssl_MB_per_s").isNumber()
                ? ", " + Stats.number(facts.get("sha256_openssl_MB_per_s").asDouble()) + " openssl" : "") + ")";
        Stats disk = floorStats(facts.path("disk_floor"));
        Stats durable = floorStats(facts.path("durable_floor"));
        Stats durablePageCache = floorStats(facts.path("durable_floor_page_cache"));
        double bestDurable = Math.max(durable == null ? 0 : durable.median(),
                durablePageCache == null ? 0 : durablePageCache.median());
        if (sha != null && bestDurable > 0 && bestDurable < 0.7 * sha.median()) {
            shaText += "; above both durable floors below";
        } else if (disk != null && sha != null && disk.median() < 0.7 * sha.median()) {
            shaText += "; above the disk floor below";
        }
        rows.add(new Row("`WriteBlob`", "MB/s", write, null, null, shaText,
                write == null || sha == null ? Verdict.UNKNOWN : Verdict.of(write.median() >= 0.7 * sha.median())));
        rows.add(new Row("`WriteBlob`", "server CPU-s per GiB", grpcStats(grpc, "WriteBlob", "server_cpu_s_per_GiB"),
                null, null, "", Verdict.NONE));
        Stats floor = floorStats(facts.path("loopback_floor"));
        if (floor != null) {
            // The ceiling with the client on the same machine: TCP from memory into SHA-256, nothing else.
            rows.add(new Row("loopback floor (`floor`)", "MB/s", floor, null, null,
                    "the ceiling of a verified upload with the client on this machine" + shareOf(floor, sha),
                    Verdict.NONE));
        }
        if (disk != null) {
            // The ceiling the disk sets: an upload is acknowledged only once it is on the device.
            rows.add(new Row("disk floor (`disk-floor`)", "MB/s", disk, null, null,
                    "the ceiling of an upload acknowledged only once on the device: direct writes, then fsync"
                    + shareOf(disk, sha), Verdict.NONE));
            if (write != null) {
                rows.add(new Row("`WriteBlob`", "share of the disk floor", new Stats(write.median() / disk.median(),
                        write.min() / disk.median(), write.max() / disk.median(), write.n()), null, null, "",
                        Verdict.NONE));
            }
        }
        if (durable != null) {
            // The ceiling of the whole path with no protocol: loopback, hash, the file written as the server does, fsync.
            rows.add(new Row("durable floor (`floor --dir`), direct writes as the server", "MB/s", durable, null,
                    null, "the ceiling of a verified upload acknowledged only once on the device, with the client "
                    + "on this machine" + shareOf(durable, sha), Verdict.NONE));
            if (durablePageCache != null) {
                rows.add(new Row("durable floor (`floor --dir`), page-cache writes", "MB/s", durablePageCache, null,
                        null, "the same written through the page cache, then fsynced" + shareOf(durablePageCache, sha),
                        Verdict.NONE));
            }
            if (write != null) {
                rows.add(new Row("`WriteBlob`", "share of the durable floor (direct writes)",
                        new Stats(write.median() / durable.median(), write.min() / durable.median(),
                                write.max() / durable.median(), write.n()), null, null, "", Verdict.NONE));
            }
        }
        Stats read = grpcStats(grpc, "ReadBlob", "MB_per_s");
        Stats curl = grpcStats(grpc, "ReadBlob", "oci_download_curl_MB_per_s");
        rows.add(new Row("`ReadBlob`", "MB/s", read, null, null, "faster than the OCI download of the same blob"
                + (curl == null ? "" : " (curl: " + curl.text() + " MB/s)"),
                read == null || curl == null ? Verdict.UNKNOWN : Verdict.of(read.median() > curl.median())));
        rows.add(new Row("`ReadBlob`", "server CPU-s per GiB", grpcStats(grpc, "ReadBlob", "server_cpu_s_per_GiB"),
                null, null, "", Verdict.NONE));
        return rows;
    }

    /** A floor benchmark's row from the facts, or null when it did not run. */
    static Stats floorStats(JsonNode floor) {
        if (!floor.path("MB_per_s").isNumber()) {
            return null;
        }
        return new Stats(floor.get("MB_per_s").asDouble(), floor.path("MB_per_s_min").asDouble(Double.NaN),
                floor.path("MB_per_s_max").asDouble(Double.NaN), floor.path("rounds").asInt(1));
    }

    private static String shareOf(Stats rate, Stats sha) {
        return sha == null ? "" : String.format(Locale.ROOT, ", %.0f%% of single-core SHA-256",
                100 * rate.median() / sha.median());
    }

    /**
     * The memory phase: its peak is the kernel's high-water mark of the resident set (VmHWM), or
     * the sampled VmRSS if that is higher (it cannot be, unless the sample came from elsewhere).
     */
    static List<Row> memoryRows(JsonNode facts) {
        JsonNode m = facts.path("memory");
        List<Row> rows = new ArrayList<>();
        String what = "Moving " + (m.path("big_mib").isNumber() ? size(m.get("big_mib").asLong()) : "big")
                + " blobs both ways, OCI and gRPC (a fresh node)";
        List<Double> known = new ArrayList<>();
        for (String key : List.of("hwm_MiB", "rss_peak_MiB")) {
            if (m.path(key).isNumber()) {
                known.add(m.get(key).asDouble());
            }
        }
        Stats p = known.isEmpty() ? null : Stats.of(List.of(java.util.Collections.max(known)));
        rows.add(new Row(what, "peak resident memory (VmHWM), MiB", p, null, null, "≤ 384 MiB",
                p == null ? Verdict.UNKNOWN : Verdict.of(p.median() <= 384)));
        if (m.path("rss_peak_MiB").isNumber()) {
            rows.add(new Row(what, "VmRSS sampled every 0.1 s, peak, MiB",
                    Stats.of(List.of(m.get("rss_peak_MiB").asDouble())), null, null, "", Verdict.NONE));
        }
        if (m.path("main_hwm_MiB").isNumber()) {
            rows.add(new Row("The node of the tables above, after all of them", "peak resident memory (VmHWM), MiB",
                    Stats.of(List.of(m.get("main_hwm_MiB").asDouble())), null, null, "", Verdict.NONE));
        }
        return rows;
    }

    /** {@code 4 GiB}, {@code 1.5 GiB}, {@code 64 MiB}. */
    static String size(long mib) {
        return mib >= 1024 ? (mib % 1024 == 0 ? mib / 1024 + " GiB" : Stats.number(mib / 1024.0) + " GiB")
                : mib + " MiB";
    }

    // ------------------------------------------------------------------ Markdown

    static String markdown(List<Row> oci, List<Row> grpc, List<Row> memory, JsonNode http, JsonNode facts) {
        StringBuilder sb = new StringBuilder();
        JsonNode s = http.path("settings");
        JsonNode machine = facts.path("machine");
        sb.append("## Side by side: layercache, CNCF Distribution and nginx\n\n");
        sb.append("Regenerated by `loadtest/side-by-side.sh`");
        if (facts.has("date")) {
            sb.append(" on ").append(facts.get("date").asText());
        }
        if (facts.path("run_seconds").isNumber()) {
            sb.append(String.format(Locale.ROOT, " (run time %.1f min)", facts.get("run_seconds").asDouble() / 60));
        }
        sb.append(". Machine: ").append(machineLine(machine)).append('.');
        if (machine.has("load")) {
            sb.append(" Load average (1 min) ").append(machine.get("load").asText())
                    .append(": other work shared the cores.");
        }
        sb.append("\n\n");
        sb.append("Each figure is the median of ").append(s.path("rounds").asInt())
                .append(" measured rounds, with the spread (min–max) in brackets; the targets are interleaved in "
                        + "every round (which one goes first alternates) after an unreported warm-up run of each "
                        + "workload on each target, and ratios are ratios of medians. Server CPU is the server "
                        + "process's user + system time from `/proc/PID/stat` (nginx: its master and workers), "
                        + "steadier than rates on this shared machine. One Java client (`layercache-loadtest http`, "
                        + "keep-alive connections, bodies sent with sendfile and received into one buffer, "
                        + "never hashed) drives all three servers, so the client's cost is the same for each.\n\n");
        sb.append("### OCI Distribution API\n\n");
        table(sb, oci, true);
        sb.append("\nRequests: ").append(s.path("concurrency").asInt()).append(" connections, ")
                .append(s.path("duration_s").asInt()).append(" s per round; the tags list holds ")
                .append(s.path("tags").asInt()).append(" tags; nginx's column for requests is a `GET` of a static ")
                .append("4 KiB file. Uploads: fresh random content every time (made and hashed before the clock starts), ")
                .append(s.path("blob_mib").asInt()).append(" MiB, chunks of ").append(s.path("chunk_mib").asInt())
                .append(" MiB; a file may go to both servers of a round, never twice to one. Download: the same file ")
                .append("nginx serves, pushed once, fetched again and again on one connection for at least ")
                .append(Stats.plain(s.path("download_s").asDouble(0))).append(" s per round.\n");
        sb.append("\n### Native gRPC API (layercache)\n\n");
        table(sb, grpc, false);
        sb.append("\n### Server memory\n\n");
        table(sb, memory, false);
        if (facts.path("memory").has("note")) {
            sb.append("\n").append(facts.get("memory").get("note").asText()).append("\n");
        }
        long met = count(oci, grpc, memory, Verdict.MET);
        long notMet = count(oci, grpc, memory, Verdict.NOT_MET);
        long unknown = count(oci, grpc, memory, Verdict.UNKNOWN);
        sb.append("\nTargets: ").append(met).append(" met, ").append(notMet).append(" not met")
                .append(unknown > 0 ? ", " + unknown + " without a figure" : "").append(".\n");
        if (facts.has("commands")) {
            sb.append("\n### Commands\n\n```\n");
            facts.get("commands").forEach(c -> sb.append(c.asText()).append('\n'));
            sb.append("```\n");
        }
        return sb.toString();
    }

    private static long count(List<Row> a, List<Row> b, List<Row> c, Verdict v) {
        return java.util.stream.Stream.of(a, b, c).flatMap(List::stream).filter(r -> r.verdict() == v).count();
    }

    static String machineLine(JsonNode m) {
        List<String> parts = new ArrayList<>();
        if (m.has("nproc")) {
            parts.add(m.get("nproc").asText() + " cores (" + m.path("cpu").asText("?") + ")");
        }
        for (String[] kv : new String[][] {{"ram", "RAM"}, {"kernel", "Linux"}, {"os", ""}, {"java", "Java"},
                {"distribution", "Distribution"}, {"nginx", "nginx"}}) {
            if (m.has(kv[0])) {
                parts.add(kv[0].equals("ram") ? m.get(kv[0]).asText() + " " + kv[1]
                        : (kv[1].isEmpty() ? "" : kv[1] + " ") + m.get(kv[0]).asText());
            }
        }
        return parts.isEmpty() ? "not recorded" : String.join(", ", parts);
    }

    private static void table(StringBuilder sb, List<Row> rows, boolean threeServers) {
        if (threeServers) {
            sb.append("| workload | figure | layercache | Distribution | nginx | ÷ Distribution | ÷ nginx | target |\n")
                    .append("|---|---|---|---|---|---|---|---|\n");
        } else {
            sb.append("| what | figure | layercache | target |\n|---|---|---|---|\n");
        }
        for (Row r : rows) {
            sb.append("| ").append(r.what()).append(" | ").append(r.figure()).append(" | ").append(text(r.layercache()));
            if (threeServers) {
                sb.append(" | ").append(text(r.distribution())).append(" | ").append(text(r.nginx()))
                        .append(" | ").append(r.distribution() == null ? "" : Stats.ratio(r.ratio(r.distribution())))
                        .append(" | ").append(r.nginx() == null ? "" : Stats.ratio(r.ratio(r.nginx())));
            }
            sb.append(" | ").append(r.target());
            if (r.verdict() != Verdict.NONE) {
                sb.append(r.target().isEmpty() ? "" : ": ").append(r.verdict().text);
            }
            sb.append(" |\n");
        }
    }

    private static String text(Stats s) {
        return s == null ? "" : s.text();
    }

    /** {@code document} with the text between the markers replaced by {@code section}. */
    static String splice(String document, String section) {
        int begin = document.indexOf(BEGIN);
        int end = document.indexOf(END);
        if (begin < 0 || end < begin) {
            throw new IllegalArgumentException("the file has no " + BEGIN + " ... " + END + " section to replace");
        }
        return document.substring(0, begin + BEGIN.length()) + "\n" + section.strip() + "\n"
                + document.substring(end);
    }
}
