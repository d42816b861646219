package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.SmallDisk;
import dev.layercache.server.testing.Registry;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node whose disk fills up, on a real small file system (a 24 MiB tmpfs the test mounts, so
 * writes really fail with ENOSPC): the upload gets a clear error, its temporary file goes, reads
 * go on, and writes work again once there is space.
 */
class DiskFullTest {
    @TempDir
    Path dir;

    @Test
    void anUploadThatFillsTheDiskFailsClearlyAndTheNodeGoesOn() throws Exception {
        try (SmallDisk disk = SmallDisk.mount(dir.resolve("small-disk"), 24)) {
            fillTheDisk(disk.path());
        }
    }

    private void fillTheDisk(Path mount) throws Exception {
        try (LayerCacheServer server = LayerCacheServer.start(ServerConfig.forTesting(mount.resolve("data")))) {
            Registry registry = new Registry(server.httpPort());
            byte[] small = bytes(2_000_000, 1);
            assertEquals(201, registry.pushBlob("team/app", small));

            byte[] huge = bytes(40_000_000, 2); // more than the disk has
            HttpResponse<byte[]> full = registry.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                    + server.httpPort() + "/v2/team/app/blobs/uploads/?digest=" + Registry.sha256(huge)))
                    .POST(HttpRequest.BodyPublishers.ofByteArray(huge)));
            assertEquals(507, full.statusCode(), Registry.utf8(full.body()));
            assertTrue(Registry.utf8(full.body()).contains("no space left on the server's disk"),
                    Registry.utf8(full.body()));
            try (Stream<Path> uploads = Files.list(mount.resolve("data").resolve("uploads"))) {
                assertEquals(0, uploads.count(), "the temporary file is gone");
            }
            assertEquals(404, registry.head("/v2/team/app/blobs/" + Registry.sha256(huge)), "nothing partial stored");

            assertArrayEquals(small, registry.get("/v2/team/app/blobs/" + Registry.sha256(small)).body(),
                    "reads go on");
            byte[] next = bytes(1_000_000, 3);
            assertEquals(201, registry.pushBlob("team/app", next), "writes work again with the space back");
            assertArrayEquals(next, registry.get("/v2/team/app/blobs/" + Registry.sha256(next)).body());

            // The same through gRPC: RESOURCE_EXHAUSTED, and the resumable session gives its space back.
            io.grpc.ManagedChannel channel = io.grpc.netty.NettyChannelBuilder.forAddress("127.0.0.1",
                    server.grpcPort()).usePlaintext().build();
            try {
                io.grpc.Status status = writeBlob(channel, huge);
                assertEquals(io.grpc.Status.Code.RESOURCE_EXHAUSTED, status.getCode(), status.toString());
                assertTrue(status.getDescription().contains("no space left"), status.toString());
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            long left;
            do {
                try (Stream<Path> uploads = Files.list(mount.resolve("data").resolve("uploads"))) {
                    left = uploads.count();
                }
            } while (left > 0 && System.nanoTime() < deadline && sleep());
            assertEquals(0, left, "the gRPC upload's file is gone too");
            assertEquals(201, registry.pushBlob("team/app", bytes(500_000, 4)), "and writes still work");
        }
    }

    /** Streams {@code data} in one WriteBlob call; returns how the call ended. */
    private static io.grpc.Status writeBlob(io.grpc.ManagedChannel channel, byte[] data) throws Exception {
        java.util.concurrent.CompletableFuture<io.grpc.Status> result = new java.util.concurrent.CompletableFuture<>();
        io.grpc.stub.StreamObserver<dev.layercache.api.v1.WriteBlobRequest> requests =
                dev.layercache.api.v1.BlobsGrpc.newStub(channel).writeBlob(new io.grpc.stub.StreamObserver<>() {
                    @Override
                    public void onNext(dev.layercache.api.v1.WriteBlobResponse value) {
                    }

                    @Override
                    public void onError(Throwable t) {
                        result.complete(io.grpc.Status.fromThrowable(t));
                    }

                    @Override
                    public void onCompleted() {
                        result.complete(io.grpc.Status.OK);
                    }
                });
        int chunk = 1 << 20;
        try {
            for (int off = 0; off < data.length && !result.isDone(); off += chunk) {
                dev.layercache.api.v1.WriteBlobRequest.Builder msg = dev.layercache.api.v1.WriteBlobRequest.newBuilder()
                        .setWriteOffset(off).setData(com.google.protobuf.ByteString.copyFrom(data, off,
                                Math.min(chunk, data.length - off)));
                if (off == 0) {
                    msg.setHeader(dev.layercache.api.v1.WriteHeader.newBuilder().setNamespace("team/grpc")
                            .setDigest(Registry.sha256(data)).setSize(data.length)
                            .setUploadId(java.util.UUID.randomUUID().toString()));
                }
                msg.setFinishWrite(off + chunk >= data.length);
                requests.onNext(msg.build());
            }
            requests.onCompleted();
        } catch (RuntimeException cancelled) {
            // the server answered already
        }
        return result.get(60, TimeUnit.SECONDS);
    }

    private static boolean sleep() {
        try {
            Thread.sleep(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return true;
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
