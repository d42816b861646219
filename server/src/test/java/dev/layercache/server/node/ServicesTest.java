package dev.layercache.server.node;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.cluster.BucketHealth;
import dev.layercache.server.cluster.SharedKeyValueStore;
import dev.layercache.server.cluster.TieredBlobBackend;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.Digest;
import dev.layercache.server.http.HttpSurface;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.storage.FileObjectStore;
import dev.layercache.server.testing.EmbeddedHttp;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.TestServices;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The wiring of a node's services over its stores ({@link Stores}, {@link Services}), as
 * {@code LayerCacheServer} builds them, checked without a port: which stores each graph works
 * on, and the links made after construction (lost bytes repaired through the local graph, the
 * start-up check, the copies a cluster node keeps).
 */
class ServicesTest {
    private static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

    @RegisterExtension
    final TestServices node = new TestServices();
    @TempDir
    Path dir;
    private final List<AutoCloseable> closing = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static Http.Reply pushBlob(EmbeddedHttp http, String repo, byte[] bytes) {
        return http.exchange("POST", "/v2/" + repo + "/blobs/uploads/?digest=" + Digest.sha256(bytes),
                List.of("Content-Type: application/octet-stream"), bytes);
    }

    private static String manifest(byte[] config, byte[] layer) {
        return "{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\",\"config\":{\"mediaType\":"
                + "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + Digest.sha256(config)
                + "\",\"size\":" + config.length + "},\"layers\":[{\"mediaType\":"
                + "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" + Digest.sha256(layer)
                + "\",\"size\":" + layer.length + "}]}";
    }

    /** A cluster node's stores and services over {@code bucket}, in a folder of its own. */
    private Services clusterNode(String name, FileObjectStore bucket) throws Exception {
        BucketHealth health = new BucketHealth();
        closing.add(health);
        Path data = dir.resolve(name);
        Stores stores = Stores.clustered(data, bucket, health, Clock.systemUTC());
        closing.add(stores);
        Services services = Services.over(stores).config(ServerConfig.forTesting(data)).build();
        closing.add(services.lifecycle());
        return services;
    }

    @Test
    void aloneBothGraphsAreOneOverTheNodesOwnStores() {
        Services services = node.services();
        Stores stores = node.stores();
        assertSame(stores.local(), stores.served());
        assertSame(stores.disk(), stores.servedBytes());
        assertSame(services.local(), services.served());
        assertEquals(node.config().lifecycle().maxDisk(), services.lifecycle().settings().maxDisk(),
                "alone, the lifecycle keeps the configured budget");
    }

    @Test
    void aBlobWhoseFileIsLostIsForgottenWithTheManifestsThatNeedIt() throws Exception {
        EmbeddedHttp http = node.http();
        byte[] config = utf8("{\"os\":\"linux\"}");
        // Over 64 KiB, so a file (smaller blobs are kept in the metadata store: InlineBlobsTest).
        byte[] layer = utf8("layer bytes that will be lost ".repeat(3000));
        assertEquals(201, pushBlob(http, "team/app", config).status());
        assertEquals(201, pushBlob(http, "team/app", layer).status());
        assertEquals(201, http.exchange("PUT", "/v2/team/app/manifests/v1", List.of("Content-Type: " + OCI_MANIFEST),
                utf8(manifest(config, layer))).status());
        assertEquals(200, http.exchange("GET", "/v2/team/app/manifests/v1", List.of(), null).status());

        Files.delete(node.stores().layout().blob(Digest.sha256(layer)));

        assertEquals(404, http.exchange("HEAD", "/v2/team/app/blobs/" + Digest.sha256(layer), List.of(), null)
                .status(), "a blob without its file is not there");
        Http.Reply manifest = http.exchange("GET", "/v2/team/app/manifests/v1", List.of(), null);
        assertEquals(404, manifest.status(), "the manifest that needs it is forgotten too: " + manifest.text());
        assertEquals(200, http.exchange("HEAD", "/v2/team/app/blobs/" + Digest.sha256(config), List.of(), null)
                .status(), "the other blob stays");
    }

    @Test
    void theStartUpCheckHasRunWhenTheServicesAreBuilt() throws Exception {
        Path data = dir.resolve("node");
        byte[] orphan = utf8("a blob file whose record was never written");
        Digest digest = Digest.sha256(orphan);
        Stores first = Stores.alone(data);
        first.close();
        Path file = first.layout().blob(digest);
        Files.createDirectories(file.getParent());
        Files.write(file, orphan);

        Stores stores = Stores.alone(data);
        closing.add(stores);
        Services services = Services.over(stores).config(ServerConfig.forTesting(data)).build();
        closing.add(services.lifecycle());
        assertEquals(1, services.lifecycle().status().startupCheck().filesAdopted());
        assertEquals(orphan.length, new BlobIndex(stores.local()).size(digest), "adopted into the node's own store");
    }

    @Test
    void inAClusterTheServedGraphWorksOnTheBucketAndTheLocalOnTheNodesCopies() throws Exception {
        Files.createDirectories(dir.resolve("bucket"));
        FileObjectStore bucket = FileObjectStore.open(dir.resolve("bucket"));
        closing.add(bucket);
        Services a = clusterNode("a", bucket);
        assertTrue(a.stores().clustered());
        assertTrue(a.stores().served() instanceof SharedKeyValueStore);
        assertTrue(a.stores().servedBytes() instanceof TieredBlobBackend);
        assertNotSame(a.served(), a.local());
        assertNotSame(a.served().blobs(), a.local().blobs());
        assertEquals(ServerConfig.DiskShare.ofPercent(50), a.lifecycle().settings().maxDisk(),
                "a cluster node's disk is a copy: it gets a budget even when none is configured");

        byte[] bytes = utf8("a layer pushed to one node and pulled from another");
        Digest digest = Digest.sha256(bytes);
        assertEquals(201, pushBlob(new EmbeddedHttp(HttpSurface.over(a).build()), "team/app", bytes).status());
        assertEquals(bytes.length, bucket.size(TieredBlobBackend.object(digest)), "the blob is in the bucket");

        Services b = clusterNode("b", bucket);
        List<Long> copied = new CopyOnWriteArrayList<>();
        b.stores().whenCopiedToDisk(copied::add);
        assertEquals(-1, new BlobIndex(b.stores().local()).size(digest));
        Http.Reply pulled = new EmbeddedHttp(HttpSurface.over(b).build())
                .exchange("GET", "/v2/team/app/blobs/" + digest, List.of(), null);
        assertEquals(200, pulled.status());
        assertArrayEquals(bytes, pulled.body());
        assertEquals(List.of((long) bytes.length), copied, "the copy on b's disk is counted towards its budget");
        assertEquals(bytes.length, new BlobIndex(b.stores().local()).size(digest),
                "and recorded in b's own store, where its lifecycle can evict it");
    }
}
