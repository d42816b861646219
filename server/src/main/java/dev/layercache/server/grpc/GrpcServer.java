package dev.layercache.server.grpc;

import dev.layercache.server.concurrent.Transport;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.node.ListenAddresses;
import dev.layercache.server.tls.ReloadingTls;
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
import java.time.Duration;
import java.util.Objects;
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

    /**
     * Settings of the gRPC port; build them with {@link #builder()} or take them from the node's
     * configuration ({@link #of}).
     *
     * @param idleTimeout a connection without calls for this long is closed (at least a second)
     * @param tls         the certificate in use, or null for plaintext
     */
    public record Options(String bindAddress, int port, Duration idleTimeout, ReloadingTls tls) {
        public Options {
            Objects.requireNonNull(bindAddress, "bindAddress");
            Objects.requireNonNull(idleTimeout, "idleTimeout");
        }

        /** The gRPC settings of a node's configuration, with {@code tls} opened from its files (or null). */
        public static Options of(ServerConfig config, ReloadingTls tls) {
            return builder().bind(config.bindAddress(), config.grpcPort()).idleTimeout(config.limits().idleTimeout())
                    .tls(tls).build();
        }

        /** Loopback on a free port, plaintext, the configuration's default idle timeout. */
        public static Builder builder() {
            return new Builder();
        }

        /** Builds {@link Options}. */
        public static final class Builder {
            private String bindAddress = "127.0.0.1";
            private int port;
            private Duration idleTimeout = ServerConfig.Limits.DEFAULT.idleTimeout();
            private ReloadingTls tls;

            private Builder() {
            }

            /** The address and port to listen on (0: any free port). */
            public Builder bind(String address, int port) {
                this.bindAddress = address;
                this.port = port;
                return this;
            }

            public Builder idleTimeout(Duration idle) {
                this.idleTimeout = idle;
                return this;
            }

            /** TLS with this certificate; null for plaintext. */
            public Builder tls(ReloadingTls tls) {
                this.tls = tls;
                return this;
            }

            public Options build() {
                return new Options(bindAddress, port, idleTimeout, tls);
            }
        }
    }

    /**
     * Listens on {@code options}' address and serves {@code services}, with standard health
     * checking and reflection, on the event loops of {@code transport}.
     *
     * @param requests  runs unary calls (lookups)
     * @param transfers runs streaming calls (blob transfers)
     */
    public GrpcServer(Options options, GrpcServices services, Transport transport, Executor requests,
                      Executor transfers) throws IOException {
        ReloadingTls tls = options.tls();
        NettyServerBuilder builder = NettyServerBuilder.forAddress(
                        new InetSocketAddress(options.bindAddress(), options.port()), composingReceivedBytes(tls))
                .channelType(transport.serverChannelType())
                .bossEventLoopGroup(transport.group())
                .workerEventLoopGroup(transport.group())
                .maxInboundMessageSize(MAX_INBOUND_MESSAGE)
                // A window of several messages keeps an upload streaming instead of stop-and-wait;
                // still bounded, so a client that sends faster than the disk takes is held back.
                .flowControlWindow(FLOW_CONTROL_WINDOW)
                .permitKeepAliveTime(10, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true)
                .maxConnectionIdle(Math.max(options.idleTimeout().toMillis(), 1000), TimeUnit.MILLISECONDS)
                .addService(health.getHealthService())
                .addService(ProtoReflectionServiceV1.newInstance());
        server = services.addTo(builder, requests, transfers).build().start();
        log.info("gRPC (native cache API) listening on {} ({})",
                ListenAddresses.format(options.bindAddress(), port()), tls == null ? "plaintext"
                : tls.requiresGrpcClientCertificates() ? "TLS, client certificates required" : "TLS");
    }

    /**
     * Plaintext or TLS (one context for the server's life; its key and trust managers follow the
     * files), taking DATA frames larger than HTTP/2's default ({@link LargeFrames}), with the
     * HTTP/2 decoder composing the bytes it receives instead of merging them.
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
                return LargeFrames.before(negotiator.newHandler(grpcHandler));
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
