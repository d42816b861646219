package dev.layercache.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.auth.AccessControl;
import dev.layercache.server.auth.RateLimits;
import dev.layercache.server.builds.BuildInsight;
import dev.layercache.server.mirror.MirrorService;
import dev.layercache.server.mirror.Upstream;
import dev.layercache.server.mirror.UpstreamClient;
import dev.layercache.server.cluster.BucketCollector;
import dev.layercache.server.cluster.ClusterNode;
import dev.layercache.server.concurrent.Transport;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.grpc.GrpcServer;
import dev.layercache.server.grpc.GrpcServices;
import dev.layercache.server.http.HttpServer;
import dev.layercache.server.http.HttpSurface;
import dev.layercache.server.lifecycle.Lifecycle;
import dev.layercache.server.lifecycle.StartupCheck;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.node.ListenAddresses;
import dev.layercache.server.node.Services;
import dev.layercache.server.node.Stores;
import dev.layercache.server.registry.UploadDirectory;
import dev.layercache.server.tls.ReloadingTls;
import java.time.Clock;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running node: wiring only, from configuration to {@link Stores} to {@link Services} to the
 * transports ({@link HttpServer}, {@link GrpcServer}), and the order in which they stop.
 */
public final class LayerCacheServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LayerCacheServer.class);

    private final ServerConfig config;
    private final Stores stores;
    private final ExecutorService blocking;
    private final ExecutorService requests;
    private final Transport transport;
    private final HttpServer http;
    private final GrpcServer grpc;
    private final CacheMetrics metrics;
    private final Lifecycle lifecycle;
    private final Services services;
    private final BuildInsight builds;
    private final MirrorService mirror;
    /** The cluster's shared parts; null for a node on its own. */
    private final ClusterNode cluster;
    private final AtomicBoolean ready = new AtomicBoolean();
    private final AtomicBoolean stopped = new AtomicBoolean();

    private LayerCacheServer(ServerConfig config, Clock clock, StartupCheck.Hook startupHook) throws Exception {
        long began = System.nanoTime();
        this.config = config;
        ServerConfig.Metrics counting = config.metrics();
        metrics = counting.enabled()
                ? CacheMetrics.create(counting.namespaceDepth(), counting.maxNamespaces(), clock)
                : CacheMetrics.disabled();
        // Alone, the services work on this node's stores. In a cluster they work on the shared
        // bucket through the node's stores, and the lifecycle keeps the copies there (the hot
        // tier) in their budget with services of their own (see Services).
        cluster = config.cluster().enabled() ? ClusterNode.open(config.cluster(), metrics) : null;
        Stores opened = null;
        Services built = null;
        try {
            opened = cluster == null ? Stores.alone(config.dataDir())
                    : Stores.clustered(config.dataDir(), cluster.bucket(), cluster.health(), clock);
            stores = opened;
            // A work-stealing pool in FIFO mode: a hand-off costs far less than with a shared queue,
            // which matters when one small request makes several hops (gRPC's listener callbacks).
            blocking = new ForkJoinPool(config.blockingThreads(), named("layercache-blocking"), null, true);
            // Lookups and other small requests (HTTP without a streamed body, unary gRPC calls) on a
            // pool of their own: they must not queue behind the disk work of uploads and streams.
            requests = new ForkJoinPool(config.blockingThreads(), named("layercache-requests"), null, true);
            ObjectMapper json = Services.jsonMapper();
            // The start-up check runs beside requests: on a million blobs it takes tens of
            // seconds, and answers stay right meanwhile (see StartupCheck).
            built = Services.over(stores).config(config).metrics(metrics).json(json).clock(clock)
                    .diskExecutor(blocking)
                    .upstreams(config.mirror().upstreams().stream()
                            .map(u -> (Upstream) new UpstreamClient(u, clock, config.mirror().timeouts())).toList())
                    .uploadDirectory(cluster == null ? UploadDirectory.NONE
                            : cluster.uploads(json, config.auth().nodeToken()))
                    .sharedCopy(cluster == null ? null : cluster.purges())
                    .startupCheckInBackground(startupHook)
                    .build();
            services = built;
            lifecycle = services.lifecycle();
            builds = services.builds();
            mirror = services.mirror();

            ServerConfig.Auth auth = config.auth();
            AccessControl access = AccessControl.load(auth.htpasswd(), auth.tokens(), auth.rules(),
                    auth.anonymousRead());
            RateLimits rates = new RateLimits(config.limits().requestsPerSecond());
            ReloadingTls tls = ReloadingTls.open(config.tls().certChain(), config.tls().privateKey(),
                    config.tls().grpcClientCa());
            transport = new Transport(config.eventLoops());
            try {
                http = new HttpServer(HttpServer.Options.of(config, tls),
                        HttpSurface.over(services).metrics(metrics).access(access, rates).ready(this::isReady)
                                .maxManifestBytes((int) config.maxManifestSize()).build(),
                        transport, requests, blocking);
            } catch (Exception e) {
                transport.close();
                throw ListenAddresses.explain(e, config.bindAddress(), config.httpPort(), "http-port");
            }
            try {
                grpc = new GrpcServer(GrpcServer.Options.of(config, tls),
                        GrpcServices.over(services).metrics(metrics).access(access, rates)
                                .maxManifestBytes((int) config.maxManifestSize()).build(),
                        transport, requests, blocking);
            } catch (Exception e) {
                http.close();
                transport.close();
                throw ListenAddresses.explain(e, config.bindAddress(), config.grpcPort(), "grpc-port");
            }
            warnIfOpen(access);
            grpc.setServing(true);
            if (cluster != null) {
                join(services, clock);
            }
            lifecycle.start();
        } catch (Exception | Error e) {
            if (built != null) {
                built.stopStartupCheck();
            }
            if (cluster != null) {
                cluster.close();
            }
            if (opened != null) {
                opened.close();
            }
            throw e;
        }
        ready.set(true);
        log.info("layercache ready: data in {}; {} ms to start the node{}{}", stores.layout().root(),
                (System.nanoTime() - began) / 1_000_000, sinceProcessStart(),
                lifecycle.status().startupCheckRunning() ? "; the start-up check runs in the background" : "");
    }

    /** ", N ms after the process started" when the system says when it did (what an operator waits). */
    private static String sinceProcessStart() {
        return ProcessHandle.current().info().startInstant()
                .map(at -> ", " + java.time.Duration.between(at, java.time.Instant.now()).toMillis()
                        + " ms after the process started")
                .orElse("");
    }

    /**
     * A node that anyone on the network may write to is the default (a laptop needs no
     * credentials), but it must not be a silent one: say so, and the one line that turns it off.
     */
    private void warnIfOpen(AccessControl access) {
        if (!access.enabled() && !ListenAddresses.isLoopbackOnly(config.bindAddress())) {
            log.warn("access control is off and the node listens on {}: anyone who can reach it may read and write"
                    + " the cache. Turn it on with --auth-htpasswd FILE or --auth-tokens FILE"
                    + " (docs/access-control.md), or listen on this machine only with --bind-address 127.0.0.1",
                    config.bindAddress());
        }
    }

    /**
     * Tells the cluster where this node listens (so that others can take its upload sessions
     * over) and starts its part in the bucket's collection, which its lifecycle can run on demand.
     */
    private void join(Services services, Clock clock) {
        String url = config.cluster().nodeUrl().isEmpty()
                ? ClusterNode.defaultUrl(config.bindAddress(), http.port())
                        .replaceFirst("^http:", config.tls().enabled() ? "https:" : "http:")
                : config.cluster().nodeUrl();
        cluster.joined(url);
        BucketCollector bucketGc = cluster.startCollection(config.cluster(), config.lifecycle(),
                services.served().manifests(), services.access(), services.guard(), services.repair()::forget, url,
                clock);
        lifecycle.bucketCollection(bucketGc::run);
        // A purge through this node tells the others; one through another node drops this one's copies.
        lifecycle.whenPurged(ns -> {
            try {
                cluster.purges().announce(ns);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        cluster.purges().whenPurged(lifecycle::purgeCopies);
    }

    /** Opens the stores in {@code config.dataDir()} and starts serving. */
    public static LayerCacheServer start(ServerConfig config) throws Exception {
        return new LayerCacheServer(config, Clock.systemUTC(), StartupCheck.Hook.NONE);
    }

    /** As {@link #start(ServerConfig)}, telling time by {@code clock} (tests move it forward). */
    public static LayerCacheServer start(ServerConfig config, Clock clock) throws Exception {
        return new LayerCacheServer(config, clock, StartupCheck.Hook.NONE);
    }

    /**
     * As {@link #start(ServerConfig, Clock)}, calling {@code startupHook} on the start-up check's
     * thread before the check begins: tests hold it there to see the node serve meanwhile.
     */
    public static LayerCacheServer start(ServerConfig config, Clock clock, StartupCheck.Hook startupHook)
            throws Exception {
        return new LayerCacheServer(config, clock, startupHook);
    }

    /** Serving, and in a cluster able to reach the bucket: what {@code /readyz} reports. */
    public boolean isReady() {
        return ready.get() && (cluster == null || cluster.health().isUp());
    }

    public int httpPort() {
        return http.port();
    }

    public int grpcPort() {
        return grpc.port();
    }

    public ServerConfig config() {
        return config;
    }

    /** The node's services (for tests and embedding). */
    public Services services() {
        return services;
    }

    /** The node's lifecycle (eviction, collection), for tests and embedding. */
    public Lifecycle lifecycle() {
        return lifecycle;
    }

    /** What stock builders' builds reused and rebuilt (for tests and embedding: what /api/v1/builds lists). */
    public BuildInsight builds() {
        return builds;
    }

    /** The node's counters (for tests and embedding: the same numbers as /metrics). */
    public CacheMetrics metrics() {
        return metrics;
    }

    /**
     * Graceful stop (SIGTERM): report not ready, stop accepting, let requests in progress finish
     * within the grace period, abort the rest (uploads roll back to their last acknowledged byte),
     * then close the metadata store.
     */
    @Override
    public void close() {
        if (!stopped.compareAndSet(false, true)) {
            return;
        }
        ready.set(false);
        http.stopAccepting();
        grpc.stopAccepting();
        try {
            long deadline = System.nanoTime() + config.shutdownGrace().toNanos();
            boolean idle = http.awaitIdle(config.shutdownGrace().toMillis(), TimeUnit.MILLISECONDS)
                    & grpc.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (!idle) {
                log.warn("requests still in progress after {}; aborting them", config.shutdownGrace());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        grpc.close();
        http.close();
        transport.close();
        blocking.shutdown();
        requests.shutdown();
        try {
            if (!blocking.awaitTermination(10, TimeUnit.SECONDS)) {
                log.warn("disk work still running at shutdown");
                blocking.shutdownNow();
            }
            if (!requests.awaitTermination(5, TimeUnit.SECONDS)) {
                requests.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        builds.close(); // open buildah builds are recorded, queued analyses finish
        mirror.close();
        lifecycle.close(); // first: its count waits for the start-up check, and must not follow a stopped one
        services.stopStartupCheck();
        if (cluster != null) {
            cluster.close();
        }
        metrics.close();
        stores.close();
        log.info("layercache stopped");
    }

    private static ForkJoinPool.ForkJoinWorkerThreadFactory named(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return pool -> {
            ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
            t.setName(prefix + "-" + n.incrementAndGet());
            return t;
        };
    }
}
