package dev.layercache.server.metrics;

import static dev.layercache.server.metrics.MetricsEndToEndTest.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.layercache.api.v1.BatchUpdateBlobsRequest;
import dev.layercache.api.v1.BlobData;
import dev.layercache.api.v1.FindMissingBlobsRequest;
import dev.layercache.api.v1.GetEntryRequest;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.function.Executable;

/**
 * Issue 18: requests that were refused (401, 403), that named an invalid repository, or that
 * looked up a namespace nobody ever pushed to take none of the {@code metrics-max-namespaces}
 * slots, so the tenants who really push get theirs; a push to a new repository does take one.
 * Both surfaces, a real node with access rules, at most 3 namespaces.
 */
class NamespaceNoiseTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    final TestServer server = new TestServer(c -> c.withAuth(Tenants.auth())
            .withMetrics(new ServerConfig.Metrics(true, 1, 3)));

    private ManagedChannel channel;

    @BeforeEach
    void connect() {
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void noiseTakesNoSlotAndRealTenantsGetTheirs() throws Throwable {
        int port = server.port();
        byte[] blob = "a layer".getBytes(StandardCharsets.UTF_8);
        String digest = Registry.sha256(blob);
        String unknown = Registry.sha256("nobody pushed this".getBytes(StandardCharsets.UTF_8));

        // Refused: without credentials (401), with wrong ones (401), without the right (403).
        assertEquals(401, Tenants.http(port, null, "GET", "/v2/noise1/app/manifests/latest", null).status());
        assertEquals(401, Http.exchange(port, "HEAD", "/v2/noise2/app/manifests/latest",
                java.util.List.of("Authorization: Bearer not-a-token"), null).status());
        assertEquals(403, Tenants.http(port, "ci-pr", "GET", "/v2/noise3/app/blobs/" + unknown, null).status());
        assertEquals(403, Tenants.http(port, "ci-pr", "POST", "/v2/noise4/app/blobs/uploads/?digest=" + digest,
                blob).status());
        assertEquals(403, Tenants.http(port, "ci-main", "PUT", "/v2/noise5/app/manifests/v1", "{}".getBytes(
                StandardCharsets.UTF_8), "Content-Type: application/vnd.oci.image.manifest.v1+json").status());
        // Names that are not repository names, from a client allowed everything (each was seen as a label).
        for (String name : new String[] {"%3Cimg", "team%2F..%2Fother", "/x", "UPPER/case"}) {
            int status = Tenants.http(port, "ops", "GET", "/v2/" + name + "/manifests/latest", null).status();
            assertEquals(400, status, name);
            assertEquals(400, Tenants.http(port, "ops", "POST", "/v2/" + name + "/blobs/uploads/?digest=" + digest,
                    blob).status(), name);
        }
        assertEquals(400, Http.exchange(port, "GET", "/v2/<img/manifests/latest",
                java.util.List.of("Authorization: Bearer ops-token"), null).status());
        // Authorised pulls of repositories nobody ever pushed: misses, counted under "other" (the
        // HEAD of a blob is an existence check, not a lookup, and takes no slot either).
        assertEquals(404, Tenants.http(port, "ops", "HEAD", "/v2/ghost1/app/manifests/latest", null).status());
        assertEquals(404, Tenants.http(port, "ops", "GET", "/v2/ghost2/app/manifests/" + unknown, null).status());
        assertEquals(404, Tenants.http(port, "ops", "HEAD", "/v2/ghost3/app/blobs/" + unknown, null).status());
        assertEquals(404, Tenants.http(port, "ops", "GET", "/v2/ghost4/blobs/" + unknown, null).status());
        // An authorised push that fails (the digest does not match) creates no repository either.
        assertEquals(400, Tenants.http(port, "ops", "POST", "/v2/ghost5/app/blobs/uploads/?digest=" + unknown,
                blob).status());
        // gRPC: refused calls, and a lookup and an existence check in namespaces nobody pushed to.
        assertStatus(Status.Code.UNAUTHENTICATED, () -> Tenants.blobs(channel, null).findMissingBlobs(
                FindMissingBlobsRequest.newBuilder().setNamespace("noise6/app").addDigests(unknown).build()));
        assertStatus(Status.Code.PERMISSION_DENIED, () -> Tenants.entries(channel, "ci-pr").getEntry(
                GetEntryRequest.newBuilder().setNamespace("noise7/app").setKey(unknown).build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, () -> Tenants.blobs(channel, "ops").findMissingBlobs(
                FindMissingBlobsRequest.newBuilder().setNamespace("Noise8/../x").addDigests(unknown).build()));
        assertStatus(Status.Code.NOT_FOUND, () -> Tenants.entries(channel, "ops").getEntry(
                GetEntryRequest.newBuilder().setNamespace("ghost6/app").setKey(unknown).build()));
        assertEquals(1, Tenants.blobs(channel, "ops").findMissingBlobs(FindMissingBlobsRequest.newBuilder()
                .setNamespace("ghost7").addDigests(unknown).build()).getMissingCount());

        // The real tenants: each push to a new repository takes a slot, on either surface.
        assertEquals(201, Tenants.http(port, "ci-main", "POST", "/v2/team/app/blobs/uploads/?digest=" + digest,
                blob).status());
        assertEquals(201, Tenants.chunkedPush(port, "alice", "alice", blob));
        assertEquals(Status.Code.OK.value(), Tenants.blobs(channel, "ops").batchUpdateBlobs(
                BatchUpdateBlobsRequest.newBuilder().setNamespace("infra/base").addBlobs(BlobData.newBuilder()
                        .setDigest(digest).setData(ByteString.copyFrom(blob))).build()).getBlobs(0).getStatus().getCode());
        // And their lookups and existence checks count under their own label.
        assertEquals(200, Tenants.http(port, "ci-pr", "HEAD", "/v2/team/app/blobs/" + digest, null).status());
        assertEquals(404, Tenants.http(port, "ci-pr", "HEAD", "/v2/team/new/manifests/latest", null).status());
        assertEquals(200, Tenants.http(port, "alice", "GET", "/v2/alice/blobs/" + digest, null).status());
        assertEquals(0, Tenants.blobs(channel, "ops").findMissingBlobs(FindMissingBlobsRequest.newBuilder()
                .setNamespace("infra/base").addDigests(digest).build()).getMissingCount());

        eventually(() -> {
            PrometheusText m = Tenants.scrape(port, "prometheus");
            assertEquals(Set.of("team", "alice", "other"),
                    Tenants.labelValues(m, "layercache_namespace_lookups_total", "namespace"));
            assertEquals(Set.of("team", "infra", "other"),
                    Tenants.labelValues(m, "layercache_namespace_existence_checks_total", "namespace"));
            assertEquals(3, m.value("layercache_namespace_lookups_total", "namespace", "other", "surface", "oci",
                    "result", "miss"), "the pulls of ghost1, ghost2 and ghost4");
            assertEquals(1, m.value("layercache_namespace_existence_checks_total", "namespace", "other", "surface",
                    "oci", "result", "miss"), "the HEAD of a blob in ghost3");
            assertEquals(1, m.value("layercache_namespace_lookups_total", "namespace", "other", "surface", "grpc",
                    "result", "miss"), "GetEntry in ghost6");
            assertEquals(1, m.value("layercache_namespace_existence_checks_total", "namespace", "other", "surface",
                    "grpc", "result", "miss"), "FindMissingBlobs in ghost7");
            assertEquals(1, m.value("layercache_namespace_lookups_total", "namespace", "team", "result", "miss"),
                    "a miss in a namespace with a label counts under it, whether its repository exists or not");
            // Refused and invalid requests are no lookups or existence checks at all; the misses of "other" are.
            assertEquals(4, m.value("layercache_lookups_total", "surface", "oci", "result", "miss"));
            assertEquals(1, m.value("layercache_lookups_total", "surface", "grpc", "result", "miss"));
            assertEquals(1, m.value("layercache_existence_checks_total", "surface", "oci", "result", "miss"));
            assertEquals(1, m.value("layercache_existence_checks_total", "surface", "grpc", "result", "miss"));

            JsonNode stats = JSON.readTree(Tenants.http(port, "prometheus", "GET", "/api/v1/stats", null).body());
            Set<String> listed = new TreeSet<>();
            stats.get("namespaces").forEach(n -> listed.add(n.get("namespace").asText()));
            assertEquals(new TreeSet<>(Set.of("team", "alice", "infra", "other")), listed);
            long otherReceived = 0;
            for (JsonNode n : stats.get("namespaces")) {
                if (n.get("namespace").asText().equals("other")) {
                    otherReceived = n.get("windows").get("5m").get("received_bytes").asLong();
                }
            }
            assertEquals(blob.length, otherReceived, "the failed push to ghost5: received, under other");
        });
    }

    private static void assertStatus(Status.Code code, Executable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
    }
}
