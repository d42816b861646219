package dev.layercache.server.grpc;

import static dev.layercache.server.grpc.GrpcTestSupport.assertStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.layercache.api.v1.BatchUpdateBlobsRequest;
import dev.layercache.api.v1.BlobData;
import dev.layercache.api.v1.DeleteEntryRequest;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.FindMissingBlobsRequest;
import dev.layercache.api.v1.GetEntryRequest;
import dev.layercache.api.v1.PutEntryRequest;
import dev.layercache.api.v1.PutManifestRequest;
import dev.layercache.api.v1.QueryWriteStatusRequest;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.mirror.UpstreamSettings;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The copy of a mirrored registry is filled by the mirror only: over gRPC as over the OCI API,
 * every write or delete in its namespaces is refused (UNIMPLEMENTED, the gRPC form of the OCI
 * API's UNSUPPORTED) before anything is stored, while reads are answered and the node's own
 * namespaces take writes as before. The upstream is never asked: its address goes nowhere.
 */
class MirroredNamespacesGrpcTest {
    private static final String MIRRORED = "docker.io/library/evil";

    @RegisterExtension
    static final TestServer server = new TestServer(config -> config.withMirror(new ServerConfig.Mirror(List.of(
            new UpstreamSettings("docker.io", URI.create("http://127.0.0.1:9"), UpstreamSettings.Credentials.NONE,
                    Duration.ofMinutes(5))))));
    private static GrpcTestSupport grpc;

    @BeforeAll
    static void connect() {
        grpc = new GrpcTestSupport(server.grpcPort());
    }

    @AfterAll
    static void disconnect() throws InterruptedException {
        grpc.close();
    }

    @Test
    void writesAndDeletesInAMirroredNamespaceAreRefused() throws Exception {
        byte[] blob = "not from the upstream".getBytes(StandardCharsets.UTF_8);
        String digest = Registry.sha256(blob);
        Entry entry = Entry.newBuilder().setKey(Registry.sha256("step".getBytes(StandardCharsets.UTF_8))).build();

        refused(() -> grpc.entries.putEntry(PutEntryRequest.newBuilder().setNamespace(MIRRORED).setEntry(entry).build()));
        refused(() -> grpc.entries.deleteEntry(DeleteEntryRequest.newBuilder().setNamespace(MIRRORED)
                .setKey(entry.getKey()).build()));
        refused(() -> grpc.write(MIRRORED, digest, blob));
        refused(() -> grpc.blobs.batchUpdateBlobs(BatchUpdateBlobsRequest.newBuilder().setNamespace(MIRRORED)
                .addBlobs(BlobData.newBuilder().setDigest(digest).setData(ByteString.copyFrom(blob))).build()));
        refused(() -> grpc.blobs.queryWriteStatus(QueryWriteStatusRequest.newBuilder().setNamespace(MIRRORED)
                .setUploadId(UUID.randomUUID().toString()).build()));
        byte[] manifest = Registry.imageManifest(blob, blob).getBytes(StandardCharsets.UTF_8);
        refused(() -> grpc.manifests.putManifest(PutManifestRequest.newBuilder().setNamespace(MIRRORED)
                .setReference("1").setMediaType("application/vnd.oci.image.manifest.v1+json")
                .setContent(ByteString.copyFrom(manifest)).build()));

        // Reads are answered (from the copy, which holds none of it).
        assertEquals(List.of(digest), grpc.blobs.findMissingBlobs(FindMissingBlobsRequest.newBuilder()
                .setNamespace(MIRRORED).addDigests(digest).build()).getMissingList(), "nothing was stored");
        assertStatus(Status.Code.NOT_FOUND, () -> grpc.entries.getEntry(GetEntryRequest.newBuilder()
                .setNamespace(MIRRORED).setKey(entry.getKey()).build()));
        // The node's own namespaces, and a name that merely begins like a mirror's, take writes.
        for (String own : List.of("team/app", "docker.iox/library/evil")) {
            assertEquals(blob.length, grpc.write(own, digest, blob).getCommittedSize(), own);
        }
    }

    private static void refused(org.junit.jupiter.api.function.Executable call) {
        StatusRuntimeException e = assertStatus(Status.Code.UNIMPLEMENTED, call);
        assertTrue(e.getStatus().getDescription().contains("read-only"), e.getStatus().getDescription());
    }
}
