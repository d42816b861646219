package dev.layercache.server.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.auth.AccessControl;
import dev.layercache.server.auth.RateLimits;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.node.Services;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

/**
 * The HTTP API, built before any socket: the route table over a node's services, the mapping of
 * failures to OCI errors, the checks of credentials and rates, and who is told of each completed
 * request. Every connection shares it; {@link HttpServer} serves it on a port, and a test can
 * serve it on a channel of its own ({@link HttpPipeline}).
 */
public final class HttpSurface {
    private final Routes routes;
    private final ErrorMapper errors;
    private final RequestListener listener;
    private final AtomicInteger activeExchanges = new AtomicInteger();
    private final HttpAccess access;
    /** Small reads answered from memory on the event loop; null: every request goes to the pool. */
    private final FastPath fastPath;

    private HttpSurface(Routes routes, ErrorMapper errors, RequestListener listener, HttpAccess access,
                        FastPath fastPath) {
        this.routes = routes;
        this.errors = errors;
        this.listener = listener;
        this.access = access;
        this.fastPath = fastPath;
    }

    FastPath fastPath() {
        return fastPath;
    }

    /**
     * The node's whole API over {@code services}. Without more settings: counting off, nobody
     * asked for credentials, no rate limit, always ready, manifests up to 4 MiB, requests told to
     * the access log and the counters.
     */
    public static Builder over(Services services) {
        return new Builder(Objects.requireNonNull(services, "services"), null);
    }

    /** A surface with a route table of a test's own (see {@link Routes#plain}). */
    static Builder of(Routes routes) {
        return new Builder(null, routes);
    }

    Routes routes() {
        return routes;
    }

    ErrorMapper errors() {
        return errors;
    }

    RequestListener listener() {
        return listener;
    }

    /** Requests received and not yet answered, on every connection. */
    AtomicInteger activeExchanges() {
        return activeExchanges;
    }

    HttpAccess access() {
        return access;
    }

    /** Requests in progress on every connection of this surface. */
    public int requestsInProgress() {
        return activeExchanges.get();
    }

    /** The settings of an {@link HttpSurface}; see {@link #over} for the defaults. */
    public static final class Builder {
        private final Services services;
        private final Routes routes;
        private CacheMetrics metrics = CacheMetrics.disabled();
        private AccessControl access = AccessControl.OPEN;
        private RateLimits rates = RateLimits.NONE;
        private BooleanSupplier ready = () -> true;
        private int maxManifestBytes = 4 << 20;
        private RequestListener listener;

        private Builder(Services services, Routes routes) {
            this.services = services;
            this.routes = routes;
        }

        /** The counters that requests and uploads update, and the metrics pages show. */
        public Builder metrics(CacheMetrics metrics) {
            this.metrics = Objects.requireNonNull(metrics, "metrics");
            return this;
        }

        /** Who may do what, and how many requests a second each may make. */
        public Builder access(AccessControl access, RateLimits rates) {
            this.access = Objects.requireNonNull(access, "access");
            this.rates = Objects.requireNonNull(rates, "rates");
            return this;
        }

        /** What {@code /readyz} and {@code /v2/} report. */
        public Builder ready(BooleanSupplier ready) {
            this.ready = Objects.requireNonNull(ready, "ready");
            return this;
        }

        /** The largest manifest body accepted (413 beyond). */
        public Builder maxManifestBytes(int bytes) {
            this.maxManifestBytes = bytes;
            return this;
        }

        /** Who is told of each completed request, instead of the access log and the counters. */
        public Builder listener(RequestListener listener) {
            this.listener = Objects.requireNonNull(listener, "listener");
            return this;
        }

        public HttpSurface build() {
            ObjectMapper mapper = services != null ? services.json() : Services.jsonMapper();
            Routes table = routes != null ? routes : Routes.api(services, metrics, access, ready, maxManifestBytes);
            RequestListener told = listener != null ? listener : services == null ? (r, s, in, out, d, n) -> { }
                    : RequestListener.all(List.of(new AccessLog(),
                            new RequestMetrics(metrics, services.served().manifests())));
            HttpAccess admission = new HttpAccess(access, rates,
                    services == null ? name -> false : services.mirrors()::isMirrored);
            // Answers from memory only where admission is pure CPU: with credentials, a new one
            // takes a bcrypt check, which never runs on an event loop.
            FastPath fast = services == null || services.answers() == null || access.enabled() ? null
                    : new FastPath(services.answers(), services.served().manifests(), services.served().blobs(),
                            admission);
            return new HttpSurface(table, new ErrorMapper(mapper), told, admission, fast);
        }
    }
}
