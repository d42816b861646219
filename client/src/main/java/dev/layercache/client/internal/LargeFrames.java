package dev.layercache.client.internal;

import io.grpc.ChannelCredentials;
import io.grpc.netty.GrpcHttp2ConnectionHandler;
import io.grpc.netty.InternalNettyChannelCredentials;
import io.grpc.netty.InternalProtocolNegotiator;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerAdapter;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.util.AsciiString;

/**
 * Channel credentials that receive blob downloads (ReadBlob) with fewer passes per byte: the
 * server may send DATA frames of up to {@link #MAX_FRAME_SIZE} instead of HTTP/2's default 16
 * KiB, and the received bytes are composed, not merged, while a frame is incomplete.
 *
 * <p>Why: each frame costs a pass through the HTTP/2 codec, grpc's stream and flow-control
 * bookkeeping; a GiB in 16 KiB frames is 65,536 of them, in 256 KiB frames 4,096. grpc-java has no
 * setting for it, so the connection sends a second SETTINGS frame right after its preface (the
 * server's encoder cuts frames to the new size once it has it; our decoder accepts them once the
 * server acknowledged it, which HTTP/2 orders on the connection). Netty's default cumulator copies
 * every read that ends inside a frame, with the rest of the frame, into a new buffer: nearly every
 * read of a download, a second copy of each byte. grpc keeps each DATA frame as a view of the
 * decoder's buffer, so composing the reads is enough. The server does the same for uploads.
 * Flow control is unchanged: it counts bytes, not frames.
 */
public final class LargeFrames extends ChannelInboundHandlerAdapter {
    /** At a GB/s, the longest a lookup on the same connection waits behind a blob's frame: 0.25 ms. */
    public static final int MAX_FRAME_SIZE = 256 << 10;

    private LargeFrames() {
    }

    /** {@code credentials} (plaintext or TLS, grpc-netty's) with large frames and composed reads. */
    public static ChannelCredentials of(ChannelCredentials credentials) {
        InternalProtocolNegotiator.ClientFactory factory = InternalNettyChannelCredentials.toNegotiator(credentials);
        return InternalNettyChannelCredentials.create(new InternalProtocolNegotiator.ClientFactory() {
            @Override
            public InternalProtocolNegotiator.ProtocolNegotiator newNegotiator() {
                return negotiator(factory.newNegotiator());
            }

            @Override
            public int getDefaultPort() {
                return factory.getDefaultPort();
            }
        });
    }

    private static InternalProtocolNegotiator.ProtocolNegotiator negotiator(
            io.grpc.netty.InternalProtocolNegotiator.ProtocolNegotiator negotiator) {
        return new InternalProtocolNegotiator.ProtocolNegotiator() {
            @Override
            public AsciiString scheme() {
                return negotiator.scheme();
            }

            @Override
            public ChannelHandler newHandler(GrpcHttp2ConnectionHandler grpcHandler) {
                grpcHandler.setCumulator(ByteToMessageDecoder.COMPOSITE_CUMULATOR);
                ChannelHandler negotiation = negotiator.newHandler(grpcHandler);
                return new ChannelHandlerAdapter() {
                    @Override
                    public void handlerAdded(ChannelHandlerContext ctx) {
                        ctx.pipeline().addAfter(ctx.name(), null, negotiation);
                        ctx.pipeline().replace(this, null, new LargeFrames());
                    }
                };
            }

            @Override
            public void close() {
                negotiator.close();
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
