package dev.layercache.server.grpc;

import static dev.layercache.server.grpc.GrpcTestSupport.assertStatus;
import static dev.layercache.server.grpc.GrpcTestSupport.detail;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import com.google.rpc.BadRequest;
import com.google.rpc.PreconditionFailure;
import dev.layercache.api.v1.GetManifestRequest;
import dev.layercache.api.v1.GetManifestResponse;
import dev.layercache.api.v1.PutManifestRequest;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServices;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class ManifestsGrpcTest {
    private static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

    @RegisterExtension
    static final TestServices services = new TestServices();
    private static GrpcTestSupport grpc;

    @BeforeAll
    static void connect() throws Exception {
        grpc = new GrpcTestSupport(services.grpc());
    }

    @AfterAll
    static void disconnect() throws InterruptedException {
        grpc.close();
    }

    @Test
    void aManifestPutOverGrpcIsServedByTheOciApiAndBack() throws Exception {
        byte[] config = "{\"architecture\":\"amd64\"}".getBytes(StandardCharsets.UTF_8);
        byte[] layer = "layer bytes".getBytes(StandardCharsets.UTF_8);
        grpc.write("grpc/manifests", Registry.sha256(config), config);
        grpc.write("grpc/manifests", Registry.sha256(layer), layer);
        byte[] manifest = Registry.imageManifest(config, layer).getBytes(StandardCharsets.UTF_8);
        String digest = grpc.manifests.putManifest(PutManifestRequest.newBuilder().setNamespace("grpc/manifests")
                .setReference("v1").setMediaType(OCI_MANIFEST).setContent(ByteString.copyFrom(manifest)).build())
                .getDigest();
        assertEquals(Registry.sha256(manifest), digest);

        Http.Reply viaOci = services.http().exchange("GET", "/v2/grpc/manifests/manifests/v1", List.of(), null);
        assertEquals(200, viaOci.status());
        assertArrayEquals(manifest, viaOci.body());
        assertEquals(OCI_MANIFEST, viaOci.header("Content-Type"));

        GetManifestResponse back = grpc.manifests.getManifest(GetManifestRequest.newBuilder()
                .setNamespace("grpc/manifests").setReference(digest).build());
        assertArrayEquals(manifest, back.getContent().toByteArray());
        assertEquals(OCI_MANIFEST, back.getMediaType());
    }

    @Test
    void errorsAreMappedWithDetails() {
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        byte[] manifest = Registry.imageManifest(config).getBytes(StandardCharsets.UTF_8);
        StatusRuntimeException e = assertStatus(Status.Code.FAILED_PRECONDITION, () -> grpc.manifests.putManifest(
                PutManifestRequest.newBuilder().setNamespace("grpc/manifests").setReference("missing")
                        .setMediaType(OCI_MANIFEST).setContent(ByteString.copyFrom(manifest)).build()));
        assertEquals("blobs/" + Registry.sha256(config),
                detail(e, PreconditionFailure.class).getViolations(0).getSubject());

        e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> grpc.manifests.putManifest(PutManifestRequest
                .newBuilder().setNamespace("grpc/manifests").setReference("bad").setMediaType(OCI_MANIFEST)
                .setContent(ByteString.copyFromUtf8("[not a manifest")).build()));
        assertEquals("content", detail(e, BadRequest.class).getFieldViolations(0).getField());

        e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> grpc.manifests.getManifest(GetManifestRequest
                .newBuilder().setNamespace("grpc/manifests").setReference("-bad-tag").build()));
        assertEquals("reference", detail(e, BadRequest.class).getFieldViolations(0).getField());

        assertStatus(Status.Code.NOT_FOUND, () -> grpc.manifests.getManifest(GetManifestRequest.newBuilder()
                .setNamespace("grpc/manifests").setReference("nope").build()));
    }
}
