package dev.layercache.loadtest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * What a verified upload can reach on this machine with the client on it too: one thread sends
 * bytes from memory over loopback TCP, one receives them, one hashes them with SHA-256, and
 * nothing else happens (no framing, no protocol, no disk). A server that also parses HTTP/2 or
 * HTTP/1.1 and writes a file cannot beat it, so it is the honest ceiling for the upload
 * benchmarks next to the single-core SHA-256 rate, which assumes the bytes arrive for free.
 *
 * <p>With {@code --dir}, the durable floor as well: the same, and the hashed bytes written to a
 * file as the server writes an upload ({@link DurableSink}: 4 MiB stages, direct writes on
 * another thread, fsync at the end), and again through the page cache. An upload acknowledged
 * only once it is on the device, as layercache's are, cannot beat the better of the two.
 */
@Command(name = "floor", mixinStandardHelpOptions = true,
        description = "the loopback ceiling of a verified upload: TCP from memory into SHA-256, nothing else; "
                + "with --dir also written to a file and fsynced, as the server does")
final class LoopbackFloor implements Callable<Integer> {
    private static final int BUFFER = 1 << 20;

    @Mixin
    FloorOptions options;

    @Option(names = "--dir", description = "also measure the durable floor: the received bytes written to a file "
            + "in this directory (the node's data directory) as the server writes an upload, then fsynced")
    Path dir;

    @Override
    public Integer call() throws Exception {
        long bytes = options.bytes();
        double sha = sha256Rate();
        List<DurableSink.Mode> sinks = new ArrayList<>();
        sinks.add(null);
        if (dir != null) {
            sinks.addAll(List.of(DurableSink.Mode.values()));
        }
        Map<DurableSink.Mode, List<Double>> rates = new HashMap<>();
        List<Double> loopback = new ArrayList<>();
        // One kind after the other, not interleaved: this virtual disk takes page-cache writes at half
        // the rate right after direct ones (its host's cache, presumably), and a server writes all its
        // uploads one way.
        for (DurableSink.Mode mode : sinks) {
            for (int round = 0; round <= options.rounds; round++) {
                double rate = oneRound(bytes, dir, mode);
                if (round > 0) {
                    (mode == null ? loopback : rates.computeIfAbsent(mode, m -> new ArrayList<>())).add(rate);
                }
            }
        }
        Report report = new Report("Loopback floor of a verified upload");
        put(report.row("TCP loopback into SHA-256, " + options.mib + " MiB, median of " + options.rounds),
                loopback, sha);
        if (dir != null) {
            put(report.row("durable, direct writes (as the server), " + options.mib + " MiB, median of "
                    + options.rounds), rates.get(DurableSink.Mode.DIRECT), sha);
            put(report.row("durable, page-cache writes, " + options.mib + " MiB, median of " + options.rounds),
                    rates.get(DurableSink.Mode.PAGE_CACHE), sha);
        }
        System.out.println(report.markdown());
        report.write(options.json);
        return 0;
    }

    private static void put(Map<String, Object> row, List<Double> rates, double sha) {
        Stats stats = Stats.of(rates);
        row.put("MB_per_s", stats.median());
        row.put("MB_per_s_min", stats.min());
        row.put("MB_per_s_max", stats.max());
        row.put("single_core_sha256_MB_per_s", sha);
        row.put("share_of_sha256_rate", stats.median() / sha);
    }

    /** Sends {@code bytes} over a fresh loopback connection; returns the verified rate in MB/s. */
    static double oneRound(long bytes) throws Exception {
        return oneRound(bytes, null, null);
    }

    /**
     * Sends {@code bytes} over a fresh loopback connection and, with a {@code mode}, writes what is
     * received to a file in {@code dir} and fsyncs it; returns the verified (and durable) rate in MB/s.
     */
    static double oneRound(long bytes, Path dir, DurableSink.Mode mode) throws Exception {
        DurableSink sink = mode == null ? null : new DurableSink(dir, mode);
        try {
            return oneRound(bytes, sink);
        } finally {
            if (sink != null) {
                sink.close();
            }
        }
    }

    private static double oneRound(long bytes, DurableSink sink) throws Exception {
        try (ServerSocketChannel listener = ServerSocketChannel.open()
                .bind(new InetSocketAddress("127.0.0.1", 0))) {
            int port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
            Thread sender = new Thread(() -> send(port, bytes), "floor-sender");
            BlockingQueue<ByteBuffer> free = new ArrayBlockingQueue<>(8);
            BlockingQueue<ByteBuffer> filled = new ArrayBlockingQueue<>(8);
            for (int i = 0; i < 8; i++) {
                free.add(ByteBuffer.allocateDirect(BUFFER));
            }
            long t0 = System.nanoTime();
            sender.start();
            long received = 0;
            Hasher hasher = new Hasher(free, filled, sink);
            try (SocketChannel in = listener.accept()) {
                hasher.start();
                while (true) {
                    ByteBuffer b = free.take().clear();
                    int n = in.read(b);
                    while (n >= 0 && b.hasRemaining()) {
                        int more = in.read(b);
                        if (more < 0) {
                            break;
                        }
                        n += more;
                    }
                    if (b.position() == 0) {
                        break;
                    }
                    received += b.position();
                    filled.put(b.flip());
                    if (received >= bytes) {
                        break;
                    }
                }
            }
            filled.put(ByteBuffer.allocate(0));
            hasher.join();
            sender.join();
            if (received != bytes || hasher.failure != null) {
                throw new IllegalStateException("received " + received + " of " + bytes, hasher.failure);
            }
            if (sink != null && sink.written() != bytes) {
                throw new IllegalStateException("wrote " + sink.written() + " of " + bytes);
            }
            return bytes / 1e6 / ((System.nanoTime() - t0) / 1e9);
        }
    }

    private static void send(int port, long bytes) {
        try (SocketChannel out = SocketChannel.open(new InetSocketAddress("127.0.0.1", port))) {
            ByteBuffer b = ByteBuffer.allocateDirect(BUFFER);
            long left = bytes;
            while (left > 0) {
                b.clear().limit((int) Math.min(b.capacity(), left));
                while (b.hasRemaining()) {
                    left -= out.write(b);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Hashes filled buffers as the server's handler does: direct bytes through a heap scratch array,
     * which also feeds the sink's stages when there is one.
     */
    private static final class Hasher extends Thread {
        private final BlockingQueue<ByteBuffer> free;
        private final BlockingQueue<ByteBuffer> filled;
        private final DurableSink sink;
        volatile Exception failure;

        Hasher(BlockingQueue<ByteBuffer> free, BlockingQueue<ByteBuffer> filled, DurableSink sink) {
            super("floor-hasher");
            this.free = free;
            this.filled = filled;
            this.sink = sink;
        }

        @Override
        public void run() {
            try {
                MessageDigest md = MessageDigest.getInstance("SHA-256");
                byte[] scratch = new byte[256 << 10];
                while (true) {
                    ByteBuffer b = filled.take();
                    if (b.capacity() == 0) {
                        break;
                    }
                    while (b.hasRemaining()) {
                        int n = Math.min(scratch.length, b.remaining());
                        b.get(scratch, 0, n);
                        md.update(scratch, 0, n);
                        if (sink != null) {
                            sink.write(scratch, 0, n);
                        }
                    }
                    free.put(b);
                }
                md.digest();
                if (sink != null) {
                    sink.finish();
                }
            } catch (Exception e) {
                failure = e;
            }
        }
    }

    /** Single-core SHA-256 over heap arrays, the JDK's intrinsic path. */
    static double sha256Rate() throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        byte[] chunk = new byte[BUFFER];
        for (int i = 0; i < 256; i++) {
            md.update(chunk);
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < 512; i++) {
            md.update(chunk);
        }
        return 512.0 * BUFFER / 1e6 / ((System.nanoTime() - t0) / 1e9);
    }
}
