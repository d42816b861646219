package dev.layercache.loadtest;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code http-floor-server}: what a Java HTTP server on this machine can do for the {@code HEAD} of
 * a blob, the ceiling that layercache's {@code HEAD} is measured against next to nginx's. Netty as
 * layercache uses it (native epoll where there is one, the same number of event loops by
 * default), the HTTP/1.1 codec, and one handler that answers every request with the status and
 * headers layercache sends for a 4 KiB blob's {@code HEAD} (a {@code GET} also gets the 4 KiB),
 * flushed once per read as Netty's examples do. Nothing else: no routing, no parsing of the name or
 * digest, no lookup, no admission, no metrics, no access log, no timeouts.
 *
 * <p>Runs until it is killed; listens on 127.0.0.1 only.
 */
@Command(name = "http-floor-server", mixinStandardHelpOptions = true,
        description = "A bare Netty HTTP/1.1 server answering every request as layercache answers a 4 KiB blob's HEAD: "
                + "the Java ceiling for the HEAD benchmark")
final class HttpFloorServer implements Callable<Integer> {
    /** The digest of the blob the answers describe (4,096 bytes); its value matters only for the header's length. */
    static final String DIGEST = "sha256:60218436d1708f45a0b7e25be29758c6b62fa617d97225909891ef7aff7920eb";
    static final int BLOB_BYTES = 4096;
    /** layercache's event loops per core (its {@code concurrent.Transport}). */
    static final int LAYERCACHE_LOOPS_PER_CORE = 4;

    @Option(names = "--port", required = true, description = "port on 127.0.0.1")
    int port;

    @Option(names = "--loops-per-core", defaultValue = "" + LAYERCACHE_LOOPS_PER_CORE,
            description = "event loops per core (default: ${DEFAULT-VALUE}, layercache's)")
    int loopsPerCore;

    @Override
    public Integer call() throws Exception {
        int loops = loopsPerCore * Math.max(1, Runtime.getRuntime().availableProcessors());
        Running server = start(port, loops);
        System.out.printf("http-floor-server listening on http://127.0.0.1:%d (%d event loops, %s)%n", server.port(),
                loops, Epoll.isAvailable() ? "epoll" : "nio");
        System.out.flush();
        Runtime.getRuntime().addShutdownHook(new Thread(server::close));
        new CountDownLatch(1).await(); // until killed
        return 0;
    }

    /** A started server: its port, and its close. */
    record Running(Channel channel, EventLoopGroup group) implements AutoCloseable {
        int port() {
            return ((java.net.InetSocketAddress) channel.localAddress()).getPort();
        }

        @Override
        public void close() {
            channel.close().awaitUninterruptibly();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
        }
    }

    /** Listens on 127.0.0.1:{@code port} (0: any free port) with {@code loops} event loops. */
    static Running start(int port, int loops) throws InterruptedException {
        boolean epoll = Epoll.isAvailable();
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(loops, io);
        Class<? extends ServerChannel> type = epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        ByteBuf body = Unpooled.unreleasableBuffer(Unpooled.directBuffer(BLOB_BYTES).writeZero(BLOB_BYTES));
        Channel channel = new ServerBootstrap().group(group).channel(type)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new BlobAnswer(body));
                    }
                })
                .bind("127.0.0.1", port).sync().channel();
        return new Running(channel, group);
    }

    /** Answers every request as layercache answers a 4 KiB blob's HEAD (and GET). */
    private static final class BlobAnswer extends ChannelInboundHandlerAdapter {
        private final ByteBuf body;

        BlobAnswer(ByteBuf body) {
            this.body = body;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof HttpRequest request) {
                    boolean head = HttpMethod.HEAD.equals(request.method());
                    DefaultFullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                            HttpResponseStatus.OK, head ? Unpooled.EMPTY_BUFFER : body.duplicate());
                    HttpHeaders h = response.headers();
                    h.set("Docker-Distribution-Api-Version", "registry/2.0");
                    h.set("content-type", "application/octet-stream");
                    h.set("Docker-Content-Digest", DIGEST);
                    h.set("etag", "\"" + DIGEST + "\"");
                    h.set("accept-ranges", "bytes");
                    h.set("cache-control", "max-age=31536000");
                    h.set("content-length", BLOB_BYTES);
                    if (!HttpUtil.isKeepAlive(request)) {
                        h.set("connection", "close");
                        ctx.write(response).addListener(f -> ctx.close());
                    } else {
                        ctx.write(response);
                    }
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
