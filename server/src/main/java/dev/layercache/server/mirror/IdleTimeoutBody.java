package dev.layercache.server.mirror;

import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A response body as an {@link InputStream} whose reads give up when no byte has come for
 * {@code idle}: {@link HttpResponse.BodyHandlers#ofInputStream()} has no read timeout, so an
 * upstream that sends its headers and then stalls would hold the caller's thread for ever.
 *
 * <p>The stream is handed out as soon as the headers are in (the client's request timeout covers
 * only that far). Buffers are requested a few lists ahead of the reader ({@link #AHEAD}), one more
 * as each is taken, so a slow reader slows the connection rather than filling memory. A stalled read throws
 * {@link SocketTimeoutException}; a broken connection throws the {@link IOException} the client
 * reported. {@link #close()} (or a timeout) cancels the subscription, which closes the connection
 * unless the body was read to its end; closing after the end leaves the connection to be reused.
 * Another thread may close it: a read blocked in it then fails at once.
 */
final class IdleTimeoutBody extends InputStream implements HttpResponse.BodySubscriber<InputStream> {
    /** Marks the end of the body in the queue (its own object: the client may deliver empty lists). */
    private static final Object END = new Object();
    /** Wakes a reader blocked in a read when another thread closes the stream. */
    private static final Object CLOSED = new Object();

    /**
     * Lists of buffers asked for ahead of the reader: enough that the client keeps reading the
     * socket while the reader hashes and writes (one at a time made the two threads take turns),
     * few enough to bound what a slow reader leaves in memory (the client's buffers are 16 KiB).
     */
    static final int AHEAD = 8;

    private final Duration idle;
    private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private final CompletableFuture<InputStream> body = CompletableFuture.completedFuture(this);
    private volatile Flow.Subscription subscription;
    private Iterator<ByteBuffer> current = java.util.Collections.emptyIterator();
    private ByteBuffer buffer;
    private boolean ended;
    private IOException failure;
    private volatile boolean closed;

    IdleTimeoutBody(Duration idle) {
        this.idle = Objects.requireNonNull(idle, "idle");
    }

    /** A handler giving each response such a body. */
    static HttpResponse.BodyHandler<InputStream> handler(Duration idle) {
        return info -> new IdleTimeoutBody(idle);
    }

    // --- the subscriber side, called by the HTTP client's threads

    @Override
    public CompletionStage<InputStream> getBody() {
        return body;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        subscription = s;
        if (closed) {
            s.cancel();
        } else {
            s.request(AHEAD);
        }
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
        queue.add(item);
    }

    @Override
    public void onError(Throwable t) {
        queue.add(t);
    }

    @Override
    public void onComplete() {
        queue.add(END);
    }

    // --- the stream side, called by the reader

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        if (len == 0) {
            return 0;
        }
        ByteBuffer next = nextBuffer();
        if (next == null) {
            return -1;
        }
        int n = Math.min(len, next.remaining());
        next.get(b, off, n);
        // Then whatever else has already arrived, without waiting: one read fills as much of the
        // caller's array as is here (the client hands over 16 KiB at a time).
        while (n < len && (next = arrivedBuffer()) != null) {
            int more = Math.min(len - n, next.remaining());
            next.get(b, off + n, more);
            n += more;
        }
        return n;
    }

    /** A buffer with bytes that is already here, or null if reading on would have to wait. */
    private ByteBuffer arrivedBuffer() {
        while (!closed && failure == null) {
            if (buffer != null && buffer.hasRemaining()) {
                return buffer;
            }
            if (current.hasNext()) {
                buffer = current.next();
                continue;
            }
            Object item = queue.peek();
            if (!(item instanceof List<?>)) {
                return null; // nothing, or the end, an error or a close: the next read sees it
            }
            queue.poll();
            @SuppressWarnings("unchecked")
            List<ByteBuffer> list = (List<ByteBuffer>) item;
            current = list.iterator();
            subscription.request(1);
        }
        return null;
    }

    @Override
    public int available() {
        return buffer == null ? 0 : buffer.remaining();
    }

    /** The buffer to read from, waiting at most {@code idle} for one; null at the end. */
    private ByteBuffer nextBuffer() throws IOException {
        while (true) {
            if (closed) {
                throw new IOException("body closed");
            }
            if (failure != null) {
                throw failure;
            }
            if (buffer != null && buffer.hasRemaining()) {
                return buffer;
            }
            if (current.hasNext()) {
                buffer = current.next();
                continue;
            }
            if (ended) {
                return null;
            }
            Object item;
            try {
                item = queue.poll(idle.toNanos(), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                cancel();
                throw new java.io.InterruptedIOException("interrupted while reading the body");
            }
            if (item == null) {
                cancel();
                failure = new SocketTimeoutException("no byte of the body for " + idle.toMillis() + " ms");
                throw failure;
            }
            if (item instanceof Throwable t) {
                failure = t instanceof IOException io ? io : new IOException(t.getMessage(), t);
                throw failure;
            }
            if (item == CLOSED) {
                continue;
            }
            if (item == END) {
                ended = true;
                return null;
            }
            @SuppressWarnings("unchecked")
            List<ByteBuffer> list = (List<ByteBuffer>) item;
            current = list.iterator();
            // One more asked for as each is taken: the reader sets the pace, AHEAD lists ahead.
            subscription.request(1);
        }
    }

    private void cancel() {
        Flow.Subscription s = subscription;
        if (s != null) {
            s.cancel();
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (!ended) {
            cancel();
        }
        queue.add(CLOSED);
    }
}
