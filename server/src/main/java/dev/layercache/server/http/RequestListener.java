package dev.layercache.server.http;

import java.util.List;

/**
 * Told of every request the HTTP surface completes, in one place, so that counting (the access
 * log, the metrics) never lives in handlers.
 *
 * <p>Threads: {@link #onComplete} runs on the connection's event loop, right after the response's
 * last byte, unless {@link #mayBlock} says that for this request it may block (read metadata,
 * call the bucket); then it runs on the request pool.
 */
public interface RequestListener {

    /**
     * @param request        the request (its route says which resource was asked for)
     * @param status         the HTTP status sent
     * @param bytesReceived  body bytes received
     * @param bytesSent      body bytes sent
     * @param declaredLength the response's {@code Content-Length} (what a {@code HEAD} describes), or -1
     * @param nanos          time from the request line to the last byte written
     */
    void onComplete(Request request, int status, long bytesReceived, long bytesSent, long declaredLength, long nanos);

    /**
     * True when {@link #onComplete} may block for this request, so that it must not run on an
     * event loop. Asked on the event loop: answer from the request line and status alone.
     */
    default boolean mayBlock(Request request, int status) {
        return false;
    }

    /** All of {@code listeners}, in order; one that throws does not stop the others. */
    static RequestListener all(List<RequestListener> listeners) {
        List<RequestListener> all = List.copyOf(listeners);
        return new RequestListener() {
            @Override
            public void onComplete(Request request, int status, long received, long sent, long declared, long nanos) {
                RuntimeException first = null;
                for (RequestListener l : all) {
                    try {
                        l.onComplete(request, status, received, sent, declared, nanos);
                    } catch (RuntimeException e) {
                        first = first == null ? e : first;
                    }
                }
                if (first != null) {
                    throw first;
                }
            }

            @Override
            public boolean mayBlock(Request request, int status) {
                for (RequestListener l : all) {
                    if (l.mayBlock(request, status)) {
                        return true;
                    }
                }
                return false;
            }
        };
    }
}
