package dev.layercache.server.grpc;

import dev.layercache.server.auth.AccessControl;
import dev.layercache.server.auth.RateLimits;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.node.Services;
import io.grpc.BindableService;
import io.grpc.ServerBuilder;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executor;

/**
 * The layercache.v1 services over a node's services, with what every call passes through: the
 * check of credentials and rates, the counters, the caller's address, and the guard against
 * malformed messages. Built before any port; {@link GrpcServer} serves them on Netty, and a test
 * can serve them on gRPC's in-process transport ({@link #addTo} on an {@code InProcessServerBuilder}).
 */
public final class GrpcServices {
    private final List<BindableService> services;
    private final AccessControl access;
    private final RateLimits rates;
    private final CacheMetrics metrics;
    private final java.util.function.Predicate<String> readOnly;

    private GrpcServices(Builder b) {
        Services node = b.services;
        this.readOnly = node.mirrors()::isMirrored;
        GrpcMetrics recorder = new GrpcMetrics(b.metrics);
        this.services = List.of(new EntryCacheGrpcService(node.served().entries(), recorder),
                new BlobsGrpcService(node.served().blobs(), node.uploads(), recorder).binding(),
                new ManifestsGrpcService(node.served().manifests(), b.maxManifestBytes));
        this.access = b.access;
        this.rates = b.rates;
        this.metrics = b.metrics;
    }

    /**
     * The services over {@code services}. Without more settings: counting off, nobody asked for
     * credentials, no rate limit, manifests up to 4 MiB.
     */
    public static Builder over(Services services) {
        return new Builder(services);
    }

    /**
     * Adds the services to {@code builder} with their interceptors, and has their calls run off
     * the transport's threads: unary calls (lookups) on {@code requests}, streaming calls
     * (transfers) on {@code transfers} ({@link CallExecutors}).
     */
    public <T extends ServerBuilder<T>> T addTo(T builder, Executor requests, Executor transfers) {
        CallExecutors executors = new CallExecutors(requests, transfers);
        builder.executor(executors.requests())
                .callExecutor(executors)
                .intercept(new AuthInterceptor(access, rates, executors, readOnly))
                .intercept(new MetricsInterceptor(metrics))
                .intercept(ClientAddress.INTERCEPTOR); // added last, runs first: every later one sees the address
        services.forEach(service -> builder.addService(MalformedMessages.guard(service.bindService())));
        return builder;
    }

    /** The settings of {@link GrpcServices}; see {@link #over} for the defaults. */
    public static final class Builder {
        private final Services services;
        private CacheMetrics metrics = CacheMetrics.disabled();
        private AccessControl access = AccessControl.OPEN;
        private RateLimits rates = RateLimits.NONE;
        private int maxManifestBytes = 4 << 20;

        private Builder(Services services) {
            this.services = Objects.requireNonNull(services, "services");
        }

        public Builder metrics(CacheMetrics metrics) {
            this.metrics = Objects.requireNonNull(metrics, "metrics");
            return this;
        }

        /** Who may do what, and how many calls a second each may make. */
        public Builder access(AccessControl access, RateLimits rates) {
            this.access = Objects.requireNonNull(access, "access");
            this.rates = Objects.requireNonNull(rates, "rates");
            return this;
        }

        /** The largest manifest PutManifest accepts. */
        public Builder maxManifestBytes(int bytes) {
            this.maxManifestBytes = bytes;
            return this;
        }

        public GrpcServices build() {
            return new GrpcServices(this);
        }
    }
}
