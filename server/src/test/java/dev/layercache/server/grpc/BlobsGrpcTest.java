package dev.layercache.server.grpc;

import static dev.layercache.server.grpc.GrpcTestSupport.assertStatus;
import static dev.layercache.server.grpc.GrpcTestSupport.detail;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.rpc.BadRequest;
import dev.layercache.api.v1.BatchReadBlobsRequest;
import dev.layercache.api.v1.BatchReadBlobsResponse;
import dev.layercache.api.v1.BatchUpdateBlobsRequest;
import dev.layercache.api.v1.BatchUpdateBlobsResponse;
import dev.layercache.api.v1.BlobData;
import dev.layercache.api.v1.FindMissingBlobsRequest;
import dev.layercache.api.v1.QueryWriteStatusRequest;
import dev.layercache.api.v1.QueryWriteStatusResponse;
import dev.layercache.api.v1.ReadBlobRequest;
import dev.layercache.api.v1.ReadBlobResponse;
import dev.layercache.api.v1.StatBlobRequest;
import dev.layercache.api.v1.WriteBlobRequest;
import dev.layercache.api.v1.WriteBlobResponse;
import dev.layercache.api.v1.WriteHeader;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class BlobsGrpcTest {
    @RegisterExtension
    static final TestServer server = new TestServer();
    private static GrpcTestSupport grpc;
    private static Registry oci;

    @BeforeAll
    static void connect() {
        grpc = new GrpcTestSupport(server.grpcPort());
        oci = new Registry(server.port());
    }

    @AfterAll
    static void disconnect() throws InterruptedException {
        grpc.close();
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static byte[] read(String ns, String digest, long offset, long limit) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Iterator<ReadBlobResponse> it = grpc.blobs.readBlob(ReadBlobRequest.newBuilder().setNamespace(ns)
                .setDigest(digest).setOffset(offset).setLimit(limit).build());
        it.forEachRemaining(r -> out.writeBytes(r.getData().toByteArray()));
        return out.toByteArray();
    }

    @Test
    void ociAndGrpcShareOneStore() throws Exception {
        byte[] viaOci = random(300_000, 1);
        assertEquals(201, oci.pushBlob("grpc/shared", viaOci));
        byte[] viaGrpc = random(200_000, 2);
        String grpcDigest = Registry.sha256(viaGrpc);
        WriteBlobResponse written = grpc.write("grpc/shared", grpcDigest, viaGrpc);
        assertEquals(viaGrpc.length, written.getCommittedSize());
        assertFalse(written.getAlreadyExisted());

        assertEquals(List.of(), grpc.blobs.findMissingBlobs(FindMissingBlobsRequest.newBuilder()
                .setNamespace("grpc/shared").addDigests(Registry.sha256(viaOci)).addDigests(grpcDigest).build())
                .getMissingList());
        assertEquals(List.of(Registry.sha256(viaOci)), grpc.blobs.findMissingBlobs(FindMissingBlobsRequest
                .newBuilder().setNamespace("grpc/elsewhere").addDigests(Registry.sha256(viaOci)).build())
                .getMissingList(), "namespaces are repositories: no access without a push or mount");
        assertArrayEquals(viaOci, read("grpc/shared", Registry.sha256(viaOci), 0, 0));
        assertArrayEquals(viaGrpc, oci.get("/v2/grpc/shared/blobs/" + grpcDigest).body());
        assertEquals(viaGrpc.length, grpc.blobs.statBlob(StatBlobRequest.newBuilder().setNamespace("grpc/shared")
                .setDigest(grpcDigest).build()).getSize());
    }

    @Test
    void readsResumeFromAnyOffsetWithALimit() throws Exception {
        byte[] blob = random(1_000_000, 3);
        String d = Registry.sha256(blob);
        grpc.write("grpc/read", d, blob);
        assertArrayEquals(Arrays.copyOfRange(blob, 700_000, blob.length), read("grpc/read", d, 700_000, 0));
        assertArrayEquals(Arrays.copyOfRange(blob, 10, 110), read("grpc/read", d, 10, 100));
        assertArrayEquals(new byte[0], read("grpc/read", d, blob.length, 0));
        ReadBlobResponse first = grpc.blobs.readBlob(ReadBlobRequest.newBuilder().setNamespace("grpc/read")
                .setDigest(d).build()).next();
        assertEquals(blob.length, first.getSize());
        assertTrue(first.getData().size() <= BlobsGrpcService.CHUNK);
        assertStatus(Status.Code.OUT_OF_RANGE, () -> read("grpc/read", d, blob.length + 1, 0));
        assertStatus(Status.Code.NOT_FOUND, () -> read("grpc/read", Registry.sha256(new byte[] {1}), 0, 0));
        StatusRuntimeException e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> read("grpc/read", d, -1, 0));
        assertEquals("offset", detail(e, BadRequest.class).getFieldViolations(0).getField());
    }

    /** A small blob is kept in the metadata store, not as a file (InlineBlobBackend): ReadBlob serves it all the same. */
    @Test
    void smallBlobsKeptInlineAreReadFromAnyOffset() throws Exception {
        byte[] small = random(40_000, 11);
        String d = Registry.sha256(small);
        assertEquals(201, oci.pushBlob("grpc/inline", small));
        String hex = d.substring("sha256:".length());
        assertFalse(java.nio.file.Files.exists(server.dataDir().resolve("blobs/sha256").resolve(hex.substring(0, 2))
                .resolve(hex)), "kept inline, no file");
        assertArrayEquals(small, read("grpc/inline", d, 0, 0));
        assertArrayEquals(Arrays.copyOfRange(small, 39_000, small.length), read("grpc/inline", d, 39_000, 0));
        assertArrayEquals(Arrays.copyOfRange(small, 5, 105), read("grpc/inline", d, 5, 100));
        assertArrayEquals(new byte[0], read("grpc/inline", d, small.length, 0));
        assertStatus(Status.Code.OUT_OF_RANGE, () -> read("grpc/inline", d, small.length + 1, 0));
        byte[] viaGrpc = random(30_000, 12);
        grpc.write("grpc/inline", Registry.sha256(viaGrpc), viaGrpc);
        assertArrayEquals(viaGrpc, read("grpc/inline", Registry.sha256(viaGrpc), 0, 0));
        assertArrayEquals(viaGrpc, oci.get("/v2/grpc/inline/blobs/" + Registry.sha256(viaGrpc)).body());
    }

    @Test
    void aWriteWhoseBytesDoNotMatchStoresNothing() throws Exception {
        byte[] blob = random(100_000, 4);
        String wrong = Registry.sha256(random(10, 5));
        StatusRuntimeException e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> grpc.write("grpc/write", wrong, blob));
        assertEquals("header.digest", detail(e, BadRequest.class).getFieldViolations(0).getField());
        assertEquals(List.of(wrong, Registry.sha256(blob)), grpc.blobs.findMissingBlobs(FindMissingBlobsRequest
                .newBuilder().setNamespace("grpc/write").addDigests(wrong).addDigests(Registry.sha256(blob)).build())
                .getMissingList());
    }

    @Test
    void anInterruptedWriteResumesWithItsUploadId() throws Exception {
        byte[] blob = random(3_000_000, 6);
        String d = Registry.sha256(blob);
        WriteHeader header = WriteHeader.newBuilder().setNamespace("grpc/resume").setDigest(d).setSize(blob.length)
                .setUploadId(UUID.randomUUID().toString()).build();
        // The client goes away after 1 MiB without finishing.
        WriteBlobResponse partial = grpc.write(header, 0, Arrays.copyOf(blob, 1 << 20), false);
        assertEquals(1 << 20, partial.getCommittedSize());
        assertEquals(1, grpc.blobs.findMissingBlobs(FindMissingBlobsRequest.newBuilder().setNamespace("grpc/resume")
                .addDigests(d).build()).getMissingCount(), "no partial blob is visible");
        QueryWriteStatusResponse status = grpc.blobs.queryWriteStatus(QueryWriteStatusRequest.newBuilder()
                .setNamespace("grpc/resume").setUploadId(header.getUploadId()).setDigest(d).build());
        assertEquals(1 << 20, status.getCommittedSize());
        assertFalse(status.getComplete());

        // A wrong offset is refused; the right one continues.
        assertStatus(Status.Code.OUT_OF_RANGE, () -> grpc.write(header, 0, blob, true));
        WriteBlobResponse done = grpc.write(header, 1 << 20, blob, true);
        assertEquals(blob.length, done.getCommittedSize());
        assertTrue(grpc.blobs.queryWriteStatus(QueryWriteStatusRequest.newBuilder().setNamespace("grpc/resume")
                .setUploadId(header.getUploadId()).setDigest(d).build()).getComplete());
        assertArrayEquals(blob, read("grpc/resume", d, 0, 0));
    }

    @Test
    void writingABlobThatIsThereCompletesAtOnce() throws Exception {
        byte[] blob = random(2_000_000, 7);
        String d = Registry.sha256(blob);
        assertEquals(201, oci.pushBlob("grpc/exists", blob));
        CompletableFuture<WriteBlobResponse> result = new CompletableFuture<>();
        StreamObserver<WriteBlobRequest> requests = grpc.blobsAsync.writeBlob(GrpcTestSupport.observer(result));
        // Only the header and a first chunk are sent: the answer must not wait for the rest.
        requests.onNext(WriteBlobRequest.newBuilder().setHeader(WriteHeader.newBuilder().setNamespace("grpc/exists")
                .setDigest(d).setSize(blob.length).setUploadId(UUID.randomUUID().toString()))
                .setData(ByteString.copyFrom(blob, 0, 1000)).build());
        WriteBlobResponse r = result.get(30, TimeUnit.SECONDS);
        requests.onCompleted();
        assertTrue(r.getAlreadyExisted());
        assertEquals(blob.length, r.getCommittedSize());
    }

    @Test
    void malformedWritesAreRefused() {
        byte[] blob = random(1000, 8);
        String d = Registry.sha256(blob);
        StatusRuntimeException e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> grpc.write(
                WriteHeader.newBuilder().setNamespace("grpc/bad").setDigest(d).setSize(blob.length)
                        .setUploadId("not-a-uuid").build(), 0, blob, true));
        assertEquals("header.upload_id", detail(e, BadRequest.class).getFieldViolations(0).getField());
        e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> grpc.write(WriteHeader.newBuilder()
                .setNamespace("grpc/bad").setDigest(d).setSize(10).setUploadId(UUID.randomUUID().toString())
                .build(), 0, blob, true));
        assertEquals("data", detail(e, BadRequest.class).getFieldViolations(0).getField());
        e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> grpc.write(WriteHeader.newBuilder()
                .setNamespace("grpc/bad").setDigest(d).setSize(5000).setUploadId(UUID.randomUUID().toString())
                .build(), 0, blob, true));
        assertEquals("finish_write", detail(e, BadRequest.class).getFieldViolations(0).getField());
        CompletableFuture<WriteBlobResponse> result = new CompletableFuture<>();
        StreamObserver<WriteBlobRequest> requests = grpc.blobsAsync.writeBlob(GrpcTestSupport.observer(result));
        requests.onNext(WriteBlobRequest.newBuilder().setData(ByteString.copyFrom(blob)).build());
        requests.onCompleted();
        e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> {
            try {
                result.get(30, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException x) {
                throw x.getCause();
            }
        });
        assertEquals("header", detail(e, BadRequest.class).getFieldViolations(0).getField());
        assertEquals(1, grpc.blobs.findMissingBlobs(FindMissingBlobsRequest.newBuilder().setNamespace("grpc/bad")
                .addDigests(d).build()).getMissingCount());
    }

    @Test
    void smallBlobsInBatches() {
        byte[] a = random(1000, 9);
        byte[] b = random(2000, 10);
        String wrong = Registry.sha256(random(3, 11));
        BatchUpdateBlobsResponse up = grpc.blobs.batchUpdateBlobs(BatchUpdateBlobsRequest.newBuilder()
                .setNamespace("grpc/batch")
                .addBlobs(BlobData.newBuilder().setDigest(Registry.sha256(a)).setData(ByteString.copyFrom(a)))
                .addBlobs(BlobData.newBuilder().setDigest(Registry.sha256(b)).setData(ByteString.copyFrom(b)))
                .addBlobs(BlobData.newBuilder().setDigest(wrong).setData(ByteString.copyFrom(a)))
                .build());
        assertEquals(List.of(0, 0, Status.Code.INVALID_ARGUMENT.value()),
                up.getBlobsList().stream().map(x -> x.getStatus().getCode()).toList());
        BatchReadBlobsResponse down = grpc.blobs.batchReadBlobs(BatchReadBlobsRequest.newBuilder()
                .setNamespace("grpc/batch").addDigests(Registry.sha256(a)).addDigests(wrong)
                .addDigests(Registry.sha256(b)).build());
        assertArrayEquals(a, down.getBlobs(0).getData().toByteArray());
        assertEquals(Status.Code.NOT_FOUND.value(), down.getBlobs(1).getStatus().getCode());
        assertArrayEquals(b, down.getBlobs(2).getData().toByteArray());

        byte[] big = random(5 << 20, 12);
        StatusRuntimeException e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> grpc.blobs.batchUpdateBlobs(
                BatchUpdateBlobsRequest.newBuilder().setNamespace("grpc/batch")
                        .addBlobs(BlobData.newBuilder().setDigest(Registry.sha256(big)).setData(ByteString.copyFrom(big)))
                        .build()));
        assertEquals("blobs", detail(e, BadRequest.class).getFieldViolations(0).getField());
    }

    @Test
    void oversizedMessagesAreRefusedNotBuffered() {
        byte[] huge = random(9 << 20, 13);
        assertStatus(Status.Code.RESOURCE_EXHAUSTED, () -> grpc.blobs.batchUpdateBlobs(BatchUpdateBlobsRequest
                .newBuilder().setNamespace("grpc/batch")
                .addBlobs(BlobData.newBuilder().setDigest(Registry.sha256(huge)).setData(ByteString.copyFrom(huge)))
                .build()));
    }

    @Test
    void healthAndReflectionAreServed() {
        HealthCheckResponse health = HealthGrpc.newBlockingStub(grpc.channel).check(HealthCheckRequest.newBuilder()
                .build());
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());

        CompletableFuture<io.grpc.reflection.v1.ServerReflectionResponse> listed = new CompletableFuture<>();
        StreamObserver<io.grpc.reflection.v1.ServerReflectionRequest> reflection =
                io.grpc.reflection.v1.ServerReflectionGrpc.newStub(grpc.channel)
                        .serverReflectionInfo(GrpcTestSupport.observer(listed));
        reflection.onNext(io.grpc.reflection.v1.ServerReflectionRequest.newBuilder().setListServices("").build());
        try {
            List<String> services = listed.get(30, TimeUnit.SECONDS).getListServicesResponse().getServiceList()
                    .stream().map(s -> s.getName()).toList();
            assertTrue(services.containsAll(List.of("layercache.v1.EntryCache", "layercache.v1.Blobs",
                    "layercache.v1.Manifests", "grpc.health.v1.Health")), services.toString());
        } catch (Exception e) {
            throw new AssertionError(e);
        } finally {
            reflection.onCompleted();
        }
    }
}
