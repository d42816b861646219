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
 * Issue 24's targets, judged against ceilings of the same run, are {@link MachineTargets}'.
 *
 * <p>Over 400 lines: the tables of one report read best side by side (each row's words and its
 * rule together); the rules that need a ceiling measured in the run live in {@link MachineTargets}.
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

    @Option(names = "--small", description = "JSON of the small requests measured with wrk and hey against nginx")
    Path smallJson;

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
        JsonNode small = smallJson == null ? mapper.createObjectNode() : mapper.readTree(smallJson.toFile());
        Names names = new Names(layercache, distribution, nginx);
        MachineTargets.Ceiling ceiling = MachineTargets.ceiling(facts, grpc);
        List<Row> oci = ociRows(http, names, facts, ceiling);
        List<Row> requests = MachineTargets.smallRequestRows(small);
        List<Row> native_ = grpcRows(grpc, facts, http, names);
        List<Row> startup = MachineTargets.startupRows(facts);
        List<Row> memory = MachineTargets.memoryRows(facts);
        String section = markdown(List.of(oci, requests, native_, startup, memory), http, small, facts);
        System.out.println(section);
        if (update != null) {
            String doc = Files.readString(update);
            Files.writeString(update, splice(doc, section));
        }
        if (json != null) {
            ObjectNode out = mapper.createObjectNode();
            out.set("facts", facts);
            List<Row> all = new ArrayList<>(oci);
            all.addAll(requests);
            all.addAll(native_);
            all.addAll(startup);
            all.addAll(memory);
            out.set("verdicts", mapper.valueToTree(all));
            out.set("http", http);
            out.set("small_requests", small);
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

    /** The OCI rows without the facts of a run: no ceiling and no baseline, so those rows have no figure. */
    static List<Row> ociRows(JsonNode http, Names n) {
        JsonNode none = new ObjectMapper().createObjectNode();
        return ociRows(http, n, none, MachineTargets.ceiling(none, none));
    }

    static List<Row> ociRows(JsonNode http, Names n, JsonNode facts, MachineTargets.Ceiling ceiling) {
        List<Row> rows = new ArrayList<>();
        for (String w : List.of("upload-monolithic", "upload-chunked")) {
            String what = w.equals("upload-monolithic") ? "Upload, monolithic (`POST`, one `PUT`)"
                    : "Upload, chunked (`PATCH`es with `Content-Range`)";
            // Issue 24: against the machine's ceiling, no longer against Distribution (its column stays).
            rows.add(MachineTargets.uploadRate(what, stats(http, w, n.layercache(), "MB_per_s"),
                    stats(http, w, n.distribution(), "MB_per_s"), ceiling));
            rows.add(MachineTargets.uploadCpu(what, stats(http, w, n.layercache(), "server_cpu_s_per_GiB"),
                    stats(http, w, n.distribution(), "server_cpu_s_per_GiB")));
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
            // The share of nginx is judged with wrk and hey (the table below): this client tops out first.
            rows.add(judge(new Row(e.getValue(), "requests/s", stats(http, w, n.layercache(), "requests_per_s"), dr,
                    staticRate, "≥ 10× Distribution", Verdict.NONE), r -> r.ratio(dr) >= 10));
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
        rows.add(MachineTargets.smallBlobsRate(what, stats(http, "small-blobs", n.layercache(), "blobs_per_s"), sd,
                facts));
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
        return grpcRows(grpc, facts, new ObjectMapper().createObjectNode(), new Names("layercache", "", ""));
    }

    static List<Row> grpcRows(JsonNode grpc, JsonNode facts, JsonNode http, Names n) {
        List<Row> rows = new ArrayList<>();
        Stats lookups = grpcStats(grpc, "GetEntry", "lookups_per_s");
        rows.add(new Row("`GetEntry` lookups", "lookups/s", lookups, null, null, "≥ 20,000/s",
                lookups == null ? Verdict.UNKNOWN : Verdict.of(lookups.median() >= 20_000)));
        Stats p99 = grpcStats(grpc, "GetEntry", "p99_ms");
        rows.add(new Row("`GetEntry` lookups", "p99 latency, ms", p99, null, null, "≤ 5 ms",
                p99 == null ? Verdict.UNKNOWN : Verdict.of(p99.median() <= 5)));
        rows.add(new Row("`GetEntry` lookups", "server CPU µs per lookup",
                grpcStats(grpc, "GetEntry", "server_cpu_us_per_lookup"), null, null, "", Verdict.NONE));
        // Issue 24 replaces issue 3's WriteBlob (70% of SHA-256) and ReadBlob (faster than curl)
        // targets: the upload ceiling and CPU bound of every upload, and parity with the OCI API.
        MachineTargets.Ceiling ceiling = MachineTargets.ceiling(facts, grpc);
        Stats write = grpcStats(grpc, "WriteBlob", "MB_per_s");
        Stats sha = ceiling.javaSha();
        rows.add(MachineTargets.uploadRate("`WriteBlob`", write, null, ceiling));
        rows.add(MachineTargets.uploadCpu("`WriteBlob`", grpcStats(grpc, "WriteBlob", "server_cpu_s_per_GiB"), null));
        Stats read = grpcStats(grpc, "ReadBlob", "MB_per_s");
        Stats curl = grpcStats(grpc, "ReadBlob", "oci_download_curl_MB_per_s");
        rows.add(new Row("`ReadBlob`", "MB/s", read, null, null, curl == null ? ""
                : "the OCI download of the same blob with curl: " + curl.text() + " MB/s", Verdict.NONE));
        rows.add(new Row("`ReadBlob`", "server CPU-s per GiB", grpcStats(grpc, "ReadBlob", "server_cpu_s_per_GiB"),
                null, null, "", Verdict.NONE));
        rows.addAll(MachineTargets.parityRows(grpc, http, n));
        rows.addAll(MachineTargets.grpcFloorRows(grpc, http, n));
        if (sha != null) {
            rows.add(new Row("single-core SHA-256 (Java `MessageDigest`, each time measured)", "MB/s", sha, null, null,
                    "a ceiling of any verified upload" + (ceiling.opensslSha() == null ? ""
                    : "; openssl speed: " + Stats.number(ceiling.opensslSha()) + " MB/s"), Verdict.NONE));
        }
        Stats disk = ceiling.disk();
        Stats durable = floorStats(facts.path("durable_floor"));
        Stats durablePageCache = floorStats(facts.path("durable_floor_page_cache"));
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

    /** {@code 4 GiB}, {@code 1.5 GiB}, {@code 64 MiB}. */
    static String size(long mib) {
        return mib >= 1024 ? (mib % 1024 == 0 ? mib / 1024 + " GiB" : Stats.number(mib / 1024.0) + " GiB")
                : mib + " MiB";
    }

    // ------------------------------------------------------------------ Markdown

    /** The section: {@code tables} are the OCI, small-request, gRPC, start-up and memory rows in that order. */
    static String markdown(List<List<Row>> tables, JsonNode http, JsonNode small, JsonNode facts) {
        List<Row> oci = tables.get(0);
        List<Row> requests = tables.get(1);
        List<Row> grpc = tables.get(2);
        List<Row> startup = tables.get(3);
        List<Row> memory = tables.get(4);
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
                        + "workload on each target (for small blobs, " + s.path("small_blob_warmup_s").asInt(0)
                        + " s of pushing" + uploadWarmUp(s) + ": the upload path keeps the JVM's JIT busy far longer "
                        + "than a request workload's warm-up), and ratios are ratios of medians. Server CPU is the server "
                        + "process's user + system time from `/proc/PID/stat` (nginx: its master and workers), "
                        + "steadier than rates on this shared machine. Issue 24's targets are ratios against "
                        + "ceilings measured in the same run (one core's SHA-256 rate, the disk's durable write "
                        + "rate, nginx with the same tool). In the first table one Java client (`layercache-loadtest http`, "
                        + "keep-alive connections, bodies sent with sendfile and received into one buffer, "
                        + "never hashed) drives all three servers, so the client's cost is the same for each.\n\n");
        sb.append("### OCI Distribution API\n\n");
        table(sb, oci, Columns.THREE);
        sb.append("\nRequests: ").append(s.path("concurrency").asInt()).append(" connections, ")
                .append(s.path("duration_s").asInt()).append(" s per round; the tags list holds ")
                .append(s.path("tags").asInt()).append(" tags; nginx's column for requests is a `GET` of a static ")
                .append("4 KiB file. Uploads: fresh random content every time (made and hashed before the clock starts), ")
                .append(s.path("blob_mib").asInt()).append(" MiB, chunks of ").append(s.path("chunk_mib").asInt())
                .append(" MiB; a file may go to both servers of a round, never twice to one (the warm-up aside). Download: the same file ")
                .append("nginx serves, pushed once, fetched again and again on one connection for at least ")
                .append(Stats.plain(s.path("download_s").asDouble(0))).append(" s per round.\n");
        JsonNode ss = small.path("settings");
        sb.append("\n### Small requests with wrk and hey, against nginx\n\n");
        sb.append("The Java client above tops out near 30k requests/s, below both servers; here `GET`s are measured "
                + "with wrk ").append(ss.path("wrk").asText("")).append(" and `HEAD`s with hey ")
                .append(ss.path("hey").asText("")).append(" (wrk waits for a body after `HEAD`), ")
                .append(ss.path("threads").asInt()).append(" wrk threads and ").append(ss.path("connections").asInt())
                .append(" connections for layercache and nginx alike, ").append(ss.path("duration_s").asInt())
                .append(" s per round, ").append(ss.path("rounds").asInt())
                .append(" interleaved rounds (the order reversed every other round) after a warm-up of each; nginx ")
                .append("serves a static 4 KiB file. The `HEAD` floors are bare Netty servers in their own JVM ")
                .append("(`http-floor-server`) answering every request with layercache's status and headers for ")
                .append("that blob, measured in the same rounds: their figures stand in the layercache column.\n\n");
        table(sb, requests, Columns.NGINX);
        sb.append("\n### Native gRPC API (layercache), and the machine's ceilings\n\n");
        sb.append("The gRPC floor is a bare grpc-java server in its own JVM (`grpc-floor-server`, layercache's ")
                .append("transfer settings) streaming as many bytes from memory, read by the same client in the ")
                .append("same rounds as `ReadBlob`.\n\n");
        table(sb, grpc, Columns.ONE);
        sb.append("\n### Start-up at scale\n\n");
        table(sb, startup, Columns.ONE);
        sb.append("\n### Server memory\n\n");
        table(sb, memory, Columns.ONE);
        if (facts.path("memory").has("note")) {
            sb.append("\n").append(facts.get("memory").get("note").asText()).append("\n");
        }
        long met = count(tables, Verdict.MET);
        long notMet = count(tables, Verdict.NOT_MET);
        long unknown = count(tables, Verdict.UNKNOWN);
        sb.append("\nTargets: ").append(met).append(" met, ").append(notMet).append(" not met")
                .append(unknown > 0 ? ", " + unknown + " without a figure" : "").append(".\n");
        if (facts.has("commands")) {
            sb.append("\n### Commands\n\n```\n");
            facts.get("commands").forEach(c -> sb.append(c.asText()).append('\n'));
            sb.append("```\n");
        }
        return sb.toString();
    }

    /** How the upload workloads were warmed up, for the text above the tables; empty in older results. */
    private static String uploadWarmUp(JsonNode settings) {
        int seconds = settings.path("upload_warmup_s").asInt(0);
        return seconds > 0 ? "; for each upload workload, " + seconds + " s of uploading one 256 MiB blob again and again"
                : "";
    }

    private static long count(List<List<Row>> tables, Verdict v) {
        return tables.stream().flatMap(List::stream).filter(r -> r.verdict() == v).count();
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

    /** The columns of a table: all three servers, layercache and nginx, or layercache alone. */
    enum Columns { THREE, NGINX, ONE }

    private static void table(StringBuilder sb, List<Row> rows, Columns columns) {
        switch (columns) {
            case THREE -> sb.append("| workload | figure | layercache | Distribution | nginx | ÷ Distribution | ÷ nginx "
                    + "| target |\n|---|---|---|---|---|---|---|---|\n");
            case NGINX -> sb.append("| request | figure | layercache | nginx | ÷ nginx | target |\n"
                    + "|---|---|---|---|---|---|\n");
            case ONE -> sb.append("| what | figure | layercache | target |\n|---|---|---|---|\n");
        }
        for (Row r : rows) {
            sb.append("| ").append(r.what()).append(" | ").append(r.figure()).append(" | ").append(text(r.layercache()));
            if (columns == Columns.THREE) {
                sb.append(" | ").append(text(r.distribution()));
            }
            if (columns != Columns.ONE) {
                sb.append(" | ").append(text(r.nginx()));
            }
            if (columns == Columns.THREE) {
                sb.append(" | ").append(r.distribution() == null ? "" : Stats.ratio(r.ratio(r.distribution())));
            }
            if (columns != Columns.ONE) {
                sb.append(" | ").append(r.nginx() == null ? "" : Stats.ratio(r.ratio(r.nginx())));
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
