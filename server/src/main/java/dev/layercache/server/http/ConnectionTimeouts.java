package dev.layercache.server.http;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpStatusClass;
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
 *   <li>while a request body is arriving, {@code read} may pass without a byte at most;
 *   <li>and the body must average {@code minRate} bytes per second once {@code read} has passed
 *       since it began (Apache's {@code mod_reqtimeout} MinRate): a body trickled a byte at a time
 *       resets the pause timer forever, and a few hundred of them would hold the node's upload
 *       buffers and files.
 * </ul>
 * An idle connection past its time is closed. A body past its time is answered 408 by the
 * dispatcher ({@link BodyTimedOut}), which rolls the request back, and then closed; a response
 * being written is never cut (downloads to a slow reader are flow-controlled, not timed out here).
 */
final class ConnectionTimeouts extends ChannelDuplexHandler {
    /** Why a request body was given up on; the dispatcher answers it with a 408. */
    record BodyTimedOut(String reason) {
    }

    /** After a body timed out, how long the answer may take before the connection is closed regardless. */
    private static final long ANSWER_NANOS = TimeUnit.SECONDS.toNanos(10);

    /** What happens at {@link #deadline}. */
    private enum Due {
        /** Nothing: a request is being answered. */
        NOTHING,
        /** The connection is idle between requests, or a timed-out body's answer is late: close it. */
        CLOSE,
        /** The body paused for longer than {@code read}. */
        BODY_PAUSED,
        /** The body fell below {@code minRate}. */
        BODY_SLOW
    }

    private final long idleNanos;
    private final long readNanos;
    private final long minBytesPerSecond;
    private Due due = Due.NOTHING;
    private long deadline;
    /**
     * The one scheduled task, due at {@link #timerAt}; it may be earlier than {@link #deadline}
     * (then it schedules itself again when it runs), never later. Moving a deadline is two field
     * writes, not a cancel and a schedule on the event loop's timer queue for every request and
     * every body chunk (Netty's {@code IdleStateHandler} does the same).
     */
    private ScheduledFuture<?> timer;
    private long timerAt;
    private boolean inBody;
    private int responsesPending;
    private long bodyStartNanos;
    private long bodyBytes;
    private long bodyArmedNanos;

    ConnectionTimeouts(Duration idle, Duration read, long minBytesPerSecond) {
        this.idleNanos = idle.toNanos();
        this.readNanos = read.toNanos();
        this.minBytesPerSecond = minBytesPerSecond;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        armIdle(ctx);
        super.channelActive(ctx);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (msg instanceof HttpRequest) {
            responsesPending++;
            inBody = !(msg instanceof LastHttpContent);
            due = Due.NOTHING;
            if (inBody) {
                bodyStartNanos = System.nanoTime();
                bodyBytes = 0;
                armBody(ctx);
            }
        }
        if (msg instanceof HttpContent content && inBody) {
            if (msg instanceof LastHttpContent) {
                inBody = false;
                due = Due.NOTHING;
            } else {
                bodyBytes += content.content().readableBytes();
                armBody(ctx);
            }
        }
        super.channelRead(ctx, msg);
    }

    /**
     * While a body arrives: the next byte is due within {@code read}, and the body as a whole by
     * its start plus {@code read} plus what it has sent at the minimum rate; whichever is sooner.
     */
    private void armBody(ChannelHandlerContext ctx) {
        long now = System.nanoTime();
        bodyArmedNanos = now;
        long pauseDeadline = now + readNanos;
        long rateDeadline = Long.MAX_VALUE;
        if (minBytesPerSecond > 0) {
            long earned = (long) Math.min(Long.MAX_VALUE / 4, bodyBytes * 1e9 / minBytesPerSecond);
            rateDeadline = bodyStartNanos + readNanos + earned;
        }
        boolean slow = rateDeadline < pauseDeadline;
        long at = Math.min(pauseDeadline, rateDeadline);
        if (at - now <= 0) {
            due = Due.NOTHING;
            bodyTimedOut(ctx, true);
            return;
        }
        dueAt(ctx, slow ? Due.BODY_SLOW : Due.BODY_PAUSED, at);
    }

    private void bodyTimedOut(ChannelHandlerContext ctx, boolean slow) {
        if (!inBody || !ctx.channel().isActive()) {
            return;
        }
        if (!ctx.channel().config().isAutoRead()) {
            // The node itself stopped reading (its disk is behind this upload): the client is not
            // the slow one. The wait does not count against it; look again later.
            bodyStartNanos += System.nanoTime() - bodyArmedNanos;
            armBody(ctx);
            return;
        }
        inBody = false;
        long seconds = Math.max(1, TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - bodyStartNanos));
        String reason = slow
                ? "request body arrived at " + (bodyBytes / seconds) + " bytes/s, below min-body-rate ("
                        + minBytesPerSecond + " bytes/s); the request was not applied"
                : "request body paused for longer than read-timeout (" + TimeUnit.NANOSECONDS.toSeconds(readNanos)
                        + "s) after " + bodyBytes + " bytes; the request was not applied";
        dueAt(ctx, Due.CLOSE, System.nanoTime() + ANSWER_NANOS);
        ctx.fireUserEventTriggered(new BodyTimedOut(reason));
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
        // A 1xx (100 Continue) ends no request: counting it would mark a pipelined request's
        // response as done, and the idle timer could close the connection in the middle of it.
        if (msg instanceof LastHttpContent && !(msg instanceof HttpResponse r
                && r.status().codeClass() == HttpStatusClass.INFORMATIONAL)) {
            promise = promise.unvoid();
            promise.addListener(f -> {
                responsesPending = Math.max(0, responsesPending - 1);
                if (responsesPending == 0 && !inBody && ctx.channel().isActive()) {
                    armIdle(ctx);
                }
            });
        }
        super.write(ctx, msg, promise);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        due = Due.NOTHING;
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
        super.channelInactive(ctx);
    }

    /** Between requests: the next request's headers are due within {@code idle}, or the connection closes. */
    private void armIdle(ChannelHandlerContext ctx) {
        if (idleNanos > 0) {
            dueAt(ctx, Due.CLOSE, System.nanoTime() + idleNanos);
        } else {
            due = Due.NOTHING;
        }
    }

    /** {@code what} happens at {@code at} (nanoTime) unless moved before; the timer runs no later than that. */
    private void dueAt(ChannelHandlerContext ctx, Due what, long at) {
        due = what;
        deadline = at;
        if (timer == null || timerAt - at > 0) {
            if (timer != null) {
                timer.cancel(false);
            }
            schedule(ctx, at);
        }
    }

    private void schedule(ChannelHandlerContext ctx, long at) {
        timerAt = at;
        timer = ctx.executor().schedule(() -> expired(ctx), Math.max(0, at - System.nanoTime()), TimeUnit.NANOSECONDS);
    }

    /** The timer ran: do what is due if its time has come, or wait on for a deadline moved later. */
    private void expired(ChannelHandlerContext ctx) {
        timer = null;
        if (due == Due.NOTHING || !ctx.channel().isActive()) {
            return;
        }
        if (deadline - System.nanoTime() > 0) {
            schedule(ctx, deadline);
            return;
        }
        Due what = due;
        due = Due.NOTHING;
        switch (what) {
            case CLOSE -> ctx.close(); // between requests nobody waits for an answer; or the answer is late
            case BODY_PAUSED -> bodyTimedOut(ctx, false);
            case BODY_SLOW -> bodyTimedOut(ctx, true);
            default -> {
            }
        }
    }
}
