package dev.layercache.loadtest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.stream.Stream;

/**
 * What a soak reads of one layercache node, from the outside, as an operator would:
 *
 * <ul>
 *   <li>{@code GET /api/v1/store}: blob bytes against the budget, blob and root counts, the last
 *       lifecycle run (bytes after it) and the last collection;</li>
 *   <li>{@code GET /metrics}: roots evicted, capacity misses per surface, the JVM's live heap
 *       and direct buffers (absent when the node runs without metrics);</li>
 *   <li>{@code /proc/PID} of the node's process, when it runs here: resident memory, open file
 *       descriptors, threads;</li>
 *   <li>the node's data folder, when it is here: bytes of {@code blobs/}, {@code uploads/} and
 *       {@code metadata/} (RocksDB) as files on disk.</li>
 * </ul>
 *
 * Figures that cannot be read are {@code NaN}; a file removed while its folder is walked is
 * skipped (the node deletes as it goes).
 */
final class NodeProbe {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final URI base;
    private final Long pid;
    private final Path dataDir;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    /**
     * @param registry the node's HTTP base URL
     * @param pid the node's process here, or null
     * @param dataDir the node's data folder here, or null
     */
    NodeProbe(URI registry, Long pid, Path dataDir) {
        String b = registry.toString();
        this.base = URI.create(b.endsWith("/") ? b : b + "/");
        this.pid = pid;
        this.dataDir = dataDir;
    }

    /**
     * One reading of the node.
     *
     * @param storeOk whether {@code /api/v1/store} answered
     * @param budgetBytes {@code budget.max_disk_bytes} (0: no budget)
     * @param usageBytes {@code usage.bytes}: blob bytes the node counts against its budget
     * @param blobs {@code usage.blobs}
     * @param roots tags, manifests and entries ({@code usage})
     * @param lastRunAt {@code last_run.at}, or null before the first run
     * @param lastRunBytesAfter blob bytes after that run
     * @param lastRunEvicted roots that run evicted, by age and by budget
     * @param lastGcAt {@code last_gc.at}, or null before the first collection
     * @param lastGcCollected blobs that collection removed
     * @param lastGcCollectedBytes their bytes
     * @param evictions roots evicted since the node started ({@code layercache_evictions_total})
     * @param capacityMissesOci misses on tags the node had evicted ({@code layercache_capacity_misses_total})
     * @param capacityMissesGrpc lookups of entries the node had evicted
     * @param heapLiveBytes the JVM's long-lived heap after its last collection of the old generation
     * @param directBytes the JVM's direct buffers
     * @param processAlive whether the process still exists (true when no pid was given)
     * @param rssBytes resident memory of the process
     * @param fds its open file descriptors
     * @param threads its threads
     * @param blobsDirBytes bytes of files under {@code blobs/}
     * @param uploadsDirBytes bytes of files under {@code uploads/}
     * @param metadataBytes bytes of files under {@code metadata/}
     */
    record Reading(boolean storeOk, double budgetBytes, double usageBytes, double blobs, double roots,
                   String lastRunAt, double lastRunBytesAfter, double lastRunEvicted, String lastGcAt, double lastGcCollected,
                   double lastGcCollectedBytes, double evictions, double capacityMissesOci,
                   double capacityMissesGrpc, double heapLiveBytes, double directBytes, boolean processAlive,
                   double rssBytes, double fds, double threads, double blobsDirBytes, double uploadsDirBytes,
                   double metadataBytes) {
    }

    Reading read() {
        JsonNode store = null;
        try {
            store = JSON.readTree(get("api/v1/store"));
        } catch (IOException e) {
            // NaN figures; the soak counts the failed reading
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        String metrics = "";
        try {
            metrics = get("metrics");
        } catch (IOException e) {
            // a node without metrics, or one that did not answer
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        boolean ok = store != null;
        JsonNode usage = ok ? store.path("usage") : JSON.missingNode();
        JsonNode run = ok ? store.path("last_run") : JSON.missingNode();
        JsonNode gc = ok ? store.path("last_gc") : JSON.missingNode();
        ProcStatus proc = procStatus();
        return new Reading(ok,
                number(ok ? store.path("budget").path("max_disk_bytes") : JSON.missingNode()),
                number(usage.path("bytes")), number(usage.path("blobs")),
                number(usage.path("tags")) + number(usage.path("manifests")) + number(usage.path("entries")),
                text(run.path("at")), number(run.path("bytes_after")),
                number(run.path("evicted_by_age")) + number(run.path("evicted_by_budget")),
                text(gc.path("at")), number(gc.path("collected")), number(gc.path("collected_bytes")),
                Prometheus.sum(metrics, "layercache_evictions_total", ""),
                Prometheus.sum(metrics, "layercache_capacity_misses_total", "surface=\"oci\""),
                Prometheus.sum(metrics, "layercache_capacity_misses_total", "surface=\"grpc\""),
                unknownIfZero(Prometheus.sum(metrics, "jvm_gc_live_data_size_bytes", "")),
                Prometheus.sum(metrics, "jvm_buffer_memory_used_bytes", "id=\"direct\""),
                proc.alive, proc.rssBytes, proc.fds, proc.threads,
                folderBytes("blobs"), folderBytes("uploads"), folderBytes("metadata"));
    }

    private String get(String path) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve(path)).timeout(TIMEOUT).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IOException("GET " + base.resolve(path) + ": HTTP " + r.statusCode());
        }
        return r.body();
    }

    /** The JVM reports a live heap of 0 until its first collection of the old generation: not a figure yet. */
    private static double unknownIfZero(double v) {
        return v == 0 ? Double.NaN : v;
    }

    private static double number(JsonNode n) {
        return n.isNumber() ? n.asDouble() : Double.NaN;
    }

    private static String text(JsonNode n) {
        return n.isTextual() ? n.asText() : null;
    }

    private record ProcStatus(boolean alive, double rssBytes, double fds, double threads) {
    }

    private ProcStatus procStatus() {
        if (pid == null) {
            return new ProcStatus(true, Double.NaN, Double.NaN, Double.NaN);
        }
        Path proc = Path.of("/proc", Long.toString(pid));
        double rss = Double.NaN;
        double threads = Double.NaN;
        try {
            for (String line : Files.readAllLines(proc.resolve("status"))) {
                if (line.startsWith("VmRSS:")) {
                    rss = Double.parseDouble(line.substring(6).trim().split("\\s+")[0]) * 1024; // kB
                } else if (line.startsWith("Threads:")) {
                    threads = Double.parseDouble(line.substring(8).trim());
                }
            }
        } catch (IOException gone) {
            return new ProcStatus(false, Double.NaN, Double.NaN, Double.NaN);
        }
        double fds = Double.NaN;
        try (Stream<Path> open = Files.list(proc.resolve("fd"))) {
            fds = open.count();
        } catch (IOException e) {
            // another user's process: no fd count
        }
        return new ProcStatus(true, rss, fds, threads);
    }

    /** Bytes of the files under a folder of the data directory; NaN without a data directory. */
    private double folderBytes(String folder) {
        if (dataDir == null) {
            return Double.NaN;
        }
        Path root = dataDir.resolve(folder);
        if (!Files.isDirectory(root)) {
            return 0;
        }
        long[] total = new long[1];
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    total[0] += attrs.size();
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) {
                    return FileVisitResult.CONTINUE; // removed while walking
                }

                @Override
                public FileVisitResult postVisitDirectory(Path dir, IOException e) {
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (NoSuchFileException gone) {
            return 0;
        } catch (IOException e) {
            return Double.NaN;
        }
        return total[0];
    }

    /** The few reads of the Prometheus text format a soak needs. */
    static final class Prometheus {
        private Prometheus() {
        }

        /**
         * The sum of the samples of {@code metric} whose labels contain {@code labelFilter} (any
         * with an empty filter); NaN when there is none.
         */
        static double sum(String exposition, String metric, String labelFilter) {
            double sum = 0;
            boolean found = false;
            for (String line : exposition.split("\n")) {
                if (!line.startsWith(metric) || line.length() == metric.length()) {
                    continue;
                }
                char next = line.charAt(metric.length());
                if (next != '{' && next != ' ') {
                    continue; // another metric whose name starts the same
                }
                int labelsEnd = next == '{' ? line.indexOf('}') + 1 : metric.length();
                if (labelsEnd == 0 || !line.substring(metric.length(), labelsEnd).contains(labelFilter)) {
                    continue;
                }
                try {
                    // The value, then perhaps a timestamp.
                    sum += Double.parseDouble(line.substring(labelsEnd).trim().split("\\s+")[0]);
                    found = true;
                } catch (NumberFormatException e) {
                    // a timestamp or a malformed line: not ours
                }
            }
            return found ? sum : Double.NaN;
        }
    }
}
