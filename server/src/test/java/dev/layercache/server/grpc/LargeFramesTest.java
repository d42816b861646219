package dev.layercache.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.layercache.api.v1.StatBlobRequest;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2ConnectionHandlerBuilder;
import io.netty.handler.codec.http2.Http2FrameAdapter;
import io.netty.handler.codec.http2.Http2Settings;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The gRPC port lets clients send DATA frames of {@link LargeFrames#MAX_FRAME_SIZE}: a plain
 * HTTP/2 client (Netty's, no gRPC library) must be told so by a SETTINGS frame and then cut its
 * frames at that size, and a WriteBlob whose messages arrive in such frames (past HTTP/2's
 * default 16 KiB the server would end the connection with FRAME_SIZE_ERROR) must be stored.
 */
@Timeout(60)
class LargeFramesTest {
    @RegisterExtension
    static final TestServer server = new TestServer();

    @Test
    void clientsAreToldAndLargeFramesAreTaken() throws Exception {
        byte[] data = new byte[3 << 20];
        new Random(5).nextBytes(data);
        String digest = Registry.sha256(data);
        CompletableFuture<Void> largeFramesAllowed = new CompletableFuture<>();
        Http2FrameAdapter listener = new Http2FrameAdapter() {
            @Override
            public void onSettingsRead(ChannelHandlerContext ctx, Http2Settings settings) {
                Integer max = settings.maxFrameSize();
                if (max != null && max == LargeFrames.MAX_FRAME_SIZE) {
                    largeFramesAllowed.complete(null);
                }
            }

            @Override
            public int onDataRead(ChannelHandlerContext ctx, int streamId, ByteBuf bytes, int padding,
                                  boolean endOfStream) {
                return bytes.readableBytes() + padding;
            }
        };
        Http2ConnectionHandler http2 = new Http2ConnectionHandlerBuilder().server(false).frameListener(listener)
                .build();
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            Channel channel = new Bootstrap().group(loop).channel(NioSocketChannel.class)
                    .handler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            ch.pipeline().addLast(http2);
                        }
                    }).connect("127.0.0.1", server.grpcPort()).sync().channel();
            largeFramesAllowed.get(30, TimeUnit.SECONDS);

            // Netty's encoder, as grpc-java's and other clients', now cuts DATA at the server's limit.
            assertEquals(LargeFrames.MAX_FRAME_SIZE, channel.eventLoop().submit(
                    () -> http2.encoder().configuration().frameSizePolicy().maxFrameSize()).get(10, TimeUnit.SECONDS));
            channel.close().sync();
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
        // grpc-java sends each 1 MiB message in 256 KiB frames, which the server must accept (past
        // its limit it would end the connection with FRAME_SIZE_ERROR).
        try (GrpcTestSupport grpc = new GrpcTestSupport(server.grpcPort())) {
            assertEquals(false, grpc.write("frames/large", digest, data, 1 << 20).getAlreadyExisted());
            assertEquals(data.length, grpc.blobs.statBlob(StatBlobRequest.newBuilder().setNamespace("frames/large")
                    .setDigest(digest).build()).getSize());
        }
    }
}
