package dev.layercache.server.testing;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.grpc.GrpcServices;
import dev.layercache.server.http.HttpSurface;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.node.Services;
import dev.layercache.server.node.Stores;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * A node's services without its transports, for the middle height of tests: real RocksDB and
 * files in a fresh temporary folder ({@link Stores}), the services the node builds over them
 * ({@link Services}), the node's HTTP API on an embedded channel ({@link #http()}) and its gRPC
 * services on gRPC's in-process transport ({@link #grpc()}). No port, no event loop, no
 * lifecycle thread: the lifecycle is built but runs only when a test calls it. A test that needs
 * sockets, timeouts, TLS or a restart uses {@link TestServer}.
 *
 * <p>Register as a static field with {@code @RegisterExtension} for one set per class, or as an
 * instance field for one per test.
 */
public final class TestServices extends PerClassOrPerTest {
    private final UnaryOperator<ServerConfig> customize;
    private final Clock clock;
    private Path dataDir;
    private ServerConfig config;
    private CacheMetrics metrics;
    private Stores stores;
    private Services services;
    private EmbeddedHttp http;
    private Server grpcServer;
    private ManagedChannel grpcChannel;
    private ExecutorService grpcPool;

    /** Services with the test defaults ({@link ServerConfig#forTesting}). */
    public TestServices() {
        this(UnaryOperator.identity());
    }

    /** Services whose test configuration is changed by {@code customize}. */
    public TestServices(UnaryOperator<ServerConfig> customize) {
        this(customize, Clock.systemUTC());
    }

    /** Services that tell time by {@code clock} (a {@link TestClock} to move it forward). */
    public TestServices(UnaryOperator<ServerConfig> customize, Clock clock) {
        this.customize = customize;
        this.clock = clock;
    }

    /** Opens the stores and builds the services, as a node does before it opens its ports. */
    @Override
    public void start() throws Exception {
        dataDir = Files.createTempDirectory("layercache-services");
        config = customize.apply(ServerConfig.forTesting(dataDir));
        metrics = config.metrics().enabled()
                ? CacheMetrics.create(config.metrics().namespaceDepth(), config.metrics().maxNamespaces(), clock)
                : CacheMetrics.disabled();
        stores = Stores.alone(config.dataDir());
        services = Services.over(stores).config(config).metrics(metrics).clock(clock).build();
    }


    @Override
    public void stop() throws Exception {
        if (grpcChannel != null) {
            grpcChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            grpcServer.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            grpcPool.shutdownNow();
            grpcChannel = null;
        }
        http = null;
        if (services != null) {
            services.lifecycle().close();
            metrics.close();
            stores.close();
            services = null;
        }
        if (dataDir != null) {
            TestServer.deleteRecursively(dataDir);
            dataDir = null;
        }
    }

    public Services services() {
        return services;
    }

    public Stores stores() {
        return stores;
    }

    public ServerConfig config() {
        return config;
    }

    /** The counters the HTTP and gRPC surfaces here update. */
    public CacheMetrics metrics() {
        return metrics;
    }

    public Path dataDir() {
        return dataDir;
    }

    /** The node's HTTP API over these services, as the node builds it, on embedded channels. */
    public EmbeddedHttp http() {
        if (http == null) {
            http = new EmbeddedHttp(HttpSurface.over(services).metrics(metrics)
                    .maxManifestBytes((int) config.maxManifestSize()).build());
        }
        return http;
    }

    /**
     * A channel to the node's gRPC services over these services, as the node builds them (with
     * their interceptors), on gRPC's in-process transport.
     */
    public ManagedChannel grpc() throws java.io.IOException {
        if (grpcChannel == null) {
            String name = "layercache-" + System.nanoTime();
            grpcPool = Executors.newCachedThreadPool();
            GrpcServices grpcServices = GrpcServices.over(services).metrics(metrics)
                    .maxManifestBytes((int) config.maxManifestSize()).build();
            grpcServer = grpcServices.addTo(InProcessServerBuilder.forName(name), grpcPool, grpcPool).build().start();
            grpcChannel = InProcessChannelBuilder.forName(name).build();
        }
        return grpcChannel;
    }
}
