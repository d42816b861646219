package dev.layercache.server.http;

import dev.layercache.server.concurrent.SerialQueue;
import io.netty.buffer.CompositeByteBuf;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One request on a connection, from its first line to its last response byte: the state that
 * {@link HttpDispatcher} keeps for it. Fields above the line are touched only on the connection's
 * event loop; those below it only by the exchange's tasks, which run one at a time in order on
 * {@link #queue} (an upload's on the transfer pool, every other request's on the request pool).
 */
final class Exchange {
    final Request request;
    final Binding binding;
    final boolean keepAlive;
    final long startNanos = System.nanoTime();
    final SerialQueue queue;
    /** Upload bytes received and not yet written: reading pauses above the dispatcher's high mark. */
    final AtomicLong pendingBytes = new AtomicLong();

    long bodyBytes;
    long bytesSent;
    long declaredLength = -1;
    int status;
    /** An HTTP/1.0 request: its keep-alive must be confirmed in the response, or the client closes. */
    boolean http10;
    boolean bodyComplete;
    boolean responded;
    /** False when the request cannot be parsed further: after an early answer, close at once. */
    boolean drainable = true;
    /**
     * The body will not be read to its end (malformed or stalled): what arrives after is
     * ignored, and the answer comes once the request's writes are rolled back.
     */
    boolean abandoned;
    /** The answer from memory ({@link FastPath}), sent once the request is complete; null: none. */
    Response fast;
    /** A manifest body collected so far (a {@link Binding.Buffered} request). */
    CompositeByteBuf buffered;

    // Touched only by tasks on the queue.
    StreamingEndpoint.BodyStream stream;
    Throwable failure;
    boolean streamClosed;

    /** @param pool runs the exchange's tasks, in order */
    Exchange(Request request, Binding binding, boolean keepAlive, Executor pool) {
        this.request = request;
        this.binding = binding;
        this.keepAlive = keepAlive;
        this.queue = new SerialQueue(pool);
    }

    /** Frees the part of a manifest body collected so far, when the request will not be handled. */
    void releaseBuffered() {
        if (buffered != null) {
            buffered.release();
            buffered = null;
        }
    }

    /** On the exchange's pool: ends the upload stream once, rolling it back when {@code abort}. */
    void closeStream(boolean abort) {
        if (stream != null && !streamClosed) {
            streamClosed = true;
            if (abort) {
                stream.abort();
            }
        }
    }
}
