package dev.layercache.server.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.DefaultFileRegion;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.stream.ChunkedNioFile;
import io.netty.handler.stream.ChunkedWriteHandler;
import java.io.IOException;

/**
 * Turns a {@link Response} into Netty's HTTP messages on a connection: no body for {@code HEAD},
 * a buffer in one message, a file streamed as {@link FileBodies} says, or a blob sent on as the
 * mirror fetches it ({@link LiveBlobInput}). It writes; what happens
 * to the connection afterwards is {@link HttpDispatcher}'s to decide.
 */
final class ResponseWriter {
    /**
     * How a file body is written: read into pooled buffers of {@code chunk} bytes (plain, or
     * through the TLS engine, whose records are 16 KiB anyway), or handed to {@code sendfile(2)}.
     * On loopback, 256 KiB buffers measured faster than sendfile, at less CPU (BENCHMARKS.md).
     */
    enum FileBodies {
        COPY(256 << 10), TLS(64 << 10), SENDFILE(0);

        final int chunk;

        FileBodies(int chunk) {
            this.chunk = chunk;
        }
    }

    private final FileBodies fileBodies;

    ResponseWriter(FileBodies fileBodies) {
        this.fileBodies = fileBodies;
    }

    /**
     * On the event loop: writes {@code response} for {@code ex}, recording its status and sizes in
     * the exchange, with {@code Connection: close} when {@code close}.
     *
     * @return the future of the last write, or null when the file to send could not be opened
     *     (the response is discarded; the caller closes the connection)
     */
    ChannelFuture write(ChannelHandlerContext ctx, Exchange ex, Response response, boolean close) {
        ex.status = response.status().code();
        String length = response.headers().get(HttpHeaderNames.CONTENT_LENGTH);
        if (length != null) {
            try {
                ex.declaredLength = Long.parseLong(length);
            } catch (NumberFormatException ignored) {
                // left unknown
            }
        }
        DefaultHttpHeaders headers = new DefaultHttpHeaders(false);
        headers.set(Headers.API_VERSION, "registry/2.0");
        headers.add(response.headers());
        if (close) {
            headers.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        } else if (ex.http10) {
            // HTTP/1.0 closes after each response unless the server says otherwise (ab -k).
            headers.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        }
        ByteBuf body = response.body();
        if (ex.request.isHead() || (body == null && response.file() == null && response.live() == null)) {
            response.discard();
            return ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, response.status(),
                    Unpooled.EMPTY_BUFFER, headers, new DefaultHttpHeaders(false)));
        }
        if (body != null) {
            ex.bytesSent = body.readableBytes();
            return ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, response.status(), body,
                    headers, new DefaultHttpHeaders(false)));
        }
        if (response.live() != null) {
            return writeLive(ctx, ex, response, headers);
        }
        ex.bytesSent = response.fileLength();
        ctx.write(new DefaultHttpResponse(HttpVersion.HTTP_1_1, response.status(), headers));
        if (fileBodies == FileBodies.SENDFILE) {
            // sendfile(2): the bytes go from page cache to socket without entering the JVM.
            ctx.write(new DefaultFileRegion(response.file(), response.filePosition(), response.fileLength()));
        } else {
            try {
                ctx.write(new ChunkedNioFile(response.file(), response.filePosition(), response.fileLength(),
                        fileBodies.chunk));
            } catch (IOException e) {
                response.discard();
                return null;
            }
        }
        return ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
    }

    /**
     * A blob read as the mirror fetches it: chunks as they arrive. A fetch that fails cuts the
     * body short and closes the connection, which tells the client the body is not whole (its
     * length was promised in the headers).
     */
    private ChannelFuture writeLive(ChannelHandlerContext ctx, Exchange ex, Response response,
                                    DefaultHttpHeaders headers) {
        ex.bytesSent = response.live().length();
        ChunkedWriteHandler chunks = ctx.pipeline().get(ChunkedWriteHandler.class);
        if (chunks == null) {
            // A sendfile(2) pipeline has none: the first live body on the connection adds it.
            chunks = new ChunkedWriteHandler();
            ctx.pipeline().addBefore(ctx.name(), "chunked", chunks);
        }
        // Flushed at once: a fetch that fails before the first chunk must still leave the client
        // the status and the promised length it falls short of (a failed chunk flushes nothing).
        ctx.writeAndFlush(new DefaultHttpResponse(HttpVersion.HTTP_1_1, response.status(), headers));
        ChunkedWriteHandler resumable = chunks;
        LiveBlobInput input = new LiveBlobInput(response.live(), fileBodies.chunk > 0 ? fileBodies.chunk
                : FileBodies.COPY.chunk, resumable::resumeTransfer);
        ctx.write(input).addListener((ChannelFutureListener) f -> {
            if (!f.isSuccess()) {
                f.channel().close();
            }
        });
        return ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
    }
}
