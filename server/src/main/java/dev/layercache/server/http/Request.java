package dev.layercache.server.http;

import dev.layercache.server.core.RepositoryName;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.util.List;

/** One HTTP request as handlers see it: method, route, headers, query and (when buffered) body. */
public final class Request {
    private final HttpMethod method;
    private final Route route;
    private final HttpHeaders headers;
    private final QueryStringDecoder query;
    private ByteBuf body;
    private RepositoryName repository;
    private dev.layercache.server.auth.Identity identity = dev.layercache.server.auth.Identity.ANONYMOUS;
    private String remoteAddress = "unknown";
    /** Bytes of a blob a mount made visible: set by the handler, counted by {@link RequestMetrics}. */
    private volatile long mountedBytes = -1;
    /** The upstream whose mirror served this request, or null: set by {@link MirrorGate}, read by {@link RequestMetrics}. */
    private volatile String mirroredFrom;

    Request(HttpMethod method, Route route, HttpHeaders headers, QueryStringDecoder query) {
        this.method = method;
        this.route = route;
        this.headers = headers;
        this.query = query;
    }

    /** Who sent the request (anonymous without credentials or without access control). */
    public dev.layercache.server.auth.Identity identity() {
        return identity;
    }

    void identity(dev.layercache.server.auth.Identity who) {
        this.identity = who;
    }

    void remoteAddress(java.net.SocketAddress remote) {
        this.remoteAddress = remote instanceof java.net.InetSocketAddress inet && inet.getAddress() != null
                ? inet.getAddress().getHostAddress() : String.valueOf(remote);
    }

    /**
     * Whose quota the request counts against: its identity, or for an anonymous request the
     * client's address (without access control every client is anonymous).
     */
    public String client() {
        return identity.isAnonymous() ? "anonymous@" + remoteAddress : identity.name();
    }

    public HttpMethod method() {
        return method;
    }

    public boolean isHead() {
        return HttpMethod.HEAD.equals(method);
    }

    public Route route() {
        return route;
    }

    /**
     * The repository of the route, validated. Parsed once: the mirror gate, the handler and the
     * build recorder each ask, and the name's check is a regular expression (a tenth of a small
     * request's handler time). An invalid name throws on every call, as before.
     */
    public RepositoryName repository() {
        RepositoryName parsed = repository;
        if (parsed == null) {
            parsed = RepositoryName.parse(route.name());
            repository = parsed; // a benign race: any thread parses the same value
        }
        return parsed;
    }

    public HttpHeaders headers() {
        return headers;
    }

    public String header(CharSequence name) {
        return headers.get(name);
    }

    /** The first value of a query parameter, or null. */
    public String param(String name) {
        List<String> values = query.parameters().get(name);
        return values == null || values.isEmpty() ? null : values.get(0);
    }

    public boolean hasParam(String name) {
        return query.parameters().containsKey(name);
    }

    /** The buffered body (manifest pushes only); empty for other requests. */
    public ByteBuf body() {
        return body;
    }

    void body(ByteBuf body) {
        this.body = body;
    }

    /**
     * What a mount came to, for the recorder: handlers say what happened and count nothing
     * ({@link RequestMetrics}).
     */
    void mounted(long bytes) {
        this.mountedBytes = bytes;
    }

    /** The size of the blob this request mounted, or -1 when it mounted none. */
    long mountedBytes() {
        return mountedBytes;
    }

    /**
     * This request asks the mirror of {@code upstream}: the mirror counts its lookup, so the
     * recorder must not count it again as one of the build cache's.
     */
    void mirrored(String upstream) {
        this.mirroredFrom = upstream;
    }

    /** The upstream whose mirror this request asked, or null when it asked none. */
    String mirroredFrom() {
        return mirroredFrom;
    }
}
