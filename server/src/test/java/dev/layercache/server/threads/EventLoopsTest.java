package dev.layercache.server.threads;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import at.favre.lib.crypto.bcrypt.BCrypt;
import com.google.protobuf.ByteString;
import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.FindMissingBlobsRequest;
import dev.layercache.api.v1.GetEntryRequest;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.api.v1.PutEntryRequest;
import dev.layercache.api.v1.ReadBlobRequest;
import dev.layercache.api.v1.ReadBlobResponse;
import dev.layercache.api.v1.WriteBlobRequest;
import dev.layercache.api.v1.WriteBlobResponse;
import dev.layercache.api.v1.WriteHeader;
import dev.layercache.server.auth.Credentials;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.storage.FileObjectStore;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Nothing that can block runs on an event loop: BlockHound ({@link BlockingCalls}) records every
 * blocking call on Netty's event loops while a node with access control serves the requests that
 * used to block one. Right, wrong and unknown credentials (bcrypt checks), a tag's 404 (the
 * tombstones), uploads and downloads, and on gRPC lookups, blob streams and new credentials.
 * The first test shows the check sees such calls when they do run on an event loop.
 */
@Tag("blockhound")
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class EventLoopsTest {
    static final Path DIR;

    static {
        try {
            DIR = Files.createTempDirectory("layercache-loops");
            Files.writeString(DIR.resolve("htpasswd"), "alice:" + hash("alice-pw") + "\nbob:" + hash("bob-pw") + "\n");
            Files.writeString(DIR.resolve("tokens"), "ci sha256:" + Credentials.sha256("ci-token") + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @RegisterExtension
    static TestServer server = new TestServer(c -> c.withAuth(new ServerConfig.Auth(DIR.resolve("htpasswd"),
            DIR.resolve("tokens"), null, false, "")));

    static ManagedChannel channel;

    @BeforeAll
    static void install() {
        BlockingCalls.install();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
    }

    @AfterAll
    static void disconnect() {
        channel.shutdownNow();
    }

    @Test
    void theCheckSeesABcryptCheckAMetadataReadAndABucketCallOnAnEventLoop(@TempDir Path tmp) throws Exception {
        Credentials credentials = Credentials.load(DIR.resolve("htpasswd"), null);
        MultiThreadIoEventLoopGroup loops = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try (RocksKeyValueStore metadata = new RocksKeyValueStore(tmp.resolve("metadata"))) {
            FileObjectStore bucket = FileObjectStore.open(Files.createDirectories(tmp.resolve("bucket")));
            int mark = BlockingCalls.mark();
            loops.submit(() -> {
                try {
                    credentials.authenticate(basic("alice", "a wrong guess"));
                } catch (Credentials.Invalid expected) {
                    // refused, after a bcrypt check on this event loop
                }
                metadata.get(Table.values()[0], new byte[] {1});
                bucket.get("nothing/here");
                return null;
            }).get(30, TimeUnit.SECONDS);
            String seen = BlockingCalls.since(mark).toString();
            assertTrue(seen.contains("BCrypt$Verifyer.verify"), seen);
            assertTrue(seen.contains("RocksKeyValueStore.get"), seen);
            assertTrue(seen.contains("FileObjectStore.get"), seen);
            assertTrue(seen.contains("nioEventLoopGroup") || seen.contains("multiThreadIoEventLoopGroup"), seen);
        } finally {
            loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void credentialsTagsUploadsAndDownloadsOverHttpBlockNoEventLoop() throws Exception {
        int mark = BlockingCalls.mark();
        String alice = basic("alice", "alice-pw");

        // Credentials: wrong (twice: the second answer is remembered), unknown user, right, a token.
        assertEquals(401, http("GET", "/v2/", basic("alice", "wrong"), null).status());
        assertEquals(401, http("GET", "/v2/", basic("alice", "wrong"), null).status());
        assertEquals(401, http("GET", "/v2/", basic("mallory", "wrong"), null).status());
        assertEquals(200, http("GET", "/v2/", alice, null).status());
        assertEquals(200, http("GET", "/v2/", "Bearer ci-token", null).status());

        // Uploads: monolithic with a token, chunked with a password, and one with a wrong password
        // and a body (refused while the body is still coming).
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        byte[] layer = random(300_000);
        Http.Reply mono = http("POST", "/v2/team/app/blobs/uploads/?digest=" + Registry.sha256(config),
                "Bearer ci-token", config);
        assertEquals(201, mono.status(), mono.text());
        Http.Reply started = http("POST", "/v2/team/app/blobs/uploads/", alice, null);
        assertEquals(202, started.status(), started.text());
        String location = started.header("Location");
        assertEquals(202, http("PATCH", location, alice, layer).status());
        assertEquals(201, http("PUT", location + "?digest=" + Registry.sha256(layer), alice, null).status());
        assertEquals(401, http("PATCH", location, basic("alice", "another wrong one"), layer).status());

        // A manifest by tag, read back; the blob's HEAD and GET.
        String manifest = Registry.imageManifest(config, layer);
        Http.Reply put = Http.exchange(server.port(), "PUT", "/v2/team/app/manifests/v1",
                List.of("Authorization: " + alice, "Content-Type: application/vnd.oci.image.manifest.v1+json"),
                manifest.getBytes(StandardCharsets.UTF_8));
        assertEquals(201, put.status(), put.text());
        assertEquals(200, http("GET", "/v2/team/app/manifests/v1", alice, null).status());
        assertEquals(200, http("HEAD", "/v2/team/app/blobs/" + Registry.sha256(layer), alice, null).status());
        assertArrayEquals(layer, http("GET", "/v2/team/app/blobs/" + Registry.sha256(layer), alice, null).body());

        // Tags' 404s: one never pushed, one removed (the tombstones say it was there).
        assertEquals(404, http("GET", "/v2/team/app/manifests/never", alice, null).status());
        assertEquals(404, http("HEAD", "/v2/team/app/manifests/never", alice, null).status());
        assertEquals(202, http("DELETE", "/v2/team/app/manifests/v1", alice, null).status());
        assertEquals(404, http("GET", "/v2/team/app/manifests/v1", alice, null).status());
        assertEquals(200, http("GET", "/v2/team/app/tags/list", alice, null).status());

        // Misses in a namespace nobody pushed to: counting one asks the store whether it holds
        // repositories of that namespace (only then does a miss take a namespace's label).
        assertEquals(404, http("HEAD", "/v2/fresh/app/blobs/" + Registry.sha256(random(10)), alice, null).status());
        assertEquals(404, http("GET", "/v2/fresh/app/manifests/latest", alice, null).status());

        assertEquals(List.of(), BlockingCalls.since(mark), "blocking calls on event loops");
    }

    @Test
    void lookupsStreamsAndNewCredentialsOverGrpcBlockNoEventLoop() throws Exception {
        int mark = BlockingCalls.mark();
        // bob's credentials are new to the node (the HTTP test uses alice's): a first call is held
        // while they are checked, without a thread.
        String bob = basic("bob", "bob-pw");
        StatusRuntimeException wrong = assertThrows(StatusRuntimeException.class,
                () -> entries(basic("bob", "wrong")).getEntry(GetEntryRequest.newBuilder()
                        .setNamespace("team/app").setKey(Registry.sha256(new byte[] {1})).build()));
        assertEquals(Status.Code.UNAUTHENTICATED, wrong.getStatus().getCode());
        StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class,
                () -> entries(basic("mallory", "wrong")).getEntry(GetEntryRequest.newBuilder()
                        .setNamespace("team/app").setKey(Registry.sha256(new byte[] {1})).build()));
        assertEquals(Status.Code.UNAUTHENTICATED, unknown.getStatus().getCode());
        StatusRuntimeException miss = assertThrows(StatusRuntimeException.class,
                () -> entries(bob).getEntry(GetEntryRequest.newBuilder()
                        .setNamespace("team/app").setKey(Registry.sha256(new byte[] {2})).build()));
        assertEquals(Status.Code.NOT_FOUND, miss.getStatus().getCode());

        // A blob in and out as streams, an entry that names it, its lookup.
        byte[] blob = random(1 << 20);
        String digest = Registry.sha256(blob);
        assertEquals(List.of(digest), blobs(bob).findMissingBlobs(FindMissingBlobsRequest.newBuilder()
                .setNamespace("team/app").addDigests(digest).build()).getMissingList());
        write(bob, "team/app", digest, blob);
        assertArrayEquals(blob, read(bob, "team/app", digest));
        String key = Registry.sha256("step".getBytes(StandardCharsets.UTF_8));
        entries(bob).putEntry(PutEntryRequest.newBuilder().setNamespace("team/app").setEntry(Entry.newBuilder()
                .setKey(key).addLayers(LayerDescriptor.newBuilder().setDigest(digest).setSize(blob.length)
                        .setMediaType("application/vnd.oci.image.layer.v1.tar"))).build());
        assertEquals(digest, entries(bob).getEntry(GetEntryRequest.newBuilder().setNamespace("team/app")
                .setKey(key).build()).getEntry().getLayers(0).getDigest());
        assertEquals(digest, entries("Bearer ci-token").getEntry(GetEntryRequest.newBuilder()
                .setNamespace("team/app").setKey(key).build()).getEntry().getLayers(0).getDigest());

        assertEquals(List.of(), BlockingCalls.since(mark), "blocking calls on event loops");
    }

    private static EntryCacheGrpc.EntryCacheBlockingStub entries(String authorization) {
        return EntryCacheGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth(authorization)));
    }

    private static BlobsGrpc.BlobsBlockingStub blobs(String authorization) {
        return BlobsGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth(authorization)));
    }

    private static void write(String authorization, String namespace, String digest, byte[] data) throws Exception {
        CompletableFuture<WriteBlobResponse> done = new CompletableFuture<>();
        StreamObserver<WriteBlobRequest> requests = BlobsGrpc.newStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth(authorization)))
                .writeBlob(new StreamObserver<>() {
                    @Override
                    public void onNext(WriteBlobResponse value) {
                        done.complete(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                        done.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
        int chunk = 64 << 10;
        for (int off = 0; off < data.length; off += chunk) {
            WriteBlobRequest.Builder msg = WriteBlobRequest.newBuilder().setWriteOffset(off)
                    .setData(ByteString.copyFrom(data, off, Math.min(chunk, data.length - off)))
                    .setFinishWrite(off + chunk >= data.length);
            if (off == 0) {
                msg.setHeader(WriteHeader.newBuilder().setNamespace(namespace).setDigest(digest).setSize(data.length)
                        .setUploadId(UUID.randomUUID().toString()));
            }
            requests.onNext(msg.build());
        }
        requests.onCompleted();
        done.get(30, TimeUnit.SECONDS);
    }

    private static byte[] read(String authorization, String namespace, String digest) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Iterator<ReadBlobResponse> parts = blobs(authorization).readBlob(ReadBlobRequest.newBuilder()
                .setNamespace(namespace).setDigest(digest).build());
        parts.forEachRemaining(p -> out.writeBytes(p.getData().toByteArray()));
        return out.toByteArray();
    }

    private static Metadata auth(String authorization) {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), authorization);
        return headers;
    }

    private static Http.Reply http(String method, String path, String authorization, byte[] body) throws IOException {
        List<String> headers = new ArrayList<>(List.of("Authorization: " + authorization));
        if (body != null) {
            headers.add("Content-Type: application/octet-stream");
        }
        return Http.exchange(server.port(), method, path, headers, body);
    }

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }

    private static String hash(String password) {
        return BCrypt.with(BCrypt.Version.VERSION_2Y).hashToString(4, password.toCharArray());
    }

    private static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }
}
