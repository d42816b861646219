package dev.layercache.server.http;

import java.util.List;

/**
 * Told of every request the HTTP surface completes, in one place, so that counting (the access
 * log, the metrics) never lives in handlers.
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

    /** All of {@code listeners}, in order; one that throws does not stop the others. */
    static RequestListener all(List<RequestListener> listeners) {
        return (request, status, received, sent, declared, nanos) -> {
            RuntimeException first = null;
            for (RequestListener l : listeners) {
                try {
                    l.onComplete(request, status, received, sent, declared, nanos);
                } catch (RuntimeException e) {
                    first = first == null ? e : first;
                }
            }
            if (first != null) {
                throw first;
            }
        };
    }
}
