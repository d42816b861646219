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
 * moved, a blob's {@code HEAD} was answered 2.2 to 2.8 times as often with four loops per core
 * as with one, at under half the p99. The price is paid on a quiet node: more loops mean more
 * wake-ups, and its {@code HEAD}s cost about a fifth more CPU than with one loop per core.
 */
public final class Transport implements AutoCloseable {
    /** Event loops per core (see the class comment). */
    static final int LOOPS_PER_CORE = 4;
    /**
     * At most this many loops: on a machine with many cores a lookup's connection rarely shares a
     * loop with a transfer's anyway, and each loop is a thread with its own buffer caches.
     */
    static final int MAX_LOOPS = 64;

    private final boolean epoll = Epoll.isAvailable();
    private final EventLoopGroup group;

    public Transport() {
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        int cores = Math.max(1, Runtime.getRuntime().availableProcessors());
        group = new MultiThreadIoEventLoopGroup(Math.min(MAX_LOOPS, LOOPS_PER_CORE * cores), io);
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
