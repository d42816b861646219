package dev.layercache.server.http;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A {@link RequestListener} writing one line per request at debug level (logger {@code layercache.access}). */
public final class AccessLog implements RequestListener {
    private static final Logger log = LoggerFactory.getLogger("layercache.access");

    @Override
    public void onComplete(Request request, int status, long bytesReceived, long bytesSent, long declaredLength,
                           long nanos) {
        if (log.isDebugEnabled()) {
            log.debug("{} {} {} {} in={} out={} {}us", request.method(), request.route().resource(),
                    request.route().name(), status, bytesReceived, bytesSent, nanos / 1000);
        }
    }
}
