package dev.layercache.server.grpc;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerAdapter;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2Settings;

/**
 * Lets the client send DATA frames of up to {@link #MAX_FRAME_SIZE} on a gRPC connection instead
 * of HTTP/2's default 16 KiB.
 *
 * <p>Why: every frame costs a pass through the HTTP/2 codec, grpc's stream and flow-control
 * bookkeeping, and one more piece for its message reader to walk. With 16 KiB frames a GiB
 * uploaded is 65,536 frames; with 256 KiB, 4,096. grpc-java has no setting for it, so the
 * connection sends a second SETTINGS frame right after its preface; the peer's encoder (Netty's,
 * grpc-java's) then cuts frames to the new size, and our decoder accepts them once the peer has
 * acknowledged the setting (HTTP/2 orders the two on the connection). Larger frames would hold
 * other streams of the connection (lookups) behind a blob's frame for longer: 256 KiB is a
 * quarter of a millisecond at a GB/s. Flow control is unchanged: it counts bytes, not frames.
 */
final class LargeFrames extends ChannelInboundHandlerAdapter {
    static final int MAX_FRAME_SIZE = 256 << 10;

    private LargeFrames() {
    }

    /**
     * {@code negotiation} (the handler grpc-java installs to negotiate a connection and then puts
     * its HTTP/2 handler in place) preceded by the handler that raises the frame size once the
     * HTTP/2 handler is there.
     */
    static ChannelHandler before(ChannelHandler negotiation) {
        return new ChannelHandlerAdapter() {
            @Override
            public void handlerAdded(ChannelHandlerContext ctx) {
                ctx.pipeline().addAfter(ctx.name(), null, negotiation);
                ctx.pipeline().replace(this, null, new LargeFrames());
            }
        };
    }

    /**
     * The first bytes read after the HTTP/2 handler took over (it sent its preface when it was
     * added) are the moment to send the setting; with TLS, reads before that are the handshake.
     */
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ctx.fireChannelRead(msg);
        Http2ConnectionHandler http2 = ctx.pipeline().get(Http2ConnectionHandler.class);
        if (http2 != null && ctx.channel().isActive()) {
            ChannelHandlerContext at = ctx.pipeline().context(http2);
            http2.encoder().writeSettings(at, new Http2Settings().maxFrameSize(MAX_FRAME_SIZE), at.newPromise());
            at.flush();
            ctx.pipeline().remove(this);
        }
    }
}
