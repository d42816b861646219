package dev.layercache.server;

import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.auth.AccessControl;
import dev.layercache.server.auth.RateLimits;
import dev.layercache.server.cluster.BucketCollector;
import dev.layercache.server.cluster.ClusterNode;
import dev.layercache.server.cluster.SharedKeyValueStore;
import dev.layercache.server.cluster.TieredBlobBackend;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.entries.EntryService;
import dev.layercache.server.grpc.GrpcServer;
import dev.layercache.server.grpc.GrpcServices;
import dev.layercache.server.http.AccessLog;
import dev.layercache.server.http.HttpServer;
import dev.layercache.server.http.RequestListener;
import dev.layercache.server.http.RequestMetrics;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.metrics.StoreCensus;
import dev.layercache.server.lifecycle.AccessTracker;
import dev.layercache.server.lifecycle.BlobRepair;
import dev.layercache.server.lifecycle.Scrubber;
import dev.layercache.server.lifecycle.StartupCheck;
import dev.layercache.server.lifecycle.Collector;
import dev.layercache.server.lifecycle.Lifecycle;
import dev.layercache.server.lifecycle.MetadataPruner;
import dev.layercache.server.lifecycle.ReferenceGuard;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.RepositoryIndex;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.registry.UploadDirectory;
import dev.layercache.server.storage.BlobBackend;
import dev.layercache.server.analysis.AnalysisService;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.registry.ManifestService;
import dev.layercache.server.registry.UploadService;
import dev.layercache.server.storage.DataLayout;
import dev.layercache.server.storage.DiskBlobBackend;
import dev.layercache.server.tls.ReloadingTls;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A running node: wiring only, from configuration to stores to services to transports. */
public final class LayerCacheServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LayerCacheServer.class);

    private final ServerConfig config;
    private final RocksKeyValueStore metadata;
    private final ExecutorService blocking;
    private final ExecutorService requests;
    private final Transport transport;
    private final HttpServer http;
    private final GrpcServer grpc;
    private final CacheMetrics metrics;
    private final Lifecycle lifecycle;
    /** The cluster's shared parts; null for a node on its own. */
    private ClusterNode cluster;
    private final AtomicBoolean ready = new AtomicBoolean();
    private final AtomicBoolean stopped = new AtomicBoolean();

    private LayerCacheServer(ServerConfig config, Clock clock) throws Exception {
        this.config = config;
        DataLayout layout = new DataLayout(config.dataDir()).create();
        metadata = new RocksKeyValueStore(layout.metadata());
        try {
            ObjectMapper json = jsonMapper();
            // A work-stealing pool in FIFO mode: a hand-off costs far less than with a shared queue,
            // which matters when one small request makes several hops (gRPC's listener callbacks).
            blocking = new ForkJoinPool(config.blockingThreads(), named("layercache-blocking"), null, true);
            // Lookups and other small requests (HTTP without a streamed body, unary gRPC calls) on a
            // pool of their own: they must not queue behind the disk work of uploads and streams.
            requests = new ForkJoinPool(config.blockingThreads(), named("layercache-requests"), null, true);
            ServerConfig.Auth auth = config.auth();
            AccessControl accessControl = AccessControl.load(auth.htpasswd(), auth.tokens(), auth.rules(),
                    auth.anonymousRead());
            RateLimits rates = new RateLimits(config.limits().requestsPerSecond());
            ServerConfig.Metrics counting = config.metrics();
            metrics = counting.enabled()
                    ? CacheMetrics.create(counting.namespaceDepth(), counting.maxNamespaces(), clock)
                    : CacheMetrics.disabled();
            AccessTracker access = new AccessTracker(metadata, clock, config.lifecycle().gcGrace());
            ReferenceGuard guard = new ReferenceGuard();
            DiskBlobBackend disk = new DiskBlobBackend(layout);
            // Alone, the services work on this node's stores. In a cluster they work on the shared
            // bucket through a local cache, and the lifecycle keeps that cache (the hot tier) in
            // its budget with services of its own over the local stores only.
            KeyValueStore served = metadata;
            java.util.concurrent.atomic.AtomicReference<java.util.function.LongConsumer> hotTierStored =
                    new java.util.concurrent.atomic.AtomicReference<>(bytes -> { });
            BlobBackend servedBytes = disk;
            UploadDirectory directory = UploadDirectory.NONE;
            if (config.cluster().enabled()) {
                cluster = ClusterNode.open(config.cluster(), metrics);
                served = new SharedKeyValueStore(metadata, cluster.bucket(), cluster.health());
                BlobIndex localBlobs = new BlobIndex(metadata);
                servedBytes = new TieredBlobBackend(disk, cluster.bucket(), layout, cluster.health(), (digest, size) -> {
                    KeyValueStore.Batch b = metadata.batch();
                    localBlobs.put(b, digest, size, clock.millis());
                    b.commit(false);
                    hotTierStored.get().accept(size);
                });
                directory = cluster.uploads(json, config.auth().nodeToken());
            }
            BlobService blobs = new BlobService(served, servedBytes, clock, access, guard);
            UploadService uploads = new UploadService(served, layout, blobs, clock, blocking, directory, metrics::upload);
            uploads.limits(config.limits().maxBlobBytes(), config.limits().maxUploadsPerIdentity(),
                    config.limits().maxUploads(), config.limits().uploadIdleTimeout());
            uploads.recover();
            ManifestService manifests = new ManifestService(served, blobs, json, access, guard, clock);
            EntryService entries = new EntryService(served, blobs, clock, access, guard);
            BlobService localBlobService = cluster == null ? blobs
                    : new BlobService(metadata, disk, clock, access, guard);
            ManifestService localManifests = cluster == null ? manifests
                    : new ManifestService(metadata, localBlobService, json, access, guard, clock);
            EntryService localEntries = cluster == null ? entries
                    : new EntryService(metadata, localBlobService, clock, access, guard);
            StoreCensus census = new StoreCensus(metadata);
            metrics.watchStore(census, uploads::openSessions);
            // Whether a missed lookup's namespace exists: asked of this node's own store, so that
            // a miss never costs a bucket request (a cluster node knows what passed through it).
            RepositoryIndex repositoriesHere = new RepositoryIndex(metadata);
            metrics.holdsRepositories(prefix -> repositoriesHere.anyUnder(RepositoryName.parse(prefix)));
            BlobRepair repair = new BlobRepair(metadata, localManifests, localEntries);
            blobs.whenBytesLost(repair::forget);
            localBlobService.whenBytesLost(repair::forget);
            StartupCheck.Report check = new StartupCheck(metadata, disk, repair, clock).run();
            ServerConfig.Lifecycle lifecycleSettings = localBudget(config);
            lifecycle = new Lifecycle(lifecycleSettings, layout.root(), metadata, localManifests, localEntries,
                    uploads, new Collector(metadata, disk, localManifests, guard, access, clock),
                    new Scrubber(metadata, disk, layout, repair, clock), access, census, metrics,
                    new MetadataPruner(lifecycleSettings.history(), metadata, AnalysisService.cacheKeyPrefix(), clock),
                    clock);
            lifecycle.startupChecked(check);
            // A write past the high watermark starts a run at once: on this node's own stores
            // alone, on the hot tier's copies in a cluster.
            if (cluster == null) {
                blobs.whenStored(lifecycle::blobStored);
            } else {
                hotTierStored.set(lifecycle::blobStored);
            }

            ReloadingTls tls = ReloadingTls.open(config.tls());
            transport = new Transport();
            http = new HttpServer(
                    new HttpServer.Options(config.bindAddress(), config.httpPort(), (int) config.maxManifestSize(),
                            (int) config.maxHeaderSize(), accessControl, rates, config.limits().idleTimeout(),
                            config.limits().readTimeout(), config.limits().minBodyRate(), tls,
                            config.httpDownloads() == ServerConfig.HttpDownloads.SENDFILE),
                    transport, blobs, uploads, manifests, json, requests, blocking, this::isReady, metrics, lifecycle,
                    RequestListener.all(List.of(new AccessLog(), new RequestMetrics(metrics, manifests))),
                    new AnalysisService(manifests, blobs, served, metadata, json, AnalysisService.MEMORY_ENTRIES));
            grpc = new GrpcServer(config.bindAddress(), config.grpcPort(), transport, requests, blocking,
                    GrpcServices.create(entries, blobs, uploads, manifests,
                            (int) config.maxManifestSize(), metrics), metrics, accessControl, rates,
                    config.limits().idleTimeout(), tls);
            grpc.setServing(true);
            if (cluster != null) {
                String url = config.cluster().nodeUrl().isEmpty()
                        ? ClusterNode.defaultUrl(config.bindAddress(), http.port())
                                .replaceFirst("^http:", config.tls().enabled() ? "https:" : "http:")
                        : config.cluster().nodeUrl();
                cluster.joined(url);
                BucketCollector bucketGc = cluster.startCollection(config.cluster(), config.lifecycle(), manifests,
                        access, guard, repair::forget, url, clock);
                lifecycle.bucketCollection(bucketGc::run);
            }
            lifecycle.start();
        } catch (Exception | Error e) {
            if (cluster != null) {
                cluster.close();
            }
            metadata.close();
            throw e;
        }
        ready.set(true);
        log.info("layercache ready: data in {}", layout.root());
    }

    /** Opens the stores in {@code config.dataDir()} and starts serving. */
    public static LayerCacheServer start(ServerConfig config) throws Exception {
        return new LayerCacheServer(config, Clock.systemUTC());
    }

    /** As {@link #start(ServerConfig)}, telling time by {@code clock} (tests move it forward). */
    public static LayerCacheServer start(ServerConfig config, Clock clock) throws Exception {
        return new LayerCacheServer(config, clock);
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

    /** The node's lifecycle (eviction, collection), for tests and embedding. */
    public Lifecycle lifecycle() {
        return lifecycle;
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
        lifecycle.close();
        if (cluster != null) {
            cluster.close();
        }
        metrics.close();
        metadata.close();
        log.info("layercache stopped");
    }

    /**
     * The lifecycle's settings. In a cluster the node's disk is only a copy of the bucket, so it
     * gets a budget even when max-disk-size is 0: half of its file system, lest it fill the disk.
     */
    private static ServerConfig.Lifecycle localBudget(ServerConfig config) {
        ServerConfig.Lifecycle settings = config.lifecycle();
        if (!config.cluster().enabled() || !settings.maxDisk().isNone()) {
            return settings;
        }
        log.info("cluster mode with max-disk-size 0: this node keeps at most half of its file system in blobs");
        return settings.withMaxDisk(ServerConfig.DiskShare.ofPercent(50));
    }

    /** JSON for manifests: hostile nesting is refused long before it costs stack or memory. */
    static ObjectMapper jsonMapper() {
        ObjectMapper json = new ObjectMapper();
        json.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                .maxNestingDepth(64)
                .maxStringLength(1 << 22)
                .build());
        return json;
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
