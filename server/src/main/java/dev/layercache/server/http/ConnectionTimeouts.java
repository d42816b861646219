package dev.layercache.server.http;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Keeps slow or idle clients from holding connections forever (slow-loris), one timer per
 * connection, on its event loop:
 * <ul>
 *   <li>between requests, the next request's headers must be complete within {@code idle}
 *       after the connection opened or the last response ended; bytes that trickle in do not
 *       reset it, since only a complete header block does;
 *   <li>while a request body is arriving, {@code read} may pass without a byte at most.
 * </ul>
 * A connection past {@code idle} is closed. A body past {@code read} is reported to the handlers
 * after this one as {@link BodyStalled}, so that the client is told (408) before the connection
 * closes. A response being written is never cut (downloads to a slow reader are flow-controlled,
 * not timed out here).
 */
final class ConnectionTimeouts extends ChannelDuplexHandler {
    /** The user event fired when a request body stalls: answer it, then close the connection. */
    record BodyStalled(Duration after) {
    }

    private final long idleNanos;
    private final long readNanos;
    private ScheduledFuture<?> timer;
    private boolean inBody;
    private int responsesPending;

    ConnectionTimeouts(Duration idle, Duration read) {
        this.idleNanos = idle.toNanos();
        this.readNanos = read.toNanos();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        arm(ctx, idleNanos);
        super.channelActive(ctx);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (msg instanceof HttpRequest) {
            responsesPending++;
            inBody = !(msg instanceof LastHttpContent);
            disarm();
            if (inBody) {
                arm(ctx, readNanos);
            }
        }
        if (msg instanceof HttpContent && inBody) {
            if (msg instanceof LastHttpContent) {
                inBody = false;
                disarm();
            } else {
                arm(ctx, readNanos);
            }
        }
        super.channelRead(ctx, msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
        if (msg instanceof LastHttpContent) {
            promise = promise.unvoid();
            promise.addListener(f -> {
                responsesPending = Math.max(0, responsesPending - 1);
                if (responsesPending == 0 && !inBody && ctx.channel().isActive()) {
                    arm(ctx, idleNanos);
                }
            });
        }
        super.write(ctx, msg, promise);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        disarm();
        super.channelInactive(ctx);
    }

    private void arm(ChannelHandlerContext ctx, long nanos) {
        disarm();
        if (nanos > 0) {
            timer = ctx.executor().schedule(() -> {
                if (inBody) {
                    ctx.fireUserEventTriggered(new BodyStalled(Duration.ofNanos(readNanos)));
                } else {
                    ctx.close();
                }
            }, nanos, TimeUnit.NANOSECONDS);
        }
    }

    private void disarm() {
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }
}
