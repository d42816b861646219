package dev.layercache.loadtest;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * What the disk under a node's data directory takes durably: a blob's worth of bytes from memory
 * in 4 MiB direct writes (as the server writes uploads), then the fsync that the server makes
 * before an upload becomes a blob, timed together. An upload that is acknowledged only once it
 * is on the device cannot go faster than this, whatever the network and the hash allow; on a
 * virtual disk whose host caches writes, the fsync is a large part of it.
 */
@Command(name = "disk-floor", mixinStandardHelpOptions = true,
        description = "the durable write ceiling of a directory's disk: direct writes from memory, then fsync")
final class DiskFloor implements Callable<Integer> {
    static final int WRITE = 4 << 20;
    private static final int BLOCK = 4096;

    @Option(names = "--dir", required = true, description = "a directory on the disk to measure (the node's data directory)")
    Path dir;

    @Mixin
    FloorOptions options;

    @Override
    public Integer call() throws Exception {
        long bytes = options.bytes();
        double sha = LoopbackFloor.sha256Rate();
        List<Double> rates = new ArrayList<>();
        List<Double> writeRates = new ArrayList<>();
        List<Double> fsyncMs = new ArrayList<>();
        for (int round = 0; round <= options.rounds; round++) {
            Round r = oneRound(dir, bytes);
            if (round > 0) {
                rates.add(r.durableMBs());
                writeRates.add(r.writeMBs());
                fsyncMs.add(r.fsyncMs());
            }
        }
        Report report = new Report("Durable write ceiling of " + dir);
        Map<String, Object> row = report.row("direct writes then fsync, " + options.mib + " MiB, median of "
                + options.rounds);
        Stats stats = Stats.of(rates);
        row.put("MB_per_s", stats.median());
        row.put("MB_per_s_min", stats.min());
        row.put("MB_per_s_max", stats.max());
        row.put("writes_MB_per_s", Stats.of(writeRates).median());
        row.put("fsync_ms", Stats.of(fsyncMs).median());
        row.put("single_core_sha256_MB_per_s", sha);
        row.put("share_of_sha256_rate", stats.median() / sha);
        System.out.println(report.markdown());
        report.write(options.json);
        return 0;
    }

    /** One round's rates: the writes alone, and the writes with the fsync after them. */
    record Round(double writeMBs, double fsyncMs, double durableMBs) {
    }

    /** Writes {@code bytes} of random data to a new file in {@code dir}, fsyncs it, and removes it. */
    static Round oneRound(Path dir, long bytes) throws IOException {
        Path file = Files.createTempFile(dir, "disk-floor-", ".bin");
        try {
            ByteBuffer data = ByteBuffer.allocateDirect(WRITE + BLOCK).alignedSlice(BLOCK).limit(WRITE).slice();
            byte[] random = new byte[WRITE];
            new Random().nextBytes(random);
            data.put(random).flip();
            try (FileChannel out = DurableSink.open(file, DurableSink.Mode.DIRECT)) {
                long t0 = System.nanoTime();
                for (long at = 0; at < bytes; at += WRITE) {
                    ByteBuffer b = data.duplicate().limit((int) Math.min(WRITE, bytes - at));
                    while (b.hasRemaining()) {
                        out.write(b, at + b.position());
                    }
                }
                long t1 = System.nanoTime();
                out.force(true);
                long t2 = System.nanoTime();
                return new Round(bytes / 1e6 / ((t1 - t0) / 1e9), (t2 - t1) / 1e6, bytes / 1e6 / ((t2 - t0) / 1e9));
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
