package dev.layercache.server.http;

/**
 * Told of every request the HTTP surface completes, in one place, so that counting (access log
 * now, metrics later) never lives in handlers.
 */
public interface RequestListener {

    /**
     * @param request       the request (its route says which resource was asked for)
     * @param status        the HTTP status sent
     * @param bytesReceived body bytes received
     * @param bytesSent     body bytes sent
     * @param nanos         time from the request line to the last byte written
     */
    void onComplete(Request request, int status, long bytesReceived, long bytesSent, long nanos);
}
