package dev.layercache.server.concurrent;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.Semaphore;

/**
 * Writes a file's bytes on another thread, in order, through a {@link FileSink}, while the
 * caller goes on (hashing the next bytes): a verified upload then costs the slower of hashing
 * and writing instead of their sum.
 * At most {@link #MAX_PENDING} bytes wait at once; a caller beyond that waits for the disk.
 *
 * <p>A failed write is reported by the next {@link #write} or {@link #drain}; later writes are
 * dropped. Callers {@link #drain} before anything that must see every byte on the file
 * (recording progress, verifying, truncating, closing).
 */
public final class WriteBehind {
    /** Bytes queued for the disk at most. */
    public static final int MAX_PENDING = 8 << 20;

    private final FileSink sink;
    private final SerialQueue queue;
    private final Semaphore budget = new Semaphore(MAX_PENDING);
    private volatile IOException failure;

    public WriteBehind(FileSink sink, Executor disk) {
        this.sink = sink;
        this.queue = new SerialQueue(disk);
    }

    /**
     * Queues {@code bytes} for {@code position}; {@code written} runs once they are on the file
     * (or failed), after which the caller's buffer may be reused.
     */
    public void write(ByteBuffer bytes, long position, Runnable written) throws IOException {
        IOException failed = failure;
        if (failed != null) {
            written.run();
            throw failed;
        }
        int permits = Math.min(bytes.remaining(), MAX_PENDING);
        awaitBudget(permits);
        queue.submit(() -> {
            try {
                if (failure == null) {
                    sink.write(bytes, position);
                }
            } catch (IOException e) {
                failure = e;
            } catch (RuntimeException e) {
                failure = new IOException(e);
            } finally {
                budget.release(permits);
                written.run();
            }
        });
    }

    /**
     * Takes {@code permits} bytes of budget, waiting for the disk if need be. The wait tells a
     * ForkJoinPool that this worker is blocked, so the pool adds a worker to run the very writes
     * being waited for: callers and writes share one pool, which must never wait on itself.
     */
    private void awaitBudget(int permits) {
        if (budget.tryAcquire(permits)) {
            return;
        }
        ForkJoinPool.ManagedBlocker blocker = new ForkJoinPool.ManagedBlocker() {
            private boolean acquired;

            @Override
            public boolean block() {
                budget.acquireUninterruptibly(permits);
                acquired = true;
                return true;
            }

            @Override
            public boolean isReleasable() {
                return acquired || (acquired = budget.tryAcquire(permits));
            }
        };
        while (true) {
            try {
                ForkJoinPool.managedBlock(blocker);
                return;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt(); // keep the flag; the wait itself is uninterruptible
            }
        }
    }

    /** Waits until every queued byte is on the file; throws the first write failure. */
    public void drain() throws IOException {
        CompletableFuture<Void> done = new CompletableFuture<>();
        queue.submit(() -> {
            try {
                if (failure == null) {
                    sink.flush();
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
            done.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while writing", e);
        } catch (ExecutionException e) {
            throw new IOException(e.getCause());
        }
        IOException failed = failure;
        if (failed != null) {
            throw failed;
        }
    }

    /** The file was cut back to {@code size} (after {@link #settle}); writes continue there. */
    public void truncated(long size) throws IOException {
        failure = null;
        sink.truncated(size);
    }

    /** Ends the writer (after {@link #drain} or {@link #settle}). */
    public void close() {
        sink.close();
    }

    /** As {@link #drain}, ignoring failures: before the file is cut back or removed anyway. */
    public void settle() {
        try {
            drain();
        } catch (IOException ignored) {
            // the caller discards what was written
        }
    }
}
