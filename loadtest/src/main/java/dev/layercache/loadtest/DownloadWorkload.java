package dev.layercache.loadtest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Download throughput of one big blob: {@code GET /v2/<repo>/blobs/<digest>} from a registry, or
 * the same file by its path from a plain web server (the ceiling). The client neither hashes nor
 * keeps the bytes: it reads them into one buffer and drops them, so the server's side shows. A
 * run repeats the download on one keep-alive connection until it has lasted {@code minSeconds}:
 * a single transfer of a second or so says more about the neighbours than about the server.
 */
final class DownloadWorkload implements Workload {
    private final Path file;
    private final String staticPath;
    private final String repository;
    private final double minSeconds;
    private final Map<String, String> digests = new java.util.concurrent.ConcurrentHashMap<>();
    private long size = -1;

    DownloadWorkload(Path file, String staticPath, String repository, double minSeconds) {
        this.file = file;
        this.minSeconds = minSeconds;
        this.staticPath = staticPath;
        this.repository = repository;
    }

    @Override
    public String name() {
        return "download";
    }

    @Override
    public String description() {
        return "GET of one blob of " + (size() >> 20) + " MiB, repeated for at least "
                + Stats.plain(minSeconds) + " s (a static server: the same file at " + staticPath + ")";
    }

    private long size() {
        try {
            return size >= 0 ? size : (size = Files.size(file));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Override
    public String primary() {
        return "MB_per_s";
    }

    @Override
    public boolean appliesTo(HttpBenchmark.Target target) {
        return true;
    }

    @Override
    public void prepare(HttpBenchmark.Target target) throws Exception {
        try (HttpConnection c = new HttpConnection(target.base())) {
            if (target.isStatic()) {
                HttpConnection.Response r = c.send("HEAD", staticPath, Map.of(), HttpConnection.Body.KEEP);
                Oci.expect(r, 200, "HEAD " + staticPath + " on " + target.name());
                if (r.bodyLength() != size()) {
                    throw new IllegalStateException(target.name() + " serves " + r.bodyLength() + " bytes at "
                            + staticPath + ", not the " + size() + " of " + file);
                }
            } else {
                digests.put(target.name(), Oci.ensureBlob(c, repository, file));
            }
        }
    }

    @Override
    public Map<String, Object> run(HttpBenchmark.Target target, boolean warmUp) throws Exception {
        String path = target.isStatic() ? staticPath : Oci.blobPath(repository, digests.get(target.name()));
        Map<String, Object> figures = new LinkedHashMap<>();
        try (HttpConnection c = new HttpConnection(target.base(), 1 << 20)) {
            double cpu = ServerCpu.seconds(target.pid());
            double clientCpu = ServerCpu.seconds(ProcessHandle.current().pid());
            long t0 = System.nanoTime();
            long bytes = 0;
            int transfers = 0;
            do {
                HttpConnection.Response r = c.send("GET", path, Map.of(), HttpConnection.Body.DISCARD);
                Oci.expect(r, 200, "GET " + path + " on " + target.name());
                if (r.bodyLength() != size()) {
                    throw new IllegalStateException("GET " + path + " on " + target.name() + " gave "
                            + r.bodyLength() + " bytes, not " + size());
                }
                bytes += r.bodyLength();
                transfers++;
            } while (System.nanoTime() - t0 < minSeconds * 1e9 && c.isOpen());
            double seconds = (System.nanoTime() - t0) / 1e9;
            figures.put("MB_per_s", bytes / 1e6 / seconds);
            figures.put("seconds", seconds);
            figures.put("transfers", transfers);
            Workload.serverCpu(figures, "server_cpu_s_per_GiB", target, cpu, bytes / GIB);
            figures.put("client_cpu_s_per_GiB", (ServerCpu.seconds(ProcessHandle.current().pid()) - clientCpu)
                    / (bytes / GIB));
        }
        figures.put("bytes", size());
        return figures;
    }
}
