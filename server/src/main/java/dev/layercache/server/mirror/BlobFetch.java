package dev.layercache.server.mirror;

import dev.layercache.server.core.Digest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * One upstream fetch of a blob, as it happens: the scratch file it is written to, how much of it
 * is there, and how it ended. Clients that ask for the blob meanwhile read the file as it grows
 * ({@link #open}), so that a layer is sent on to every waiting client as it arrives, not once it is
 * all here.
 *
 * <p>What a reader is given never includes a blob's last byte before the whole blob is verified
 * against its digest and committed ({@link Reader#readable}): a body cut short is what a client
 * sees of an upstream that sent wrong bytes or stalled, never a complete body of wrong bytes.
 */
public final class BlobFetch {
    private final Digest digest;
    private final Path file;
    /** Completes with the length the upstream declared (-1: none) once its answer's headers are in. */
    private final CompletableFuture<Long> started = new CompletableFuture<>();
    /** Completes once the blob is verified and committed, or with why it was not. */
    private final CompletableFuture<Void> done = new CompletableFuture<>();
    private final CopyOnWriteArrayList<Runnable> listeners = new CopyOnWriteArrayList<>();
    private volatile long written;
    private volatile Throwable failure;
    private boolean removed;

    BlobFetch(Digest digest, Path file) {
        this.digest = digest;
        this.file = file;
    }

    public Digest digest() {
        return digest;
    }

    CompletableFuture<Long> started() {
        return started;
    }

    CompletableFuture<Void> done() {
        return done;
    }

    Path file() {
        return file;
    }

    // ------------------------------------------------------------------ the fetcher's side

    /** The upstream answered: the body of {@code length} bytes (-1: not declared) follows. */
    void began(long length) {
        started.complete(length);
    }

    /** {@code total} bytes are in the file now. */
    void wrote(long total) {
        written = total;
        tell();
    }

    /** The blob is verified and committed. */
    void succeeded() {
        started.complete(-1L); // a fetch that never began is not one a reader joins
        done.complete(null);
        tell();
    }

    /** The fetch failed: readers' next read fails with {@code cause}. */
    void failed(Throwable cause) {
        failure = cause;
        started.completeExceptionally(cause);
        done.completeExceptionally(cause);
        tell();
    }

    /** Deletes the scratch file; no reader opens it afterwards (those that did keep reading it). */
    synchronized void removeFile() throws IOException {
        removed = true;
        Files.deleteIfExists(file);
    }

    private void tell() {
        for (Runnable r : listeners) {
            r.run();
        }
    }

    // ------------------------------------------------------------------ the readers' side

    /**
     * A reader of the file as it grows, or null when the fetch is over and its file gone (the blob
     * is then read from the store, or its failure answered).
     */
    public synchronized Reader open(long length) throws IOException {
        if (removed || done.isDone()) {
            return null;
        }
        try {
            return new Reader(FileChannel.open(file, StandardOpenOption.READ), length);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    /** What one client reads of the fetch. Positional reads: each reader keeps its own offset. */
    public final class Reader implements AutoCloseable {
        private final FileChannel channel;
        private final long length;
        private Runnable listener;

        private Reader(FileChannel channel, long length) {
            this.channel = channel;
            this.length = length;
        }

        /** The blob's length, as the upstream declared it. */
        public long length() {
            return length;
        }

        /**
         * How many bytes may be read now: those written, less the last byte until the blob is
         * verified and committed.
         *
         * @throws IOException why the fetch failed: the client's body must be cut short
         */
        public long readable() throws IOException {
            Throwable why = failure;
            if (why != null) {
                throw new IOException("the fetch of " + digest + " failed: " + why.getMessage(), why);
            }
            if (done.isDone()) {
                return length;
            }
            return Math.min(written, length - 1);
        }

        /** Reads into {@code into} from {@code position}, which must be below {@link #readable()}. */
        public int read(ByteBuffer into, long position) throws IOException {
            return channel.read(into, position);
        }

        /**
         * Runs {@code listener} whenever more bytes can be read or the fetch ends, on the fetching
         * thread: it must only hand the work elsewhere.
         */
        public void onProgress(Runnable listener) {
            this.listener = listener;
            listeners.add(listener);
        }

        @Override
        public void close() throws IOException {
            if (listener != null) {
                listeners.remove(listener);
            }
            channel.close();
        }
    }
}
