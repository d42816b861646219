package dev.layercache.server.mirror;

import dev.layercache.server.core.Digest;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An {@link Upstream} whose every request is told to a {@link Listener}: which operation, how it
 * ended and how long it took ({@code layercache_upstream_requests_total} and its latency;
 * docs/metrics.md). Counting is a decorator, so neither {@link UpstreamClient} nor the mirror
 * service counts anything, and a test's stub upstream is counted like the real one.
 *
 * <p>One request is one call of the mirror: the sign-in's retry after a 401 and the redirects
 * followed (a blob sent to a CDN) are part of it. A blob's request ends with its body: read to
 * the end or closed ({@code ok}), or broken while read (the {@link UpstreamClient#failure} kind of
 * the read's error, {@code timeout} for a stalled body); its time is the whole transfer's. A call
 * refused before any request (a name the client will not put in a URL) is not told.
 */
public final class CountedUpstream implements Upstream {
    /** The {@code operation} label of each request. */
    public enum Operation {
        HEAD_MANIFEST, GET_MANIFEST, HEAD_BLOB, GET_BLOB;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Told of each request the mirror made to an upstream. */
    @FunctionalInterface
    public interface Listener {
        /**
         * @param outcome {@code ok}, or the {@link UpstreamException.Kind} it failed with in lower
         *                case ({@code not_found}, {@code rate_limited}, {@code unreachable}...)
         */
        void request(String upstream, String operation, String outcome, long nanos);
    }

    static final String OK = "ok";

    private final Upstream inner;
    private final Listener listener;

    public CountedUpstream(Upstream inner, Listener listener) {
        this.inner = Objects.requireNonNull(inner, "inner");
        this.listener = Objects.requireNonNull(listener, "listener");
    }

    /** The label of a failure's kind: {@code RATE_LIMITED} is {@code rate_limited}. */
    public static String outcome(UpstreamException.Kind kind) {
        return kind.name().toLowerCase(Locale.ROOT);
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public Duration revalidate() {
        return inner.revalidate();
    }

    @Override
    public Head head(String repository, String reference, List<String> accept) throws UpstreamException {
        long start = System.nanoTime();
        Head answer;
        try {
            answer = inner.head(repository, reference, accept);
        } catch (UpstreamException e) {
            tell(Operation.HEAD_MANIFEST, outcome(e.kind()), start);
            throw e;
        }
        tell(Operation.HEAD_MANIFEST, OK, start);
        return answer;
    }

    @Override
    public Fetched get(String repository, String reference, List<String> accept, int maxBytes) throws UpstreamException {
        long start = System.nanoTime();
        Fetched answer;
        try {
            answer = inner.get(repository, reference, accept, maxBytes);
        } catch (UpstreamException e) {
            tell(Operation.GET_MANIFEST, outcome(e.kind()), start);
            throw e;
        }
        tell(Operation.GET_MANIFEST, OK, start);
        return answer;
    }

    @Override
    public long blobSize(String repository, Digest digest) throws UpstreamException {
        long start = System.nanoTime();
        long size;
        try {
            size = inner.blobSize(repository, digest);
        } catch (UpstreamException e) {
            tell(Operation.HEAD_BLOB, outcome(e.kind()), start);
            throw e;
        }
        tell(Operation.HEAD_BLOB, OK, start);
        return size;
    }

    @Override
    public Body blob(String repository, Digest digest) throws UpstreamException {
        long start = System.nanoTime();
        Body body;
        try {
            body = inner.blob(repository, digest);
        } catch (UpstreamException e) {
            tell(Operation.GET_BLOB, outcome(e.kind()), start);
            throw e;
        }
        return new Body(new CountedBody(body.stream(), start), body.length());
    }

    private void tell(Operation operation, String outcome, long start) {
        listener.request(inner.name(), operation.label(), outcome, System.nanoTime() - start);
    }

    /** A blob's body that tells its request once: at its end, at its first error, or when closed. */
    private final class CountedBody extends FilterInputStream {
        private final long start;
        private final AtomicBoolean told = new AtomicBoolean();

        CountedBody(InputStream in, long start) {
            super(in);
            this.start = start;
        }

        @Override
        public int read() throws IOException {
            try {
                int b = super.read();
                if (b < 0) {
                    end(OK);
                }
                return b;
            } catch (IOException e) {
                end(outcome(UpstreamClient.failure(inner.name(), "reading a blob", e).kind()));
                throw e;
            }
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            try {
                int n = super.read(buffer, offset, length);
                if (n < 0) {
                    end(OK);
                }
                return n;
            } catch (IOException e) {
                end(outcome(UpstreamClient.failure(inner.name(), "reading a blob", e).kind()));
                throw e;
            }
        }

        @Override
        public void close() throws IOException {
            // Closed before its end without an error: the mirror stopped reading (a blob larger
            // than the node takes), the upstream did nothing wrong.
            end(OK);
            super.close();
        }

        private void end(String outcome) {
            if (told.compareAndSet(false, true)) {
                tell(Operation.GET_BLOB, outcome, start);
            }
        }
    }
}
