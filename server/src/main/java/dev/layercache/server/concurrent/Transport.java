package dev.layercache.server.concurrent;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.concurrent.TimeUnit;

/**
 * The event loops both surfaces share: native epoll where the platform has it, NIO otherwise.
 * They parse and write bytes; all blocking work runs elsewhere.
 *
 * <p>{@link #LOOPS_PER_CORE} loops per core, not one: a connection stays on one loop for its life,
 * and a loop that also carries a transfer's connections spends milliseconds at a time copying its
 * gigabytes to and from the socket, while a lookup that arrived on the same loop waits in line.
 * Loops of their own let the kernel's scheduler run the lookup's loop as soon as it wakes, which it
 * cannot do for work queued inside one thread. Measured with {@code loadtest/event-loops.sh}
 * (BENCHMARKS.md, "GetEntry while 4 clients move 1 GiB blobs"): with one loop per core, lookups
 * during transfers took about 1.5 times as long at the p99 as with four and three times as long
 * at the median, while the transfers moved as much. The same holds for the OCI surface
 * ({@code loadtest/head-under-load.sh}, BENCHMARKS.md "HEAD while blobs move"): while blobs
 * moved, a blob's {@code HEAD} was answered 2.1 to 2.8 times as often with four loops per core
 * as with one, at under half the p99. The price is paid on a quiet node: more loops mean more
 * wake-ups, and its {@code HEAD}s cost about a fifth more CPU than with one loop per core. The
 * setting {@code event-loops} sets the number for a node whose clients seldom move blobs while
 * others look up: one loop per core brought a quiet node's {@code HEAD}s near issue 24's target
 * (0.80-0.96 of nginx's rate, against 0.69-0.85 with the default).
 */
public final class Transport implements AutoCloseable {
    /** Event loops per core (see the class comment). */
    static final int LOOPS_PER_CORE = 4;
    /**
     * At most this many loops by default: on a machine with many cores a lookup's connection
     * rarely shares a loop with a transfer's anyway, and each loop is a thread with its own
     * buffer caches.
     */
    static final int MAX_LOOPS = 64;

    private final boolean epoll = Epoll.isAvailable();
    private final EventLoopGroup group;

    private final int loops;

    /**
     * @param loops the number of event loops (setting {@code event-loops}); 0 for the default,
     *              {@link #LOOPS_PER_CORE} per core, at most {@link #MAX_LOOPS}
     */
    public Transport(int loops) {
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        this.loops = loops > 0 ? loops : defaultLoops(Runtime.getRuntime().availableProcessors());
        // Named for thread dumps and top(1): "layercache-loop-1-3" is the third loop.
        group = new MultiThreadIoEventLoopGroup(this.loops, new DefaultThreadFactory("layercache-loop"), io);
    }

    /** The default number of event loops on a machine of {@code cores} cores. */
    static int defaultLoops(int cores) {
        return Math.min(MAX_LOOPS, LOOPS_PER_CORE * Math.max(1, cores));
    }

    /** How many event loops serve both ports. */
    public int loops() {
        return loops;
    }

    public EventLoopGroup group() {
        return group;
    }

    public Class<? extends ServerChannel> serverChannelType() {
        return epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    }

    public String name() {
        return epoll ? "epoll" : "nio";
    }

    @Override
    public void close() {
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly();
    }
}
