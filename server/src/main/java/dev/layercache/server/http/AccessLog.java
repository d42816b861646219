package dev.layercache.server.http;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link RequestListener} writing one line per request at debug level (logger
 * {@code layercache.access}), and one audit line at info level for every request that writes or
 * deletes (logger {@code layercache.audit}), with the identity that made it. No line carries a
 * header: the path and the identity's name say enough, and credentials never reach a log.
 */
public final class AccessLog implements RequestListener {
    private static final Logger log = LoggerFactory.getLogger("layercache.access");
    private static final Logger audit = LoggerFactory.getLogger("layercache.audit");

    @Override
    public void onComplete(Request request, int status, long bytesReceived, long bytesSent, long declaredLength,
                           long nanos) {
        if (log.isDebugEnabled()) {
            log.debug("{} {} {} {} {} in={} out={} {}us", request.identity().name(), request.method(),
                    request.route().resource(), request.route().name(), status, bytesReceived, bytesSent,
                    nanos / 1000);
        }
        io.netty.handler.codec.http.HttpMethod m = request.method();
        boolean changes = !io.netty.handler.codec.http.HttpMethod.GET.equals(m)
                && !io.netty.handler.codec.http.HttpMethod.HEAD.equals(m);
        if (changes && request.route().resource() != Route.Resource.NOT_FOUND) {
            audit.info("identity={} {} {} repository={} reference={} status={} bytes={}", request.identity().name(),
                    m, request.route().resource(), request.route().name(), request.route().param(), status,
                    bytesReceived);
        }
    }
}
