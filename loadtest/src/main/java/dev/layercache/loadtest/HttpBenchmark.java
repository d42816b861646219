package dev.layercache.loadtest;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The OCI Distribution API's workloads against one or more registries (and plain web servers as
 * ceilings), in interleaved rounds: every round runs each workload on every target, alternating
 * which target goes first, so that a comparison sees the same noise on both sides. Each target
 * first gets an unreported warm-up run of each workload (JIT). Reports the median and spread of
 * every figure and the ratio to the first target; {@code --json} keeps every round's figures.
 */
@Command(name = "http", mixinStandardHelpOptions = true, sortOptions = false,
        description = "OCI workloads (small requests, blob upload and download, many small blobs) against "
                + "one or more registries, interleaved")
final class HttpBenchmark implements Callable<Integer> {
    static final List<String> ALL = List.of("head-blob", "get-manifest", "tags-list", "upload-monolithic",
            "upload-chunked", "download", "small-blobs", "static-small");

    @Option(names = "--target", description = "NAME=http://host:port of an OCI registry; repeat to compare, "
            + "the first is the baseline of the ratios")
    List<String> targets = new ArrayList<>();

    @Option(names = "--static", description = "NAME=http://host:port of a plain web server (a ceiling): it gets "
            + "the download (of --static-download, which must be --download-file) and static-small workloads")
    List<String> statics = new ArrayList<>();

    @Option(names = "--server-pid", split = ",", description = "process ids of the servers, in --target order "
            + "then --static order: adds server CPU per unit of work (with its live child processes)")
    List<Long> serverPids = new ArrayList<>();

    @Option(names = "--workloads", split = ",", description = "some of ${COMPLETION-CANDIDATES}; default all",
            completionCandidates = Names.class)
    List<String> workloads = ALL;

    @Option(names = "--rounds", defaultValue = "5", description = "interleaved rounds measured")
    int rounds;

    @Option(names = "--repository", defaultValue = "bench/small")
    String repository;

    @Option(names = "--concurrency", defaultValue = "32", description = "connections of the request workloads")
    int concurrency;

    @Option(names = "--duration", defaultValue = "8", description = "seconds per round of a request workload")
    int seconds;

    @Option(names = "--warmup", defaultValue = "5",
            description = "seconds of each request workload per target before measuring (JIT); 0 for none")
    int warmup;

    @Option(names = "--tags", defaultValue = "50", description = "tags in the repository (tags-list)")
    int tags;

    @Option(names = "--blob-mib", defaultValue = "1024", description = "size of the uploaded and downloaded blob")
    int blobMib;

    @Option(names = "--chunk-mib", defaultValue = "16", description = "bytes per PATCH of upload-chunked")
    int chunkMib;

    @Option(names = "--download-file", description = "the blob downloaded (pushed first); default: a random "
            + "file of --blob-mib. A --static server must serve this very file at --static-download")
    Path downloadFile;

    @Option(names = "--download-seconds", defaultValue = "3",
            description = "a download run repeats the GET until it has lasted this long; 0 for one GET")
    double downloadSeconds;

    @Option(names = "--static-download", defaultValue = "/blob", description = "path of --download-file on --static")
    String staticDownload;

    @Option(names = "--static-small", defaultValue = "/small", description = "path of a small file on --static")
    String staticSmall;

    @Option(names = "--small-blobs", defaultValue = "1000", description = "blobs pushed per round (small-blobs)")
    int smallBlobs;

    @Option(names = "--small-blob-bytes", defaultValue = "4096")
    int smallBlobBytes;

    @Option(names = "--small-blob-clients", defaultValue = "8", description = "concurrent pushing clients")
    int smallBlobClients;

    @Option(names = "--small-blob-warmup", defaultValue = "10", description = "seconds of small-blobs pushed "
            + "per target before measuring: its upload path (three requests and a commit each) keeps a JVM's JIT "
            + "busy for several seconds of pushing, far more than a request workload's --warmup; none with --warmup 0")
    int smallBlobWarmup;

    @Option(names = "--upload-warmup", defaultValue = "10", description = "seconds of uploads (of one 256 MiB "
            + "blob, again and again) per upload workload and target before measuring: the upload path keeps a JVM's "
            + "JIT compiling for gigabytes; none with --warmup 0 (one upload)")
    int uploadWarmup;

    @Option(names = "--small-blob-head", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "HEAD each blob before pushing it, as real clients do (default: yes)")
    boolean smallBlobHead;

    @Option(names = "--work-dir", description = "where upload content is made (default /dev/shm if writable, "
            + "so the client's files never compete for the disk)")
    Path workDir;

    @Option(names = "--json", description = "write every round's figures and the summary here")
    Path json;

    /** A server under test: an OCI registry, or a plain web server that is a ceiling. */
    record Target(String name, URI base, Long pid, boolean isStatic) {
    }

    /** One measured run: the round, the workload, the target and its figures. */
    record Run(int round, String workload, String target, Map<String, Object> figures) {
    }

    static final class Names extends ArrayList<String> {
        Names() {
            super(ALL);
        }
    }

    private final List<Run> runs = new ArrayList<>();
    private final Map<String, Workload> selected = new LinkedHashMap<>();

    @Override
    public Integer call() throws Exception {
        List<Target> all = parseTargets();
        Path work = Files.createTempDirectory(workDir != null ? workDir : defaultWorkDir(), "layercache-loadtest-");
        try {
            select(all, work);
            for (Target t : all) {
                if (!t.isStatic() && Stream.of("head-blob", "get-manifest", "tags-list").anyMatch(selected::containsKey)) {
                    pushFixture(t);
                }
                for (Workload w : selected.values()) {
                    if (w.appliesTo(t)) {
                        w.prepare(t);
                    }
                }
            }
            for (Target t : all) {
                for (Workload w : selected.values()) {
                    if (w.appliesTo(t)) {
                        System.err.printf(Locale.ROOT, "warm-up %-18s %s%n", w.name(), t.name());
                        w.run(t, true);
                    }
                }
            }
            for (int round = 1; round <= rounds; round++) {
                // Alternate which target goes first, so neither always follows the other's load.
                List<Target> order = new ArrayList<>(all);
                if (round % 2 == 0) {
                    Collections.reverse(order);
                }
                for (Workload w : selected.values()) {
                    for (Target t : order) {
                        if (w.appliesTo(t)) {
                            Map<String, Object> figures = w.run(t, false);
                            runs.add(new Run(round, w.name(), t.name(), figures));
                            System.err.printf(Locale.ROOT, "round %d %-18s %-14s %s %s%n", round, w.name(), t.name(),
                                    Stats.number(((Number) figures.get(w.primary())).doubleValue()), w.primary());
                        }
                    }
                }
            }
        } finally {
            try (Stream<Path> files = Files.walk(work)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        System.out.println(markdown(all));
        if (json != null) {
            Files.write(json, new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(
                    result(all)));
        }
        return 0;
    }

    /** The workload objects, for tests that look inside one after a run. */
    Map<String, Workload> workloads() {
        return selected;
    }

    /** Every measured run, in order. */
    List<Run> runs() {
        return runs;
    }

    private List<Target> parseTargets() {
        List<Target> all = new ArrayList<>();
        List<String> specs = new ArrayList<>(targets);
        specs.addAll(statics);
        for (int i = 0; i < specs.size(); i++) {
            String[] nv = specs.get(i).split("=", 2);
            if (nv.length != 2 || nv[0].isEmpty()) {
                throw new IllegalArgumentException("--target and --static take NAME=URL, not " + specs.get(i));
            }
            URI base = URI.create(nv[1].replaceAll("/+$", ""));
            if (base.getPort() < 0 || !"http".equals(base.getScheme())) {
                throw new IllegalArgumentException("a target is http://host:port, not " + nv[1]);
            }
            all.add(new Target(nv[0], base, i < serverPids.size() ? serverPids.get(i) : null, i >= targets.size()));
        }
        if (all.isEmpty()) {
            throw new IllegalArgumentException("give at least one --target or --static");
        }
        if (!statics.isEmpty() && downloadFile == null && workloads.contains("download")) {
            throw new IllegalArgumentException("--static needs --download-file: the file it serves at "
                    + staticDownload);
        }
        return all;
    }

    private static Path defaultWorkDir() {
        Path shm = Path.of("/dev/shm");
        return Files.isDirectory(shm) && Files.isWritable(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir"));
    }

    private void select(List<Target> all, Path work) throws IOException {
        for (String name : workloads) {
            if (!ALL.contains(name)) {
                throw new IllegalArgumentException("unknown workload " + name + "; known: " + ALL);
            }
        }
        for (String name : ALL) {
            if (!workloads.contains(name)) {
                continue;
            }
            Workload w = switch (name) {
                case "head-blob" -> new RequestRateWorkload(name, "HEAD", Oci.blobPath(repository, configDigest()),
                        false, concurrency, seconds, warmup);
                case "get-manifest" -> new RequestRateWorkload(name, "GET", "/v2/" + repository + "/manifests/small",
                        false, concurrency, seconds, warmup);
                case "tags-list" -> new RequestRateWorkload(name, "GET", "/v2/" + repository + "/tags/list", false,
                        concurrency, seconds, warmup);
                case "static-small" -> new RequestRateWorkload(name, "GET", staticSmall, true, concurrency, seconds,
                        warmup);
                case "upload-monolithic" -> new UploadWorkload(false, (long) blobMib << 20, 0, work, repository,
                        warmup == 0 ? 0 : uploadWarmup);
                case "upload-chunked" -> new UploadWorkload(true, (long) blobMib << 20, (long) chunkMib << 20, work,
                        repository, warmup == 0 ? 0 : uploadWarmup);
                case "download" -> {
                    Path file = downloadFile;
                    if (file == null) {
                        file = work.resolve("download.bin");
                        RandomContent.file(file, (long) blobMib << 20);
                    }
                    yield new DownloadWorkload(file, staticDownload, repository, downloadSeconds);
                }
                case "small-blobs" -> new SmallBlobsWorkload(smallBlobs, smallBlobBytes, smallBlobClients,
                        smallBlobHead, repository, warmup == 0 ? 0 : smallBlobWarmup);
                default -> throw new IllegalStateException(name);
            };
            if (all.stream().anyMatch(w::appliesTo)) {
                selected.put(name, w);
            }
        }
    }

    private static byte[] config() {
        return "{\"architecture\":\"amd64\",\"os\":\"linux\"}".getBytes(StandardCharsets.UTF_8);
    }

    private static String configDigest() {
        return RandomContent.digestOf(config());
    }

    /** A small blob and a manifest under {@code small} and {@code --tags - 1} more tags (idempotent). */
    private void pushFixture(Target t) throws IOException {
        try (HttpConnection c = new HttpConnection(t.base())) {
            Oci.pushBlob(c, repository, config(), configDigest());
            String manifest = "{\"schemaVersion\":2,\"mediaType\":\"" + Oci.MANIFEST_TYPE + "\","
                    + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\""
                    + configDigest() + "\",\"size\":" + config().length + "},\"layers\":[]}";
            Oci.putManifest(c, repository, "small", manifest);
            for (int i = 1; i < tags; i++) {
                Oci.putManifest(c, repository, String.format(Locale.ROOT, "t%03d", i), manifest);
            }
        }
    }

    /** Median and spread of every numeric figure of (workload, target), over the measured rounds. */
    Map<String, Stats> summary(String workload, String target) {
        Map<String, List<Double>> values = new LinkedHashMap<>();
        for (Run r : runs) {
            if (r.workload().equals(workload) && r.target().equals(target)) {
                r.figures().forEach((k, v) -> {
                    if (v instanceof Number n) {
                        values.computeIfAbsent(k, x -> new ArrayList<>()).add(n.doubleValue());
                    }
                });
            }
        }
        Map<String, Stats> stats = new LinkedHashMap<>();
        values.forEach((k, v) -> stats.put(k, Stats.of(v)));
        return stats;
    }

    private String markdown(List<Target> all) {
        StringBuilder sb = new StringBuilder("## OCI workloads, median (min–max) of ").append(rounds)
                .append(" interleaved rounds\n");
        for (Workload w : selected.values()) {
            List<Target> on = all.stream().filter(w::appliesTo).toList();
            Map<String, Stats> baseline = summary(w.name(), all.get(0).name());
            List<String> keys = new ArrayList<>();
            for (Target t : on) {
                summary(w.name(), t.name()).keySet().stream().filter(k -> !keys.contains(k)).forEach(keys::add);
            }
            keys.remove(w.primary());
            sb.append("\n### ").append(w.name()).append(": ").append(w.description()).append("\n\n| target | ")
                    .append(w.primary()).append(" | ÷ ").append(all.get(0).name());
            keys.forEach(k -> sb.append(" | ").append(k));
            sb.append(" |\n|---|---|---");
            keys.forEach(k -> sb.append("|---"));
            sb.append("|\n");
            for (Target t : on) {
                Map<String, Stats> s = summary(w.name(), t.name());
                Stats primary = s.get(w.primary());
                sb.append("| ").append(t.name()).append(" | ").append(primary.text()).append(" | ")
                        .append(baseline.containsKey(w.primary())
                                ? Stats.ratio(primary.median() / baseline.get(w.primary()).median()) : "");
                for (String k : keys) {
                    sb.append(" | ").append(s.containsKey(k) ? s.get(k).text() : "");
                }
                sb.append(" |\n");
            }
        }
        return sb.toString();
    }

    private Map<String, Object> result(List<Target> all) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("benchmark", "http");
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("rounds", rounds);
        settings.put("concurrency", concurrency);
        settings.put("duration_s", seconds);
        settings.put("warmup_s", warmup);
        settings.put("small_blob_warmup_s", warmup == 0 ? 0 : smallBlobWarmup);
        settings.put("upload_warmup_s", warmup == 0 ? 0 : uploadWarmup);
        settings.put("repository", repository);
        settings.put("tags", tags);
        settings.put("blob_mib", blobMib);
        settings.put("chunk_mib", chunkMib);
        settings.put("download_s", downloadSeconds);
        settings.put("small_blobs", smallBlobs);
        settings.put("small_blob_bytes", smallBlobBytes);
        settings.put("small_blob_clients", smallBlobClients);
        settings.put("small_blob_head", smallBlobHead);
        out.put("settings", settings);
        List<Map<String, Object>> ts = new ArrayList<>();
        for (Target t : all) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", t.name());
            m.put("url", t.base().toString());
            m.put("kind", t.isStatic() ? "static" : "oci");
            ts.add(m);
        }
        out.put("targets", ts);
        Map<String, Object> described = new LinkedHashMap<>();
        selected.forEach((name, w) -> described.put(name, Map.of("description", w.description(),
                "primary", w.primary())));
        out.put("workloads", described);
        out.put("rounds", runs);
        List<Map<String, Object>> summary = new ArrayList<>();
        for (Workload w : selected.values()) {
            Map<String, Stats> baseline = summary(w.name(), all.get(0).name());
            for (Target t : all) {
                if (!w.appliesTo(t)) {
                    continue;
                }
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("workload", w.name());
                m.put("target", t.name());
                Map<String, Stats> s = summary(w.name(), t.name());
                m.put("figures", s);
                if (baseline.containsKey(w.primary())) {
                    m.put("ratio_to_" + all.get(0).name(),
                            s.get(w.primary()).median() / baseline.get(w.primary()).median());
                }
                summary.add(m);
            }
        }
        out.put("summary", summary);
        return out;
    }
}
