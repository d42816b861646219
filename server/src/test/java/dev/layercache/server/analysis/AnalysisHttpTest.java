package dev.layercache.server.analysis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code /api/v1/analysis} and {@code /api/v1/sharing} of a real node in this JVM, fed with
 * hand-made layers pushed over the OCI API: findings, caching (in memory and across a restart),
 * errors for corrupt and missing layers, indexes, BuildKit cache manifests, sharing.
 */
class AnalysisHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    private static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";

    @RegisterExtension
    final TestServer server = new TestServer();

    private Registry registry() {
        return new Registry(server.port());
    }

    private static String config(String... createdBy) {
        StringBuilder h = new StringBuilder();
        for (String c : createdBy) {
            h.append(h.length() == 0 ? "" : ",").append("{\"created_by\":").append(com.fasterxml.jackson.databind.node.TextNode.valueOf(c).toString()).append('}');
        }
        return "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},"
                + "\"history\":[{\"created_by\":\"/bin/sh -c #(nop)  CMD [\\\"sh\\\"]\",\"empty_layer\":true},"
                + h + "]}";
    }

    /** Pushes the blobs and an image manifest with layers of the given media types; returns its digest. */
    private String pushImage(String repo, String tag, String config, List<String> types, byte[]... layers)
            throws Exception {
        Registry r = registry();
        byte[] cfg = config.getBytes();
        assertEquals(201, r.pushBlob(repo, cfg));
        StringBuilder sb = new StringBuilder("{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\","
                + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\""
                + Registry.sha256(cfg) + "\",\"size\":" + cfg.length + "},\"layers\":[");
        for (int i = 0; i < layers.length; i++) {
            assertEquals(201, r.pushBlob(repo, layers[i]));
            sb.append(i > 0 ? "," : "").append("{\"mediaType\":\"").append(types.get(i)).append("\",\"digest\":\"")
                    .append(Registry.sha256(layers[i])).append("\",\"size\":").append(layers[i].length).append('}');
        }
        String manifest = sb.append("]}").toString();
        assertEquals(201, r.pushManifest(repo, tag, OCI_MANIFEST, manifest));
        return Registry.sha256(manifest.getBytes());
    }

    private JsonNode get(String path, int status) throws Exception {
        HttpResponse<byte[]> res = registry().get(path);
        assertEquals(status, res.statusCode(), path + ": " + Registry.utf8(res.body()));
        return JSON.readTree(res.body());
    }

    private static final byte[] BASE = new Layers().dir("bin").file("bin/busybox", 50_000).file("etc/passwd", "root:x:0:0\n").gzip();

    @Test
    void anImageIsAnalysedOnceAndServedFromTheCacheAfter() throws Exception {
        byte[] secrets = new Layers().dir("root/.aws").file("root/.aws/credentials", "[default]\nkey=AKIA\n")
                .file("data/big.bin", 200_000).tar();
        byte[] cleanup = new Layers().whiteout("root/.aws/credentials").file("data/big.bin", 200_001)
                .file("var/lib/apt/lists/x_InRelease", 1000).zstd();
        String digest = pushImage("team/app", "v1",
                config("/bin/sh -c #(nop) ADD file:base in /", "/bin/sh -c #(nop) COPY dir:abc in /",
                        "|0 /bin/sh -c rm /root/.aws/credentials"),
                List.of("application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar",
                        "application/vnd.oci.image.layer.v1.tar+zstd"),
                BASE, secrets, cleanup);

        JsonNode a = get("/api/v1/analysis/team/app/v1", 200);
        assertEquals("team/app", a.get("repository").asText());
        assertEquals("v1", a.get("reference").asText());
        assertEquals(digest, a.get("manifest_digest").asText());
        assertEquals("image", a.get("kind").asText());
        assertFalse(a.get("cached").asBoolean(), "first analysis is computed");
        JsonNode layers = a.get("layers");
        assertEquals(3, layers.size());
        assertEquals(List.of("gzip", "none", "zstd"), texts(layers, "compression"));
        assertEquals("/bin/sh -c #(nop) COPY dir:abc in /", layers.get(1).get("instruction").asText(),
                "instructions come from the non-empty history entries, in order");
        assertEquals("|0 /bin/sh -c rm /root/.aws/credentials", layers.get(2).get("instruction").asText());
        assertEquals(BASE.length, layers.get(0).get("compressed_size").asLong());
        assertTrue(layers.get(0).get("uncompressed_size").asLong() > 50_000);
        JsonNode secret = a.get("secrets").get(0);
        assertEquals("critical", secret.get("severity").asText());
        assertEquals("/root/.aws/credentials", secret.get("path").asText());
        assertEquals(1, secret.get("layer").asInt());
        assertEquals(2, secret.get("removed_in_layer").asInt());
        assertEquals(200_000 + "[default]\nkey=AKIA\n".length(), a.get("totals").get("wasted_bytes").asLong());
        assertEquals("/data/big.bin", a.get("wasted").get("top").get(0).get("path").asText());
        assertEquals("apt-lists", a.get("caches").get(0).get("kind").asText());
        assertEquals(2, a.get("caches").get(0).get("layer").asInt());

        // By digest: the same analysis, now from the cache.
        JsonNode again = get("/api/v1/analysis/team/app/" + digest, 200);
        assertTrue(again.get("cached").asBoolean());
        assertEquals(a.get("totals"), again.get("totals"));

        // Served without reading a blob: with a layer gone from the repository it still answers.
        String layerDigest = Registry.sha256(secrets);
        HttpResponse<byte[]> del = registry().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + server.port() + "/v2/team/app/blobs/" + layerDigest)).DELETE());
        assertEquals(202, del.statusCode());
        assertTrue(get("/api/v1/analysis/team/app/v1", 200).get("cached").asBoolean());

        // And after a restart (memory cache empty), from the persistent table.
        server.restart();
        JsonNode restarted = get("/api/v1/analysis/team/app/v1", 200);
        assertTrue(restarted.get("cached").asBoolean(), "the analysis survives a restart");
        assertEquals(a.get("secrets"), restarted.get("secrets"));
    }

    @Test
    void aMissingLayerOrACorruptOneIsAClearErrorAndNothingIsCached() throws Exception {
        byte[] layer = new Layers().file("app/x", 10).gzip();
        pushImage("team/missing", "v1", config("a", "b"), List.of("application/vnd.oci.image.layer.v1.tar+gzip",
                "application/vnd.oci.image.layer.v1.tar+gzip"), BASE, layer);
        registry().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                + "/v2/team/missing/blobs/" + Registry.sha256(layer))).DELETE());
        JsonNode missing = get("/api/v1/analysis/team/missing/v1", 404);
        JsonNode err = missing.get("errors").get(0);
        assertEquals("BLOB_UNKNOWN", err.get("code").asText());
        assertTrue(err.get("message").asText().contains(Registry.sha256(layer)), err.toString());

        byte[] good = Layers.gzip(new Layers().file("a", 300_000).tar());
        byte[] truncated = java.util.Arrays.copyOf(good, good.length - 40);
        pushImage("team/corrupt", "v1", config("a", "b"), List.of("application/vnd.oci.image.layer.v1.tar+gzip",
                "application/vnd.oci.image.layer.v1.tar+gzip"), BASE, truncated);
        for (int i = 0; i < 2; i++) {
            JsonNode e = get("/api/v1/analysis/team/corrupt/v1", 422).get("errors").get(0);
            assertEquals("LAYER_INVALID", e.get("code").asText());
            assertTrue(e.get("message").asText().contains("layer 1 (" + Registry.sha256(truncated) + ")"), e.toString());
        }

        assertEquals("MANIFEST_UNKNOWN", get("/api/v1/analysis/team/app/nope", 404).get("errors").get(0)
                .get("code").asText());
        assertEquals("MANIFEST_UNKNOWN", get("/api/v1/analysis/no/such/repo/latest", 404).get("errors").get(0)
                .get("code").asText());
        assertEquals(404, registry().get("/api/v1/analysis/justone").statusCode());
    }

    @Test
    void anIndexIsAnalysedPerPlatformAndABuildKitCacheAsItsLayers() throws Exception {
        byte[] amd = new Layers().file("bin/app", 1000).gzip();
        byte[] arm = new Layers().file("bin/app", 900).file(".env", "X=1").gzip();
        String gz = "application/vnd.oci.image.layer.v1.tar+gzip";
        String d1 = pushImage("multi/app", "amd64", config("base", "COPY app"), List.of(gz, gz), BASE, amd);
        String d2 = pushImage("multi/app", "arm64", config("base", "COPY app"), List.of(gz, gz), BASE, arm);
        String index = "{\"schemaVersion\":2,\"mediaType\":\"" + OCI_INDEX + "\",\"manifests\":["
                + child("multi/app", d1, "amd64") + "," + child("multi/app", d2, "arm64") + "]}";
        assertEquals(201, registry().pushManifest("multi/app", "latest", OCI_INDEX, index));
        JsonNode all = get("/api/v1/analysis/multi/app/latest", 200);
        assertEquals("index", all.get("kind").asText());
        assertEquals(List.of("linux/amd64", "linux/arm64"), texts(all.get("manifests"), "platform"));
        assertEquals(1, all.get("manifests").get(1).get("secrets").size());
        JsonNode one = get("/api/v1/analysis/multi/app/latest?platform=linux/arm64", 200);
        assertEquals(1, one.get("manifests").size());
        assertEquals(d2, one.get("manifests").get(0).get("manifest_digest").asText());
        assertTrue(one.get("manifests").get(0).get("cached").asBoolean());
        JsonNode none = get("/api/v1/analysis/multi/app/latest?platform=linux/s390x", 400);
        assertTrue(none.get("errors").get(0).get("message").asText().contains("linux/amd64"));

        // A BuildKit registry cache: an image manifest whose config is the cache config.
        Registry r = registry();
        byte[] cacheConfig = "{\"layers\":[{\"blob\":\"x\",\"parent\":-1}],\"records\":[]}".getBytes();
        assertEquals(201, r.pushBlob("cache/app", cacheConfig));
        assertEquals(201, r.pushBlob("cache/app", BASE));
        assertEquals(201, r.pushBlob("cache/app", arm));
        String cache = "{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\",\"config\":{\"mediaType\":"
                + "\"application/vnd.buildkit.cacheconfig.v0\",\"digest\":\"" + Registry.sha256(cacheConfig)
                + "\",\"size\":" + cacheConfig.length + "},\"layers\":[" + layer(BASE) + "," + layer(arm) + "]}";
        assertEquals(201, r.pushManifest("cache/app", "buildcache", OCI_MANIFEST, cache));
        JsonNode c = get("/api/v1/analysis/cache/app/buildcache", 200);
        assertEquals("buildkit-cache", c.get("kind").asText());
        assertEquals(List.of("unknown", "unknown"), texts(c.get("layers"), "instruction"));
        assertEquals("/.env", c.get("secrets").get(0).get("path").asText());

        // The older BuildKit form: an index listing the layer blobs and the cache config blob.
        String cacheIndex = "{\"schemaVersion\":2,\"mediaType\":\"" + OCI_INDEX + "\",\"manifests\":["
                + layer(BASE) + "," + layer(arm) + ",{\"mediaType\":\"application/vnd.buildkit.cacheconfig.v0\","
                + "\"digest\":\"" + Registry.sha256(cacheConfig) + "\",\"size\":" + cacheConfig.length + "}]}";
        assertEquals(201, r.pushManifest("cache/app", "indexcache", OCI_INDEX, cacheIndex));
        JsonNode ci = get("/api/v1/analysis/cache/app/indexcache", 200);
        assertEquals("buildkit-cache", ci.get("kind").asText());
        assertEquals(2, ci.get("layers").size());
        assertEquals(c.get("totals"), ci.get("totals"), "the same layers, the same findings");
    }

    @Test
    void aLayerSharedByTwoRepositoriesIsStoredOnceAndListedWithBoth() throws Exception {
        String gz = "application/vnd.oci.image.layer.v1.tar+gzip";
        byte[] a = new Layers().file("srv/a", 5000).gzip();
        byte[] b = new Layers().file("srv/b", 7000).gzip();
        pushImage("team/a", "v1", config("base", "a"), List.of(gz, gz), BASE, a);
        pushImage("team/b", "v1", config("base", "b"), List.of(gz, gz), BASE, b);
        JsonNode s = get("/api/v1/sharing", 200);
        long logical = 2L * BASE.length + a.length + b.length;
        long physical = (long) BASE.length + a.length + b.length;
        assertEquals(logical, s.get("logical_bytes").asLong(), s.toString());
        assertEquals(physical, s.get("physical_bytes").asLong());
        assertEquals(logical - physical, s.get("saved_bytes").asLong());
        assertEquals(2, s.get("manifests").asLong());
        assertEquals(1, s.get("shared_layers").asLong());
        JsonNode top = s.get("top_shared").get(0);
        assertEquals(Registry.sha256(BASE), top.get("digest").asText());
        assertEquals(List.of("team/a", "team/b"), texts(top.get("repositories"), null));
        assertEquals(2, top.get("references").asLong());
        JsonNode repoA = s.get("by_repository").get(0).get("repository").asText().equals("team/a")
                ? s.get("by_repository").get(0) : s.get("by_repository").get(1);
        assertEquals(a.length, repoA.get("unique_bytes").asLong());
        assertEquals(BASE.length, repoA.get("shared_bytes").asLong());
    }

    /** An index's descriptor of a pushed manifest, with its true size (the registry checks it). */
    private String child(String repo, String digest, String arch) throws Exception {
        int size = registry().get("/v2/" + repo + "/manifests/" + digest).body().length;
        return "{\"mediaType\":\"" + OCI_MANIFEST + "\",\"digest\":\"" + digest + "\",\"size\":" + size + ","
                + "\"platform\":{\"os\":\"linux\",\"architecture\":\"" + arch + "\"}}";
    }

    private static String layer(byte[] b) {
        return "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" + Registry.sha256(b)
                + "\",\"size\":" + b.length + "}";
    }

    private static List<String> texts(JsonNode array, String field) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(field == null ? n.asText() : n.get(field).asText()));
        return out;
    }
}
