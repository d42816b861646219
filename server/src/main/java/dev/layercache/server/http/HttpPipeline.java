package dev.layercache.server.http;

import dev.layercache.server.tls.ReloadingTls;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerExpectContinueHandler;
import io.netty.handler.stream.ChunkedWriteHandler;
import java.util.Objects;
import java.util.concurrent.Executor;

/**
 * The handlers of one HTTP connection, in order: TLS (or the guard against TLS on the plain
 * port), the HTTP/1.1 codec, the connection's timeouts, {@code 100 Continue}, the writer of
 * chunked file bodies where {@code sendfile(2)} is not used, and the {@link HttpDispatcher}
 * serving an {@link HttpSurface}. {@link HttpServer} installs it on every accepted socket; a test
 * installs the same on an {@code EmbeddedChannel}, with executors of its own.
 */
public final class HttpPipeline extends ChannelInitializer<Channel> {
    /**
     * Requests the codec may decode ahead of their responses. Reading pauses while a response is
     * pending, so this only bounds what one socket read can carry (small pipelined GETs).
     */
    private static final int MAX_PIPELINED = 8192;

    private final HttpServer.Options options;
    private final HttpSurface surface;
    private final Executor requests;
    private final Executor transfers;

    /**
     * @param requests  runs the work of requests without a streamed body (lookups, manifests...)
     * @param transfers runs the work of uploads, whose bodies go to disk as they arrive
     */
    public HttpPipeline(HttpServer.Options options, HttpSurface surface, Executor requests, Executor transfers) {
        this.options = Objects.requireNonNull(options, "options");
        this.surface = Objects.requireNonNull(surface, "surface");
        this.requests = Objects.requireNonNull(requests, "requests");
        this.transfers = Objects.requireNonNull(transfers, "transfers");
    }

    @Override
    protected void initChannel(Channel ch) {
        ChannelPipeline pipeline = ch.pipeline();
        ReloadingTls tls = options.tls();
        if (tls != null) {
            // The handshake picks the newest certificate (ReloadingTls).
            pipeline.addLast("tls", tls.httpContext().newHandler(ch.alloc()));
        } else {
            pipeline.addLast("tls-probe", new TlsProbeGuard());
        }
        pipeline.addLast("codec", new HttpServerCodec(new HttpDecoderConfig()
                        .setMaxInitialLineLength(8192)
                        .setMaxHeaderSize(options.maxHeaderBytes())
                        .setMaxChunkSize(1 << 20), MAX_PIPELINED))
                .addLast("timeouts", new ConnectionTimeouts(options.idleTimeout(), options.readTimeout(),
                        options.minBodyRate()))
                .addLast("continue", new HttpServerExpectContinueHandler());
        // Files go out as chunks read into buffers, unless sendfile(2) is asked for and the
        // connection is plain: sendfile cannot encrypt.
        boolean sendfile = options.sendfile() && tls == null;
        if (!sendfile) {
            pipeline.addLast("chunked", new ChunkedWriteHandler());
        }
        pipeline.addLast("dispatch", new HttpDispatcher(surface, requests, transfers,
                sendfile ? ResponseWriter.FileBodies.SENDFILE
                        : tls != null ? ResponseWriter.FileBodies.TLS : ResponseWriter.FileBodies.COPY));
    }
}
