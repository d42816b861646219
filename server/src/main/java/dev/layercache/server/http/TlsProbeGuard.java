package dev.layercache.server.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Closes a plain-HTTP connection whose first byte opens a TLS handshake. skopeo, buildah and
 * containerd with {@code --tls-verify=false} try {@code https://} first on the plain port; closing
 * at once lets them fall back to plain HTTP immediately instead of waiting for a timeout.
 */
final class TlsProbeGuard extends ByteToMessageDecoder {
    /** The TLS record type of a handshake message; no HTTP method starts with this byte. */
    private static final int TLS_HANDSHAKE = 0x16;

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (!in.isReadable()) {
            return;
        }
        if (in.getUnsignedByte(in.readerIndex()) == TLS_HANDSHAKE) {
            in.skipBytes(in.readableBytes());
            ctx.close();
            return;
        }
        ctx.pipeline().remove(this);
    }
}
