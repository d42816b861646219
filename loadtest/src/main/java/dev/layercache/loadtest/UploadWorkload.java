package dev.layercache.loadtest;

import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Upload throughput of one big blob of fresh random content: monolithic ({@code POST}, then one
 * {@code PUT ?digest=} with the body) or chunked ({@code POST}, a {@code PATCH} with
 * {@code Content-Range} per chunk, a closing {@code PUT}). The content is written to a file and
 * hashed before the clock starts; the body goes out of that file with sendfile, so the client
 * costs little. The server's CPU-seconds per GiB is the steadier figure on a shared machine.
 *
 * <p>Content is new to every server it goes to: a file is made again as soon as the target about
 * to receive it has had it, so the targets of one round may share a file (two servers cannot
 * deduplicate across each other) but no server ever sees the same blob twice.
 */
final class UploadWorkload implements Workload {
    /** Warm-up uploads need not be big: they only get both JITs going. */
    private static final long WARM_UP_BYTES = 256L << 20;

    private final boolean chunked;
    private final long size;
    private final long chunk;
    private final Path file;
    private final String repository;
    private final java.util.Set<String> hadIt = new java.util.HashSet<>();
    private String digest;
    private long made = -1;

    UploadWorkload(boolean chunked, long size, long chunk, Path workDir, String repository) {
        this.chunked = chunked;
        this.size = size;
        this.chunk = chunk;
        this.file = workDir.resolve("upload-" + name() + ".bin");
        this.repository = repository;
    }

    @Override
    public String name() {
        return chunked ? "upload-chunked" : "upload-monolithic";
    }

    @Override
    public String description() {
        String mib = (size >> 20) + " MiB";
        return chunked ? "blob upload of " + mib + ": POST, PATCH per " + (chunk >> 20) + " MiB with Content-Range, PUT"
                : "blob upload of " + mib + ": POST, then one PUT ?digest= with the body";
    }

    @Override
    public String primary() {
        return "MB_per_s";
    }

    @Override
    public boolean appliesTo(HttpBenchmark.Target target) {
        return !target.isStatic();
    }

    @Override
    public Map<String, Object> run(HttpBenchmark.Target target, boolean warmUp) throws Exception {
        long bytes = warmUp ? Math.min(size, WARM_UP_BYTES) : size;
        if (made != bytes || hadIt.contains(target.name())) {
            digest = RandomContent.file(file, bytes);
            made = bytes;
            hadIt.clear();
        }
        hadIt.add(target.name());
        Map<String, Object> figures = new LinkedHashMap<>();
        try (FileChannel in = FileChannel.open(file); HttpConnection c = new HttpConnection(target.base())) {
            double cpu = ServerCpu.seconds(target.pid());
            double clientCpu = ServerCpu.seconds(ProcessHandle.current().pid());
            long t0 = System.nanoTime();
            if (chunked) {
                Oci.pushChunked(c, repository, in, bytes, chunk, digest);
            } else {
                Oci.pushBlob(c, repository, in, bytes, digest);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            figures.put("MB_per_s", bytes / 1e6 / seconds);
            figures.put("seconds", seconds);
            Workload.serverCpu(figures, "server_cpu_s_per_GiB", target, cpu, bytes / GIB);
            figures.put("client_cpu_s_per_GiB", (ServerCpu.seconds(ProcessHandle.current().pid()) - clientCpu)
                    / (bytes / GIB));
        }
        figures.put("bytes", bytes);
        figures.put("digest", digest);
        return figures;
    }
}
