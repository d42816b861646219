package dev.layercache.server.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Answers a TLS handshake on the plain-HTTP port with a plain {@code HTTP/1.0 400}, then closes.
 *
 * <p>Go's crypto/tls, on a first record that starts with {@code HTTP/}, fails the handshake with
 * a record-header error that net/http turns into "server gave HTTP response to HTTPS client":
 * so skopeo, buildah and containerd without {@code --tls-verify=false} say at once that the port
 * speaks plain HTTP, where closing the connection made them retry for seconds and print
 * {@code EOF}. With {@code --tls-verify=false} they fall back to plain HTTP on any failure of the
 * {@code https://} attempt, this one included, just as fast.
 */
final class TlsProbeGuard extends ByteToMessageDecoder {
    /** The TLS record type of a handshake message; no HTTP method starts with this byte. */
    private static final int TLS_HANDSHAKE = 0x16;

    /** How long the peer has to read the answer and close before this side closes anyway. */
    private static final long LINGER_SECONDS = 5;

    static final String BODY = "This port speaks plain HTTP, not HTTPS: use http://, or --tls-verify=false with"
            + " skopeo, buildah and podman (an insecure registry for docker and containerd).\n";

    private static final byte[] ANSWER = ("HTTP/1.0 400 Bad Request\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\n"
            + "Content-Length: " + BODY.length() + "\r\n"
            + "Connection: close\r\n\r\n" + BODY).getBytes(StandardCharsets.US_ASCII);

    private boolean answered;

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (!in.isReadable()) {
            return;
        }
        if (answered) {
            in.skipBytes(in.readableBytes()); // the rest of the handshake: read so that closing sends no reset
            return;
        }
        if (in.getUnsignedByte(in.readerIndex()) == TLS_HANDSHAKE) {
            answered = true;
            in.skipBytes(in.readableBytes());
            // Half-close after the answer rather than close: closing with the ClientHello's
            // unread bytes in the socket would send a reset, which can destroy the answer
            // before the client reads it. The client closes once it has read it.
            ctx.writeAndFlush(Unpooled.wrappedBuffer(ANSWER)).addListener((ChannelFutureListener) f -> {
                if (f.channel() instanceof DuplexChannel d) {
                    d.shutdownOutput();
                } else {
                    f.channel().close();
                }
            });
            ctx.executor().schedule(() -> ctx.close(), LINGER_SECONDS, TimeUnit.SECONDS);
            return;
        }
        ctx.pipeline().remove(this);
    }
}
