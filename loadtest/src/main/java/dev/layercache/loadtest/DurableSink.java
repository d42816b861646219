package dev.layercache.loadtest;

import com.sun.nio.file.ExtendedOpenOption;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Received bytes written to a file as the server writes an upload, and nothing more: copied into
 * one of two 4 MiB aligned stages, each full stage written by a writer thread while the next one
 * fills, the file fsynced at the end. With {@link Mode#DIRECT} the stages are written with
 * {@code O_DIRECT}, as the server does; with {@link Mode#PAGE_CACHE} through the page cache, the
 * other way any server could write them. The file is removed when closed.
 */
final class DurableSink implements AutoCloseable {
    static final int STAGE = 4 << 20;
    private static final int BLOCK = 4096;
    private static final ByteBuffer END = ByteBuffer.allocate(0);

    /** How the stages reach the file. */
    enum Mode { DIRECT, PAGE_CACHE }

    private final Path file;
    private final FileChannel out;
    private final BlockingQueue<ByteBuffer> free = new ArrayBlockingQueue<>(2);
    private final BlockingQueue<ByteBuffer> full = new ArrayBlockingQueue<>(3);
    private final Thread writer;
    private volatile Exception failure;
    private ByteBuffer stage;
    private long written;

    DurableSink(Path dir, Mode mode) throws IOException, InterruptedException {
        this.file = Files.createTempFile(dir, "durable-floor-", ".bin");
        this.out = open(file, mode);
        for (int i = 0; i < 2; i++) {
            free.add(ByteBuffer.allocateDirect(STAGE + BLOCK).alignedSlice(BLOCK).limit(STAGE).slice());
        }
        this.stage = free.take();
        this.writer = new Thread(this::writeStages, "durable-floor-writer");
        writer.start();
    }

    /**
     * Opens {@code file} for writing with {@code O_DIRECT} for {@link Mode#DIRECT} where the file
     * system has it, as the server does; through the page cache otherwise (tmpfs and some overlay
     * file systems refuse {@code O_DIRECT}), as the server falls back to.
     */
    static FileChannel open(Path file, Mode mode) throws IOException {
        if (mode == Mode.DIRECT) {
            try {
                return FileChannel.open(file, StandardOpenOption.WRITE, ExtendedOpenOption.DIRECT);
            } catch (IOException | UnsupportedOperationException noDirectIo) {
                // falls through to the page cache
            }
        }
        return FileChannel.open(file, StandardOpenOption.WRITE);
    }

    /** Copies {@code n} bytes of {@code bytes} into the stages; waits when both are with the writer. */
    void write(byte[] bytes, int offset, int n) throws IOException, InterruptedException {
        while (n > 0) {
            int k = Math.min(n, stage.remaining());
            stage.put(bytes, offset, k);
            offset += k;
            n -= k;
            if (!stage.hasRemaining()) {
                full.put(stage.flip());
                stage = free.take();
            }
        }
        if (failure != null) {
            throw new IOException("the writer failed", failure);
        }
    }

    /** Writes what is staged, waits for the writer and fsyncs the file: the bytes are on the device. */
    void finish() throws IOException, InterruptedException {
        if (stage.position() > 0) {
            full.put(stage.flip());
        }
        full.put(END);
        writer.join();
        if (failure != null) {
            throw new IOException("the writer failed", failure);
        }
        out.force(true);
    }

    private void writeStages() {
        try {
            while (true) {
                ByteBuffer b = full.take();
                if (b == END) {
                    return;
                }
                if (b.remaining() % BLOCK != 0) {
                    // A direct write's length must be whole blocks: the tail goes through the page cache.
                    try (FileChannel tail = FileChannel.open(file, StandardOpenOption.WRITE)) {
                        while (b.hasRemaining()) {
                            written += tail.write(b, written);
                        }
                    }
                } else {
                    while (b.hasRemaining()) {
                        written += out.write(b, written);
                    }
                }
                free.put(b.clear());
            }
        } catch (Exception e) {
            failure = e;
            drainAfterFailure();
        }
    }

    /** Hands every stage back unwritten until the end, so that {@link #write} never waits for ever. */
    private void drainAfterFailure() {
        try {
            ByteBuffer b;
            while ((b = full.take()) != END) {
                free.put(b.clear());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The file written to, removed on {@link #close()}. */
    Path file() {
        return file;
    }

    /** Bytes the writer has written. */
    long written() {
        return written;
    }

    @Override
    public void close() throws IOException {
        writer.interrupt();
        out.close();
        Files.deleteIfExists(file);
    }
}
