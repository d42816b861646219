package dev.layercache.server.concurrent;

import com.sun.nio.file.ExtendedOpenOption;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Appends an upload's bytes to its file while the caller goes on hashing the next ones. The
 * caller's thread copies the bytes into a large staging buffer, so its own buffers are free
 * again when {@link #write} returns; a full stage goes to the file on the disk pool while the
 * caller fills the other one. A verified upload then costs the slower of hashing and writing,
 * not their sum, the disk sees one large write at a time, and the pool gets one task per stage
 * instead of one per network buffer.
 *
 * <p>Stages go to the file with {@code O_DIRECT} where the file system has it. Uploads are
 * fsynced before they become blobs, so caching their pages buys nothing, and filling new
 * page-cache memory cost more CPU than hashing (BENCHMARKS.md, "Figures behind choices in the
 * code").
 * {@code O_DIRECT} needs block-aligned memory, offsets and lengths: on {@link #drain} the aligned
 * part of the last stage goes directly and its partial last block through the ordinary channel,
 * and stays staged so that the next direct write rewrites the whole block. After a truncation
 * the partial block is read back from the file.
 *
 * <p>While an upload streams, the file is flushed to the device in the background every
 * {@link #FLUSH_EVERY} bytes, so that the fsync which makes the finished upload a blob finds
 * little left to do: it then takes a fraction of the time it takes with nothing flushed before
 * it (BENCHMARKS.md, "Figures behind choices in the code").
 *
 * <p>Stages are direct memory, so the node holds at most {@link #MAX_STAGES} of them, in use or
 * pooled, whatever clients do (a few hundred trickling uploads would otherwise take 8 MiB each). A
 * writer that finds none left writes the caller's bytes to the file itself, through the page
 * cache: slower, since hashing and writing no longer overlap, but it holds no memory, and the
 * upload goes on.
 *
 * <p>A failed write is reported by the next {@link #write} or {@link #drain}; later writes are
 * dropped. Calls come from one thread at a time.
 *
 * <p>Why one file of over 400 lines: the stage pool, the direct and buffered writes, the partial
 * last block and the background flush share one invariant (what is staged plus what is on the
 * file is exactly the bytes written so far, in order), which is checked here in one place.
 */
public final class WriteBehind {
    static final int BLOCK = 4096;
    /**
     * Bytes per file write. The disk takes one write at a time from a file, so the size sets the
     * rate: 4 MiB writes measured clearly faster than 1 MiB ones, larger writes gained nothing,
     * and two at once no more than one (BENCHMARKS.md, "Figures behind choices in the code").
     */
    static final int STAGE = 4 << 20;
    /**
     * The first stage of a writer, and the last of a request whose end is known
     * ({@link #expectEnd}), are smaller than {@link #STAGE}: the disk starts writing after a
     * quarter of the hashing, and the wait for the last bytes to reach the file (which a chunked
     * upload pays at every {@code PATCH}, before its 202) is for a short write, not a 4 MiB one.
     * In between, the disk and the hashing caller overlap as before.
     */
    static final int EDGE_STAGE = 1 << 20;
    /** Stages per file: the caller fills one while the disk writes the other. */
    static final int STAGES_PER_FILE = 2;
    /** Bytes written between background flushes. */
    static final long FLUSH_EVERY = 64L << 20;

    /**
     * Stages the process may hold, in use or pooled: an eighth of the direct memory the JVM allows,
     * at most 128 MiB, at least 4 stages. Past it, writers go on without stages.
     */
    static final int MAX_STAGES = (int) Math.max(4, Math.min(128L << 20, maxDirectMemory() / 8) / STAGE);
    /** Stages allocated so far; never more than {@link #MAX_STAGES}, since they are pooled, not freed. */
    private static final AtomicInteger ALLOCATED = new AtomicInteger();
    private static final ConcurrentLinkedQueue<ByteBuffer> FREE_STAGES = new ConcurrentLinkedQueue<>();
    /** Bytes per write when writing without a stage: what the JDK copies through its per-thread buffer. */
    private static final int UNSTAGED_WRITE = 256 << 10;

    /** Null when the file system has no {@code O_DIRECT}. */
    private final FileChannel direct;
    private final FileChannel buffered;
    private final Executor disk;
    private final SerialQueue queue;
    /** Stages the disk has written and handed back, ready to be filled again. */
    private final BlockingQueue<ByteBuffer> spare = new ArrayBlockingQueue<>(STAGES_PER_FILE);
    /** Held while a background flush runs; {@link #close} waits for it. */
    private final Semaphore flushing = new Semaphore(1);
    private volatile IOException failure;
    /** Bytes at the start of the file that the disk has been given (written, maybe not flushed). */
    private volatile long onFile;

    // The caller's.
    /** The stage being filled; null until the first byte, and after a full one went to the disk. */
    private ByteBuffer stage;
    /** File offset of stage[0]; always a multiple of BLOCK. */
    private long stageStart;
    /** Stages taken from the pool. */
    private int owned;
    /** True when no stage was to be had: every write goes to the file on the caller's thread. */
    private boolean unstaged;
    /** Stages given to the disk so far: the first is an {@link #EDGE_STAGE}. */
    private long stagesWritten;
    /** Where the caller said its bytes will end (see {@link #expectEnd}); -1 when unknown. */
    private long expectedEnd = -1;

    // The disk's (tasks of the serial queue).
    /** Some file systems open with O_DIRECT and then refuse the writes: go on buffered. */
    private boolean directRefused;
    private long unflushed;

    private WriteBehind(FileChannel direct, FileChannel buffered, Executor disk) {
        this.direct = direct;
        this.buffered = buffered;
        this.disk = disk;
        this.queue = new SerialQueue(disk);
    }

    /**
     * A writer for {@code file}, whose bytes end at {@code size}, writing through {@code buffered}
     * (the caller's, left open) where direct I/O is not to be had, and on the {@code disk} pool.
     */
    public static WriteBehind open(Path file, FileChannel buffered, long size, Executor disk) throws IOException {
        return open(file, buffered, size, disk, true);
    }

    /** As {@link #open(Path, FileChannel, long, Executor)}; {@code tryDirect} false for page-cache writes only. */
    static WriteBehind open(Path file, FileChannel buffered, long size, Executor disk, boolean tryDirect)
            throws IOException {
        FileChannel direct = null;
        if (tryDirect) {
            try {
                direct = FileChannel.open(file, StandardOpenOption.WRITE, ExtendedOpenOption.DIRECT);
            } catch (IOException | UnsupportedOperationException e) {
                direct = null; // tmpfs and some overlay file systems: buffered writes
            }
        }
        WriteBehind writer = new WriteBehind(direct, buffered, disk);
        try {
            writer.truncated(size);
            return writer;
        } catch (IOException | RuntimeException e) {
            writer.close();
            throw e;
        }
    }

    /**
     * Copies {@code src} (all of it) to be written at {@code position}, which must be where the
     * written bytes end. {@code src} may be reused once this returns; its position is unchanged.
     * Waits for the disk when both stages are full.
     */
    public void write(ByteBuffer src, long position) throws IOException {
        throwIfFailed();
        if (position != stageStart + staged()) {
            throw new IOException("write at " + position + " but the written bytes end at " + (stageStart + staged()));
        }
        int at = src.position();
        int end = src.limit();
        while (at < end) {
            ByteBuffer s = unstaged ? null : stage();
            if (s == null) {
                unstaged = true;
                writeUnstaged(src.duplicate().position(at), position + (at - src.position()));
                return;
            }
            int n = Math.min(end - at, s.remaining());
            s.put(s.position(), src, at, n);
            s.position(s.position() + n);
            at += n;
            if (!s.hasRemaining()) {
                long start = stageStart;
                stage = null;
                stageStart += s.position();
                stagesWritten++;
                queue.submit(() -> writeStage(s, start));
                throwIfFailed();
            }
        }
    }

    /** The rest of {@code src} straight to the file at {@code position}, in pieces the JDK copies cheaply. */
    private void writeUnstaged(ByteBuffer src, long position) throws IOException {
        long at = position;
        while (src.hasRemaining()) {
            ByteBuffer piece = src.duplicate().limit(Math.min(src.limit(), src.position() + UNSTAGED_WRITE));
            int n = piece.remaining();
            writeFully(buffered, piece, at);
            src.position(src.position() + n);
            at += n;
        }
        stageStart = at;
        onFile = at;
    }

    /**
     * The caller's bytes will end at file offset {@code end} (say, a request body of a declared
     * length): the stages are sized so that the last write before that end is a short one. Only a
     * hint: bytes may end sooner or go on past it.
     */
    public void expectEnd(long end) {
        expectedEnd = end;
        if (stage != null) {
            sizeStage(stage);
        }
    }

    /**
     * Sets how far {@code s}, the stage being filled from {@link #stageStart}, fills before it goes
     * to the disk: a multiple of {@link #BLOCK}, beyond what it holds already.
     */
    private void sizeStage(ByteBuffer s) {
        int size = STAGE;
        if (stagesWritten == 0) {
            size = EDGE_STAGE;
        }
        long left = expectedEnd - stageStart;
        if (expectedEnd >= 0 && left > EDGE_STAGE && left <= size + EDGE_STAGE) {
            // The bytes before the last EDGE_STAGE in one write; those after, in a short one.
            long head = left - EDGE_STAGE;
            size = (int) (head - head % BLOCK);
        }
        s.limit(Math.max(size, s.position() - s.position() % BLOCK + BLOCK));
    }

    /** True when this writer found no stage free and writes on the caller's thread (for tests). */
    boolean unstaged() {
        return unstaged;
    }

    /** Bytes at the start of the file the disk has been given, without waiting: a safe offset to record. */
    public long onFile() {
        return onFile;
    }

    /** Waits until every byte written is in the file (readable, and counted in its size); throws the first failure. */
    public void drain() throws IOException {
        CompletableFuture<Void> done = new CompletableFuture<>();
        queue.submit(() -> {
            try {
                if (failure == null) {
                    writeTail();
                }
            } catch (IOException e) {
                failure = e;
            } catch (RuntimeException e) {
                failure = new IOException(e);
            } finally {
                done.complete(null);
            }
        });
        try {
            done.get(); // in a ForkJoinPool worker, a managed wait: the pool adds a worker for the disk
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while writing", e);
        } catch (ExecutionException e) {
            throw new IOException(e.getCause());
        }
        throwIfFailed();
    }

    /** As {@link #drain}, ignoring failures: before the file is cut back or removed anyway. */
    public void settle() {
        try {
            drain();
        } catch (IOException ignored) {
            // the caller discards what was written
        }
    }

    /** The file was cut back to {@code size} (after {@link #settle}); writes continue there. */
    public void truncated(long size) throws IOException {
        failure = null;
        if (unstaged) {
            stageStart = size;
            onFile = size;
            return;
        }
        stageStart = size - size % BLOCK;
        onFile = stageStart;
        if (stage != null) {
            stage.clear();
            sizeStage(stage);
        }
        int tail = (int) (size - stageStart);
        if (tail > 0) {
            ByteBuffer s = stage();
            if (s == null) {
                unstaged = true;
                stageStart = size;
                onFile = size;
                return;
            }
            ByteBuffer partial = s.duplicate().limit(tail);
            while (partial.hasRemaining()) {
                if (buffered.read(partial, stageStart + partial.position()) < 0) {
                    throw new IOException("file shorter than " + size + " bytes");
                }
            }
            s.position(tail);
        }
    }

    /** Ends the writer (after {@link #drain} or {@link #settle}): its stages go back to the pool. */
    public void close() {
        flushing.acquireUninterruptibly(); // a background flush must not outlive the channels
        flushing.release();
        if (direct != null) {
            try {
                direct.close();
            } catch (IOException ignored) {
                // the ordinary channel carries on
            }
        }
        if (stage != null) {
            pool(stage);
            stage = null;
        }
        ByteBuffer s;
        while ((s = spare.poll()) != null) {
            pool(s);
        }
        owned = 0;
    }

    private void throwIfFailed() throws IOException {
        IOException failed = failure;
        if (failed != null) {
            throw failed;
        }
    }

    /** Bytes staged, not yet given to the disk. */
    private int staged() {
        return stage == null ? 0 : stage.position();
    }

    /**
     * The stage to fill: a spare one, one from the pool or newly allocated within the budget, or
     * the next the disk hands back; null when this writer has none and the budget is spent.
     */
    private ByteBuffer stage() throws IOException {
        if (stage == null) {
            ByteBuffer s = spare.poll();
            if (s == null && owned < STAGES_PER_FILE) {
                s = takeStage();
                if (s != null) {
                    owned++;
                } else if (owned == 0) {
                    return null;
                }
            }
            if (s == null) {
                s = awaitSpare();
                throwIfFailed();
            }
            sizeStage(s);
            stage = s;
        }
        return stage;
    }

    /**
     * Waits for the disk to hand a stage back. The wait tells a ForkJoinPool that this worker is
     * blocked, so the pool adds a worker to run the very write being waited for: callers and
     * writes share one pool, which must never wait on itself.
     */
    private ByteBuffer awaitSpare() {
        final class SpareWait implements ForkJoinPool.ManagedBlocker {
            private ByteBuffer taken;

            @Override
            public boolean block() throws InterruptedException {
                if (taken == null) {
                    taken = spare.take();
                }
                return true;
            }

            @Override
            public boolean isReleasable() {
                return taken != null || (taken = spare.poll()) != null;
            }
        }
        SpareWait blocker = new SpareWait();
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    ForkJoinPool.managedBlock(blocker);
                    return blocker.taken;
                } catch (InterruptedException e) {
                    interrupted = true; // the write in progress hands the stage back regardless
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** A disk task: one full stage to the file, then back to the caller. */
    private void writeStage(ByteBuffer full, long position) {
        try {
            if (failure == null) {
                int length = full.position();
                writeAligned(full.duplicate().flip(), position);
                onFile = position + length;
                unflushed += length;
                if (unflushed >= FLUSH_EVERY && flushing.tryAcquire()) {
                    unflushed = 0;
                    disk.execute(this::flushInBackground);
                }
            }
        } catch (IOException e) {
            failure = e;
        } catch (RuntimeException e) {
            failure = new IOException(e);
        } finally {
            full.clear();
            spare.offer(full);
        }
    }

    /** Asks the device to keep what it was given so far; the writes go on meanwhile. */
    private void flushInBackground() {
        try {
            buffered.force(false);
        } catch (IOException ignored) {
            // only an early start on the final fsync, which reports what fails
        } finally {
            flushing.release();
        }
    }

    /** A disk task: the partial stage to the file, its whole blocks direct; the partial block stays staged. */
    private void writeTail() throws IOException {
        if (stage == null) {
            return;
        }
        int filled = stage.position();
        int aligned = filled - filled % BLOCK;
        if (aligned > 0) {
            writeAligned(stage.duplicate().position(0).limit(aligned), stageStart);
        }
        if (filled > aligned) {
            writeFully(buffered, stage.duplicate().position(aligned).limit(filled), stageStart + aligned);
        }
        if (aligned > 0) {
            // Keep only the partial block, at the start of the stage.
            stage.position(aligned).limit(filled);
            stage.compact();
            stageStart += aligned;
            stagesWritten++;
            sizeStage(stage);
        }
        onFile = stageStart + stage.position();
    }

    private void writeAligned(ByteBuffer aligned, long position) throws IOException {
        if (direct != null && !directRefused) {
            try {
                writeFully(direct, aligned.duplicate(), position);
                return;
            } catch (IOException e) {
                directRefused = true;
            }
        }
        writeFully(buffered, aligned, position);
    }

    private static void writeFully(FileChannel channel, ByteBuffer src, long position) throws IOException {
        long at = position;
        while (src.hasRemaining()) {
            at += channel.write(src, at);
        }
    }

    /** A free stage from the pool, or a new one while fewer than {@link #MAX_STAGES} exist; null otherwise. */
    private static ByteBuffer takeStage() {
        ByteBuffer s = FREE_STAGES.poll();
        if (s != null) {
            return s.clear();
        }
        if (ALLOCATED.incrementAndGet() > MAX_STAGES) {
            ALLOCATED.decrementAndGet();
            ByteBuffer back = FREE_STAGES.poll(); // one may have come back meanwhile
            return back == null ? null : back.clear();
        }
        return ByteBuffer.allocateDirect(STAGE + BLOCK).alignedSlice(BLOCK).limit(STAGE).slice();
    }

    /** Stages that exist now, in use or pooled. */
    public static int allocatedStages() {
        return ALLOCATED.get();
    }

    /** Stages some writer holds now (not in the pool): zero whenever no upload request is in progress. */
    public static int stagesInUse() {
        return ALLOCATED.get() - FREE_STAGES.size();
    }

    private static void pool(ByteBuffer s) {
        FREE_STAGES.offer(s);
    }

    private static long maxDirectMemory() {
        return io.netty.util.internal.PlatformDependent.maxDirectMemory();
    }
}
