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
 * <p>Content is new to every server it goes to in a measured round: a file is made again as soon
 * as the target about to receive it has had it, so the targets of one round may share a file (two
 * servers cannot deduplicate across each other) but no measured upload is of a blob its server has.
 *
 * <p>The warm-up uploads one {@link #WARM_UP_BYTES} file to the target again and again for
 * {@code --upload-warmup} seconds (at least once). A JVM server's upload path keeps its JIT
 * compiling for gigabytes: a fresh node's chunked upload cost 1.5-1.8 server CPU-s per GiB in its
 * first six 1 GiB uploads and 1.2-1.35 from the twelfth on, while its compilations per upload fell
 * from hundreds to tens (BENCHMARKS.md, issue 24). After one short warm-up upload the measured
 * rounds timed the compiler, not the server that runs for days. The repeated warm-up blob costs
 * no disk: the server hashes, writes and fsyncs every copy in full, then finds the blob stored
 * and drops the copy.
 */
final class UploadWorkload implements Workload {
    /** Warm-up uploads need not be big: they only get both JITs going. */
    private static final long WARM_UP_BYTES = 256L << 20;

    private final boolean chunked;
    private final long size;
    private final long chunk;
    private final Path file;
    private final String repository;
    private final int warmUpSeconds;
    private final java.util.Set<String> hadIt = new java.util.HashSet<>();
    private String digest;
    private long made = -1;

    /** {@code warmUpSeconds}: how long the warm-up uploads go on (see the class comment); 0 for one upload. */
    UploadWorkload(boolean chunked, long size, long chunk, Path workDir, String repository, int warmUpSeconds) {
        this.chunked = chunked;
        this.warmUpSeconds = warmUpSeconds;
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
        if (!warmUp) {
            return upload(target, size);
        }
        long until = System.nanoTime() + warmUpSeconds * 1_000_000_000L;
        int uploads = 0;
        Map<String, Object> figures;
        do {
            if (uploads > 0) {
                hadIt.remove(target.name()); // the same warm-up blob again: on purpose, see the class comment
            }
            figures = upload(target, Math.min(size, WARM_UP_BYTES));
            uploads++;
        } while (System.nanoTime() < until);
        figures.put("warm_up_uploads", uploads);
        return figures;
    }

    private Map<String, Object> upload(HttpBenchmark.Target target, long bytes) throws Exception {
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
