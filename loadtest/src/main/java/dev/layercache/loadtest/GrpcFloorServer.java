package dev.layercache.loadtest;

import com.google.protobuf.UnsafeByteOperations;
import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.ReadBlobRequest;
import dev.layercache.api.v1.ReadBlobResponse;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code grpc-floor-server}: what grpc-java on this machine can do for a blob download, the ceiling
 * that layercache's {@code ReadBlob} is measured against next to the OCI download. A grpc-java
 * server with layercache's transfer settings (an 8 MiB flow-control window, 1 MiB messages, two
 * messages' worth allowed to wait in the transport, calls run off the event loop) whose
 * {@code ReadBlob} sends {@code limit} bytes from memory: each message is one copy of a 1 MiB
 * array into the call's own array (standing in for layercache's read of the file into its
 * array), wrapped without a copy, as layercache sends its messages. No file, no lookup, no
 * metrics, no interceptors.
 *
 * <p>Runs until it is killed; listens on 127.0.0.1 only.
 */
@Command(name = "grpc-floor-server", mixinStandardHelpOptions = true,
        description = "A bare grpc-java server whose ReadBlob streams `limit` bytes from memory as layercache "
                + "streams a blob: the Java ceiling for the ReadBlob benchmark")
final class GrpcFloorServer implements Callable<Integer> {
    static final int MESSAGE = 1 << 20;
    /** layercache's {@code GrpcServer.FLOW_CONTROL_WINDOW}. */
    static final int FLOW_CONTROL_WINDOW = 8 << 20;
    /** At most this much per call, whatever the limit says. */
    static final long MAX_BYTES = 64L << 30;

    @Option(names = "--port", required = true, description = "port on 127.0.0.1")
    int port;

    @Override
    public Integer call() throws Exception {
        Server server = start(port);
        System.out.printf("grpc-floor-server listening on 127.0.0.1:%d%n", server.getPort());
        System.out.flush();
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
        server.awaitTermination();
        return 0;
    }

    /** Listens on 127.0.0.1:{@code port} (0: any free port). */
    static Server start(int port) throws java.io.IOException {
        ExecutorService calls = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "grpc-floor-call");
            t.setDaemon(true);
            return t;
        });
        byte[] source = new byte[MESSAGE];
        new Random(1).nextBytes(source);
        return NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
                .flowControlWindow(FLOW_CONTROL_WINDOW)
                .executor(calls)
                .addService(new BlobsGrpc.BlobsImplBase() {
                    @Override
                    public void readBlob(ReadBlobRequest request, StreamObserver<ReadBlobResponse> observer) {
                        if (request.getLimit() <= 0 || request.getLimit() > MAX_BYTES) {
                            observer.onError(Status.INVALID_ARGUMENT
                                    .withDescription("limit: the bytes to send, 1 to " + MAX_BYTES).asRuntimeException());
                            return;
                        }
                        new Sender((ServerCallStreamObserver<ReadBlobResponse>) observer, source, request.getLimit())
                                .start();
                    }
                })
                .build().start();
    }

    /** Sends {@code size} bytes as fast as the client takes them, as layercache's BlobSender does. */
    private static final class Sender implements Runnable {
        private final ServerCallStreamObserver<ReadBlobResponse> call;
        private final byte[] source;
        private final long size;
        private final byte[] buffer = new byte[MESSAGE];
        private long sent;
        private boolean done;

        Sender(ServerCallStreamObserver<ReadBlobResponse> call, byte[] source, long size) {
            this.call = call;
            this.source = source;
            this.size = size;
        }

        void start() {
            call.setOnReadyThreshold(2 * MESSAGE);
            call.setOnCancelHandler(this::cancelled);
            call.setOnReadyHandler(this);
        }

        private synchronized void cancelled() {
            done = true;
        }

        @Override
        public synchronized void run() {
            while (!done && call.isReady() && sent < size) {
                int n = (int) Math.min(MESSAGE, size - sent);
                System.arraycopy(source, 0, buffer, 0, n); // in place of layercache's read of the file
                ReadBlobResponse.Builder message = ReadBlobResponse.newBuilder()
                        .setData(UnsafeByteOperations.unsafeWrap(buffer, 0, n));
                if (sent == 0) {
                    message.setSize(size);
                }
                call.onNext(message.build());
                sent += n;
            }
            if (!done && sent >= size) {
                done = true;
                call.onCompleted();
            }
        }
    }

    static void stop(Server server) throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
}
