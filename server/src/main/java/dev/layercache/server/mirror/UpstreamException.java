package dev.layercache.server.mirror;

/**
 * An upstream registry did not give what was asked: why, so that the mirror can serve a stale copy
 * (unreachable, slow, rate limited, failing) or pass the upstream's answer on (not found, refused).
 */
public final class UpstreamException extends Exception {
    /** What went wrong. */
    public enum Kind {
        /** No connection (refused, DNS, TLS handshake), or the connection broke. */
        UNREACHABLE,
        /** No answer (or no more bytes) within the time allowed. */
        TIMEOUT,
        /** 429 Too Many Requests. */
        RATE_LIMITED,
        /** A 5xx answer. */
        SERVER_ERROR,
        /** 404: the upstream does not have it. */
        NOT_FOUND,
        /** 401 or 403 even after signing in: the credentials (or their absence) are not enough. */
        DENIED,
        /** Anything else the mirror cannot use: another status, a malformed answer, a digest that does not match. */
        INVALID
    }

    private final Kind kind;
    private final int status;
    /** How long the upstream asked not to be asked again (a 429's {@code Retry-After}), or null. */
    private java.time.Duration retryAfter;

    /**
     * @param status the upstream's HTTP status, or 0 when there was none
     */
    public UpstreamException(Kind kind, int status, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.status = status;
    }

    public UpstreamException(Kind kind, int status, String message) {
        this(kind, status, message, null);
    }

    public Kind kind() {
        return kind;
    }

    /** The upstream's HTTP status, or 0 when it gave none. */
    public int status() {
        return status;
    }

    /** True when a cached copy should be served instead: the upstream is out of reach or refusing load, not saying no. */
    /** How long the upstream asked not to be asked again (a 429's {@code Retry-After}), or null when it did not say. */
    public java.time.Duration retryAfter() {
        return retryAfter;
    }

    /** Says how long the upstream asked to be left alone; returns this exception. */
    public UpstreamException retryAfter(java.time.Duration wait) {
        this.retryAfter = wait;
        return this;
    }

    public boolean serveStale() {
        return kind == Kind.UNREACHABLE || kind == Kind.TIMEOUT || kind == Kind.RATE_LIMITED
                || kind == Kind.SERVER_ERROR;
    }
}
