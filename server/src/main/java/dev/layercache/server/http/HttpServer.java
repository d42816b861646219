package dev.layercache.server.http;

import dev.layercache.server.concurrent.Transport;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.tls.ReloadingTls;
import dev.layercache.server.node.ListenAddresses;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.WriteBufferWaterMark;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The OCI Distribution surface: a Netty HTTP/1.1 server on the native epoll transport where it is
 * available (NIO otherwise), serving an {@link HttpSurface} built beforehand. Event loops only
 * parse and write; credentials are checked and handlers run on the request pool, uploads on the
 * transfer pool (see {@link HttpDispatcher}).
 */
public final class HttpServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HttpServer.class);
    /**
     * Reads that grow to 1 MiB while an upload body fills them, instead of Netty's 64 KiB: each
     * read costs a system call, a pass through the pipeline, a buffer and a hand-off to the
     * upload's thread whatever its size. At 64 KiB the receiving side took over a third of a big
     * upload's CPU, more than the SHA-256; at 1 MiB it took 40% less, about 0.3 CPU-s per GiB
     * saved (issue 24, {@code loadtest/results/profiles/upload-monolithic-*.html}). Small
     * requests never fill a read, so they keep Netty's small first guess. Upload bytes waiting
     * for the disk stay bounded by the dispatcher's high-water mark, which turns reading off.
     */
    static final AdaptiveRecvByteBufAllocator UPLOAD_READS = new AdaptiveRecvByteBufAllocator(64, 2048, 1 << 20);


    /**
     * Settings of the HTTP port and its connections; build them with {@link #builder()} or take
     * them from the node's configuration ({@link #of}).
     *
     * @param maxHeaderBytes largest request header block (431 beyond)
     * @param idleTimeout    a connection must send a complete request header within this long
     * @param readTimeout    a request body may pause at most this long
     * @param minBodyRate    bytes per second a body must average once {@code readTimeout} has passed; 0 for none
     * @param tls            the certificate in use, or null for plain HTTP
     * @param sendfile       blob bodies through {@code sendfile(2)} on a plain connection
     */
    public record Options(String bindAddress, int port, int maxHeaderBytes, Duration idleTimeout,
                          Duration readTimeout, long minBodyRate, ReloadingTls tls, boolean sendfile) {
        public Options {
            Objects.requireNonNull(bindAddress, "bindAddress");
            Objects.requireNonNull(idleTimeout, "idleTimeout");
            Objects.requireNonNull(readTimeout, "readTimeout");
        }

        /** The HTTP settings of a node's configuration, with {@code tls} opened from its files (or null). */
        public static Options of(ServerConfig config, ReloadingTls tls) {
            return builder()
                    .bind(config.bindAddress(), config.httpPort())
                    .maxHeaderBytes((int) config.maxHeaderSize())
                    .timeouts(config.limits().idleTimeout(), config.limits().readTimeout())
                    .minBodyRate(config.limits().minBodyRate())
                    .tls(tls)
                    .sendfile(config.httpDownloads() == ServerConfig.HttpDownloads.SENDFILE)
                    .build();
        }

        /** Loopback on a free port, plain, the configuration's defaults for the rest. */
        public static Builder builder() {
            return new Builder();
        }

        /** Builds {@link Options}; every setting starts at the configuration's default. */
        public static final class Builder {
            private String bindAddress = "127.0.0.1";
            private int port;
            private int maxHeaderBytes = 16 << 10;
            private Duration idleTimeout = ServerConfig.Limits.DEFAULT.idleTimeout();
            private Duration readTimeout = ServerConfig.Limits.DEFAULT.readTimeout();
            private long minBodyRate = ServerConfig.Limits.DEFAULT_MIN_BODY_RATE;
            private ReloadingTls tls;
            private boolean sendfile;

            private Builder() {
            }

            /** The address and port to listen on (0: any free port). */
            public Builder bind(String address, int port) {
                this.bindAddress = address;
                this.port = port;
                return this;
            }

            public Builder maxHeaderBytes(int bytes) {
                this.maxHeaderBytes = bytes;
                return this;
            }

            /** How long a connection may wait for a request header, and a body may pause. */
            public Builder timeouts(Duration idle, Duration read) {
                this.idleTimeout = idle;
                this.readTimeout = read;
                return this;
            }

            public Builder minBodyRate(long bytesPerSecond) {
                this.minBodyRate = bytesPerSecond;
                return this;
            }

            /** HTTPS with this certificate; null for plain HTTP. */
            public Builder tls(ReloadingTls tls) {
                this.tls = tls;
                return this;
            }

            public Builder sendfile(boolean sendfile) {
                this.sendfile = sendfile;
                return this;
            }

            public Options build() {
                return new Options(bindAddress, port, maxHeaderBytes, idleTimeout, readTimeout, minBodyRate, tls,
                        sendfile);
            }
        }
    }

    private final Channel serverChannel;
    private final HttpSurface surface;

    /**
     * Listens on {@code options}' address and serves {@code surface} on every connection, on the
     * event loops of {@code transport}.
     *
     * @param requests  runs the work of requests without a streamed body (lookups, manifests...)
     * @param transfers runs the work of uploads, whose bodies go to disk as they arrive
     */
    public HttpServer(Options options, HttpSurface surface, Transport transport, Executor requests,
                      Executor transfers) throws InterruptedException {
        this.surface = surface;
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(transport.group())
                .channel(transport.serverChannelType())
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                // Netty 4.2's default adaptive allocator makes a new, zeroed direct chunk for the
                // reads of a big upload (their buffers wait for the file writer) and frees it
                // after: a tenth of an upload's CPU. The pooled allocator keeps its chunks.
                .childOption(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                .childOption(ChannelOption.RCVBUF_ALLOCATOR, UPLOAD_READS)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 << 10, 1 << 20))
                .childHandler(new HttpPipeline(options, surface, requests, transfers));
        serverChannel = bootstrap.bind(new InetSocketAddress(options.bindAddress(), options.port())).sync().channel();
        log.info("HTTP (OCI Distribution) listening on {} ({}, {} transport, {} event loops shared with gRPC)",
                ListenAddresses.format(options.bindAddress(), port()),
                options.tls() != null ? "HTTPS" : "plain HTTP", transport.name(), transport.loops());
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
        while (surface.requestsInProgress() > 0) {
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
