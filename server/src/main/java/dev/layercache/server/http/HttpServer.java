package dev.layercache.server.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.concurrent.Transport;
import dev.layercache.server.lifecycle.Lifecycle;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.registry.ManifestService;
import dev.layercache.server.registry.UploadService;
import dev.layercache.server.tls.ReloadingTls;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerExpectContinueHandler;
import io.netty.handler.stream.ChunkedWriteHandler;
import java.net.InetSocketAddress;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The OCI Distribution surface: a Netty HTTP/1.1 server on the native epoll transport where it is
 * available (NIO otherwise). Event loops only parse and write; credentials are checked and
 * handlers run on the request pool, uploads on the transfer pool (see {@link HttpDispatcher}).
 */
public final class HttpServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HttpServer.class);
    /**
     * Requests the codec may decode ahead of their responses. Reading pauses while a response is
     * pending, so this only bounds what one socket read can carry (small pipelined GETs).
     */
    private static final int MAX_PIPELINED = 8192;

    /** Settings of the HTTP surface; {@code tls} is null for plain HTTP. */
    public record Options(String bindAddress, int port, int maxManifestBytes, int maxHeaderBytes,
                          dev.layercache.server.auth.AccessControl access, dev.layercache.server.auth.RateLimits rates,
                          java.time.Duration idleTimeout, java.time.Duration readTimeout, long minBodyRate,
                          ReloadingTls tls, boolean sendfile) {
    }

    private final Channel serverChannel;
    private final AtomicInteger activeExchanges = new AtomicInteger();

    public HttpServer(Options options, Transport transport, BlobService blobs, UploadService uploads,
                      ManifestService manifests, ObjectMapper json, Executor requests, Executor transfers,
                      BooleanSupplier ready,
                      CacheMetrics metrics, Lifecycle lifecycle, RequestListener listener,
                      dev.layercache.server.analysis.AnalysisService analysis)
            throws InterruptedException {

        Routes routes = new Routes(blobs, uploads, manifests, json, ready, options.maxManifestBytes(), metrics,
                lifecycle, options.access(), analysis);
        HttpSurface surface = new HttpSurface(routes, new ErrorMapper(json), listener, activeExchanges,
                new HttpAccess(options.access(), options.rates()));
        ReloadingTls tls = options.tls();
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(transport.group())
                .channel(transport.serverChannelType())
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                // Netty 4.2's default adaptive allocator makes a new, zeroed direct chunk for the
                // reads of a big upload (their buffers wait for the file writer) and frees it
                // after: a tenth of an upload's CPU. The pooled allocator keeps its chunks.
                .childOption(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 << 10, 1 << 20))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        if (tls != null) {
                            // The handshake picks the newest certificate (ReloadingTls).
                            ch.pipeline().addLast("tls", tls.httpContext().newHandler(ch.alloc()));
                        } else {
                            ch.pipeline().addLast("tls-probe", new TlsProbeGuard());
                        }
                        ch.pipeline()
                                .addLast("codec", new HttpServerCodec(new HttpDecoderConfig()
                                        .setMaxInitialLineLength(8192)
                                        .setMaxHeaderSize(options.maxHeaderBytes())
                                        .setMaxChunkSize(1 << 20), MAX_PIPELINED))
                                .addLast("timeouts", new ConnectionTimeouts(options.idleTimeout(), options.readTimeout(),
                                        options.minBodyRate()))
                                .addLast("continue", new HttpServerExpectContinueHandler());
                        // Files go out as chunks read into buffers, unless sendfile(2) is asked for and
                        // the connection is plain: sendfile cannot encrypt.
                        boolean sendfile = options.sendfile() && tls == null;
                        if (!sendfile) {
                            ch.pipeline().addLast("chunked", new ChunkedWriteHandler());
                        }
                        ch.pipeline().addLast("dispatch", new HttpDispatcher(surface, requests, transfers,
                                sendfile ? HttpDispatcher.FileBodies.SENDFILE
                                        : tls != null ? HttpDispatcher.FileBodies.TLS : HttpDispatcher.FileBodies.COPY));
                    }
                });
        serverChannel = bootstrap.bind(new InetSocketAddress(options.bindAddress(), options.port())).sync().channel();
        log.info("HTTP (OCI Distribution) listening on {} ({}, {} transport)", serverChannel.localAddress(),
                tls != null ? "HTTPS" : "plain HTTP", transport.name());
    }

    /** The bound port (useful when configured as 0). */
    public int port() {
        return ((InetSocketAddress) serverChannel.localAddress()).getPort();
    }

    /** Stops accepting connections; requests already received continue. */
    public void stopAccepting() {
        serverChannel.close().awaitUninterruptibly();
    }

    /** Waits until no request is in progress or the time is up; returns true when idle. */
    public boolean awaitIdle(long timeout, TimeUnit unit) throws InterruptedException {
        long deadline = System.nanoTime() + unit.toNanos(timeout);
        while (activeExchanges.get() > 0) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }

    /** Stops accepting; connections close when the shared transport shuts down. */
    @Override
    public void close() {
        serverChannel.close().awaitUninterruptibly();
    }
}
