package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.api.v1.GetEntryRequest;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.api.v1.PutEntryRequest;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code DELETE /api/v1/namespaces/<prefix>} on a real node: a dry run lists without deleting; a
 * purge takes the namespace's tags, manifests, cache entries and the blobs only it used, keeps a
 * blob another namespace uses, and leaves a neighbour whose name merely begins alike.
 */
class PurgeTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";

    @RegisterExtension
    final TestServer server = new TestServer();

    private Registry registry;
    private ManagedChannel channel;
    private EntryCacheGrpc.EntryCacheBlockingStub entries;

    private final byte[] shared = bytes(30_000, 1);
    private final byte[] config = "{\"purge\":\"team/app\"}".getBytes(StandardCharsets.UTF_8);
    // Larger than the 64 KiB kept inline: its file is checked below.
    private final byte[] own = bytes(70_000, 2);
    private final byte[] below = bytes(50_000, 3);
    private final byte[] entryLayer = bytes(20_000, 4);
    private final byte[] neighbour = bytes(10_000, 5);
    private final byte[] otherConfig = "{\"other\":1}".getBytes(StandardCharsets.UTF_8);
    private final String entryKey = Registry.sha256("purge key".getBytes(StandardCharsets.UTF_8));

    @BeforeEach
    void fill() throws Exception {
        registry = new Registry(server.port());
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        entries = EntryCacheGrpc.newBlockingStub(channel);
        // team/app: its own layer and the shared one; team/app/x below it; team/apple beside it;
        // other/app uses the shared layer too.
        push("team/app", "v1", config, own, shared);
        push("team/app/x", "v1", config, below);
        push("team/apple", "v1", otherConfig, neighbour);
        push("other/app", "v1", otherConfig, shared);
        assertEquals(201, registry.pushBlob("team/app", entryLayer));
        entries.putEntry(PutEntryRequest.newBuilder().setNamespace("team/app").setEntry(Entry.newBuilder()
                .setKey(entryKey).addLayers(LayerDescriptor.newBuilder().setDigest(Registry.sha256(entryLayer))
                        .setSize(entryLayer.length).setMediaType("application/vnd.oci.image.layer.v1.tar+gzip")))
                .build());
    }

    @AfterEach
    void closeChannel() {
        channel.shutdownNow();
    }

    @Test
    void aDryRunListsWhatWouldGoAndDeletesNothing() throws Exception {
        JsonNode dry = purge("team/app", true);
        assertEquals(200, dry.path("status").asInt(), dry.toString());
        assertTrue(dry.path("dry_run").asBoolean());
        assertEquals(List.of("team/app", "team/app/x"), strings(dry.path("repositories")));
        assertEquals(2, dry.path("tags").asLong(), dry.toString());
        assertEquals(2, dry.path("manifests").asLong());
        assertEquals(1, dry.path("entries").asLong());
        // config, own, below and the entry's layer; not the layer other/app uses too.
        assertEquals(4, dry.path("blobs").asLong(), dry.toString());
        assertEquals(config.length + own.length + below.length + entryLayer.length, dry.path("bytes").asLong());
        List<String> digests = strings(dry.path("digests"));
        assertFalse(digests.contains(Registry.sha256(shared)), digests.toString());
        assertTrue(digests.contains(Registry.sha256(entryLayer)), digests.toString());

        assertEquals(200, registry.get("/v2/team/app/manifests/v1").statusCode(), "a dry run deletes nothing");
        assertEquals(200, registry.get("/v2/team/app/x/manifests/v1").statusCode());
        assertEquals(200, registry.head("/v2/team/app/blobs/" + Registry.sha256(own)));
        assertTrue(Files.exists(blobFile(own)));
        assertEquals(entryKey, entries.getEntry(GetEntryRequest.newBuilder().setNamespace("team/app")
                .setKey(entryKey).build()).getEntry().getKey());
    }

    @Test
    void aPurgeTakesTheNamespaceAndKeepsWhatOthersUse() throws Exception {
        JsonNode done = purge("team/app", false);
        assertEquals(200, done.path("status").asInt(), done.toString());
        assertFalse(done.path("dry_run").asBoolean());
        assertEquals(4, done.path("blobs").asLong(), done.toString());

        for (String repo : new String[] {"team/app", "team/app/x"}) {
            assertEquals(404, registry.get("/v2/" + repo + "/manifests/v1").statusCode(), repo);
            assertEquals(404, registry.get("/v2/" + repo + "/tags/list").statusCode(), repo + " is unknown now");
        }
        for (byte[] gone : new byte[][] {config, own, below, entryLayer}) {
            assertEquals(404, registry.head("/v2/team/app/blobs/" + Registry.sha256(gone)));
            assertFalse(Files.exists(blobFile(gone)), "the file of a blob only the namespace used is gone");
        }
        StatusRuntimeException miss = assertThrows(StatusRuntimeException.class, () -> entries.getEntry(
                GetEntryRequest.newBuilder().setNamespace("team/app").setKey(entryKey).build()));
        assertEquals(Status.Code.NOT_FOUND, miss.getStatus().getCode());

        HttpResponse<byte[]> keptShared = registry.get("/v2/other/app/blobs/" + Registry.sha256(shared));
        assertEquals(200, keptShared.statusCode(), "another namespace's blob stays");
        assertEquals(200, registry.get("/v2/other/app/manifests/v1").statusCode());
        assertEquals(200, registry.get("/v2/team/apple/manifests/v1").statusCode(), "team/apple is not below team/app");
        assertEquals(200, registry.head("/v2/team/apple/blobs/" + Registry.sha256(neighbour)));
        String catalog = Registry.utf8(registry.get("/v2/_catalog").body());
        assertFalse(catalog.contains("\"team/app\"") || catalog.contains("\"team/app/x\""), catalog);
        assertTrue(catalog.contains("\"team/apple\"") && catalog.contains("\"other/app\""), catalog);

        JsonNode again = purge("team/app", true);
        assertEquals(0, again.path("tags").asLong() + again.path("manifests").asLong() + again.path("entries").asLong()
                + again.path("blobs").asLong(), "nothing left: " + again);
    }

    @Test
    void anEmptyOrMalformedPrefixIsRefused() throws Exception {
        assertEquals(400, delete("/api/v1/namespaces/").statusCode());
        assertEquals(400, delete("/api/v1/namespaces").statusCode());
        assertEquals(400, delete("/api/v1/namespaces/Team").statusCode());
        assertEquals(405, registry.get("/api/v1/namespaces/team").statusCode(), "only DELETE");
        assertEquals(200, registry.get("/v2/team/app/manifests/v1").statusCode());
    }

    private JsonNode purge(String prefix, boolean dryRun) throws Exception {
        HttpResponse<byte[]> r = delete("/api/v1/namespaces/" + prefix + (dryRun ? "?dry_run=true" : ""));
        JsonNode body = JSON.readTree(r.body());
        ((com.fasterxml.jackson.databind.node.ObjectNode) body).put("status", r.statusCode());
        return body;
    }

    private HttpResponse<byte[]> delete(String path) throws Exception {
        return registry.send(HttpRequest.newBuilder(registry.uri(path)).DELETE());
    }

    private void push(String repo, String tag, byte[] configBlob, byte[]... layers) throws Exception {
        assertEquals(201, registry.pushBlob(repo, configBlob));
        for (byte[] l : layers) {
            assertEquals(201, registry.pushBlob(repo, l));
        }
        assertEquals(201, registry.pushManifest(repo, tag, MANIFEST_TYPE, Registry.imageManifest(configBlob, layers)));
    }

    private Path blobFile(byte[] blob) {
        String hex = Registry.sha256(blob).substring("sha256:".length());
        return server.dataDir().resolve("blobs/sha256").resolve(hex.substring(0, 2)).resolve(hex);
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
