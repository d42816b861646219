package dev.layercache.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.api.v1.StatBlobRequest;
import dev.layercache.server.testing.Fuzz;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import io.grpc.CallOptions;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Malformed protobuf through the gRPC API: random bytes sent as the messages of PutEntry,
 * PutManifest, FindMissingBlobs and the WriteBlob stream, through a raw call whose marshaller
 * sends the bytes as they are. Each call fails (never OK, never a hang or a dropped connection),
 * nothing is stored, and the node answers a normal call after.
 */
@Timeout(120)
class MalformedProtobufTest {
    @RegisterExtension
    static final TestServer server = new TestServer();
    private static GrpcTestSupport grpc;
    private static final String NAMESPACE = "fuzz/grpc";
    private static final byte[] KNOWN = "a blob the node keeps serving".getBytes(StandardCharsets.UTF_8);

    /** Sends and receives bytes as they are: no message class in between. */
    private static final MethodDescriptor.Marshaller<byte[]> RAW = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };

    @BeforeAll
    static void connect() throws Exception {
        grpc = new GrpcTestSupport(server.grpcPort());
        grpc.write(NAMESPACE, Registry.sha256(KNOWN), KNOWN);
    }

    @AfterAll
    static void disconnect() throws InterruptedException {
        grpc.close();
    }

    private static MethodDescriptor<byte[], byte[]> method(String name, MethodDescriptor.MethodType type) {
        return MethodDescriptor.<byte[], byte[]>newBuilder().setType(type).setFullMethodName(name)
                .setRequestMarshaller(RAW).setResponseMarshaller(RAW).build();
    }

    private record Garbage(String method, List<byte[]> messages) {
        @Override
        public String toString() {
            return method + " with " + messages.stream().map(m -> m.length + " bytes").toList();
        }
    }

    @Test
    void randomBytesAreAClearErrorAndStoreNothing() {
        Set<String> before = stored();
        Map<String, Integer> seen = new TreeMap<>();
        Fuzz.forAll(20261131L, 300, f -> {
            String method = f.pick("layercache.v1.EntryCache/PutEntry", "layercache.v1.Manifests/PutManifest",
                    "layercache.v1.Blobs/FindMissingBlobs", "layercache.v1.Blobs/WriteBlob");
            int count = method.endsWith("WriteBlob") ? f.between(1, 4) : 1;
            List<byte[]> messages = new java.util.ArrayList<>();
            for (int i = 0; i < count; i++) {
                messages.add(garbage(f));
            }
            return new Garbage(method, messages);
        }, g -> {
            Status status = call(g);
            assertNotEquals(Status.Code.OK, status.getCode(), status::toString);
            assertNotEquals(Status.Code.DEADLINE_EXCEEDED, status.getCode(), status::toString);
            assertNotEquals(Status.Code.UNAVAILABLE, status.getCode(), status::toString);
            // A message that does not parse is INVALID_ARGUMENT saying so (MalformedMessages); one
            // that parses is checked by the service, also INVALID_ARGUMENT, naming the field.
            assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode(), status::toString);
            assertTrue(status.getDescription() != null && !status.getDescription().isBlank(), status::toString);
            seen.merge(status.getDescription().startsWith("malformed request message") ? "unparsable" : "invalid", 1,
                    Integer::sum);
        });
        assertTrue(seen.getOrDefault("unparsable", 0) > 100, "most garbage does not parse: " + seen);
        assertEquals(before, stored(), "malformed messages stored something");
        assertEquals(KNOWN.length, grpc.blobs.statBlob(StatBlobRequest.newBuilder().setNamespace(NAMESPACE)
                .setDigest(Registry.sha256(KNOWN)).build()).getSize());
    }

    /** Random bytes, or a valid-looking start (a field tag) followed by junk: both should fail to parse. */
    private static byte[] garbage(Fuzz f) {
        byte[] b = f.bytes(f.pick(8, 64, 2000));
        if (b.length > 2 && f.chance(0.5)) {
            // field 1 (namespace / header), length-delimited, with a length past the end
            b[0] = 0x0a;
            b[1] = (byte) 0xff;
        }
        if (b.length == 0) {
            b = new byte[] {(byte) 0xff};
        }
        return b;
    }

    private static Status call(Garbage g) throws Exception {
        CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS);
        if (!g.method().endsWith("WriteBlob")) {
            try {
                ClientCalls.blockingUnaryCall(grpc.channel, method(g.method(), MethodDescriptor.MethodType.UNARY),
                        options, g.messages().get(0));
                return Status.OK;
            } catch (StatusRuntimeException e) {
                return e.getStatus();
            }
        }
        CompletableFuture<byte[]> result = new CompletableFuture<>();
        StreamObserver<byte[]> requests = ClientCalls.asyncClientStreamingCall(
                grpc.channel.newCall(method(g.method(), MethodDescriptor.MethodType.CLIENT_STREAMING), options),
                GrpcTestSupport.observer(result));
        g.messages().forEach(requests::onNext);
        requests.onCompleted();
        try {
            result.get(30, TimeUnit.SECONDS);
            return Status.OK;
        } catch (ExecutionException e) {
            return Status.fromThrowable(e.getCause());
        }
    }

    /** The files of uploads and blobs, and the catalog. */
    private static Set<String> stored() {
        Set<String> files = new TreeSet<>();
        for (String dir : List.of("uploads", "blobs")) {
            Path root = server.dataDir().resolve(dir);
            try (Stream<Path> paths = Files.walk(root)) {
                paths.filter(Files::isRegularFile).forEach(p -> files.add(server.dataDir().relativize(p).toString()));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        try {
            files.add("catalog: " + Registry.utf8(new Registry(server.port()).get("/v2/_catalog").body()));
        } catch (IOException | InterruptedException e) {
            throw new AssertionError(e);
        }
        return files;
    }
}
