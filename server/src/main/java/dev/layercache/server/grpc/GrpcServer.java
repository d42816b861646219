package dev.layercache.server.grpc;

import dev.layercache.server.concurrent.Transport;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.tls.ReloadingTls;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.netty.GrpcHttp2ConnectionHandler;
import io.grpc.netty.InternalNettyServerCredentials;
import io.grpc.netty.InternalProtocolNegotiator;
import io.grpc.netty.InternalProtocolNegotiators;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.ChannelHandler;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.util.AsciiString;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The native gRPC surface on Netty (the same event loops as HTTP), with standard health checking
 * ({@code grpc.health.v1}) and server reflection. Service methods never run on an event loop:
 * unary calls (lookups) run on the request pool, streaming calls (transfers) on the transfer pool
 * ({@link CallExecutors}), so that lookups do not queue behind the disk work of streams. With
 * TLS configured, the port speaks only TLS (and asks for client certificates when configured).
 */
public final class GrpcServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GrpcServer.class);

    /**
     * The largest message accepted: room for a 4 MiB batch of small blobs and its framing.
     * Larger messages are refused with RESOURCE_EXHAUSTED before they are buffered.
     */
    public static final int MAX_INBOUND_MESSAGE = 8 << 20;
    /** Bytes a client may send on one stream before the server has consumed them. */
    static final int FLOW_CONTROL_WINDOW = 8 << 20;

    private final Server server;
    private final HealthStatusManager health = new HealthStatusManager();

    public GrpcServer(String bindAddress, int port, Transport transport, Executor requests, Executor transfers,
                      List<BindableService> services, CacheMetrics metrics,
                      dev.layercache.server.auth.AccessControl access, dev.layercache.server.auth.RateLimits rates,
                      java.time.Duration idleTimeout, ReloadingTls tls) throws IOException {
        CallExecutors executors = new CallExecutors(requests, transfers);
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress(bindAddress, port),
                        composingReceivedBytes(tls))
                .channelType(transport.serverChannelType())
                .bossEventLoopGroup(transport.group())
                .workerEventLoopGroup(transport.group())
                .executor(executors.requests())
                .callExecutor(executors)
                .maxInboundMessageSize(MAX_INBOUND_MESSAGE)
                // A window of several messages keeps an upload streaming instead of stop-and-wait;
                // still bounded, so a client that sends faster than the disk takes is held back.
                .flowControlWindow(FLOW_CONTROL_WINDOW)
                .permitKeepAliveTime(10, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true)
                .maxConnectionIdle(Math.max(idleTimeout.toMillis(), 1000), TimeUnit.MILLISECONDS)
                .intercept(new AuthInterceptor(access, rates, executors))
                .intercept(new MetricsInterceptor(metrics))
                .intercept(ClientAddress.INTERCEPTOR) // added last, runs first: every later one sees the address
                .addService(health.getHealthService())
                .addService(ProtoReflectionServiceV1.newInstance());
        services.forEach(service -> builder.addService(MalformedMessages.guard(service.bindService())));
        server = builder.build().start();
        log.info("gRPC (native cache API) listening on {} ({})", server.getListenSockets(), tls == null ? "plaintext"
                : tls.requiresGrpcClientCertificates() ? "TLS, client certificates required" : "TLS");
    }

    /**
     * Plaintext or TLS (one context for the server's life; its key and trust managers follow the
     * files), with the HTTP/2 decoder composing the bytes it receives instead of merging them.
     * grpc-java keeps each DATA frame as a view of the decoder's buffer, so with Netty's default
     * every read that ended inside a frame (nearly all of an upload's) was copied, along with the
     * rest of the frame, into a new buffer: a second copy of every uploaded byte on the event
     * loop, and a stream of new buffers for the pool to allocate and free.
     */
    private static ServerCredentials composingReceivedBytes(ReloadingTls tls) {
        InternalProtocolNegotiator.ProtocolNegotiator negotiator = tls == null
                ? InternalProtocolNegotiators.serverPlaintext()
                : InternalProtocolNegotiators.serverTls(tls.grpcContext());
        return InternalNettyServerCredentials.create(new InternalProtocolNegotiator.ProtocolNegotiator() {
            @Override
            public AsciiString scheme() {
                return negotiator.scheme();
            }

            @Override
            public ChannelHandler newHandler(GrpcHttp2ConnectionHandler grpcHandler) {
                grpcHandler.setCumulator(ByteToMessageDecoder.COMPOSITE_CUMULATOR);
                return negotiator.newHandler(grpcHandler);
            }

            @Override
            public void close() {
                negotiator.close();
            }
        });
    }

    public int port() {
        return ((InetSocketAddress) server.getListenSockets().get(0)).getPort();
    }

    /** Health status for the whole server ("") and every service. */
    public void setServing(boolean serving) {
        if (serving) {
            health.setStatus("", io.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING);
        } else {
            health.enterTerminalState();
        }
    }

    /** Stops accepting calls; calls in progress continue. */
    public void stopAccepting() {
        setServing(false);
        server.shutdown();
    }

    /** Waits for calls in progress to end; returns true when they did. */
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
        return server.awaitTermination(timeout, unit);
    }

    /** Cancels the calls still in progress. */
    @Override
    public void close() {
        server.shutdownNow();
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
