package dev.layercache.server.buildkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.core.manifest.CacheConfig;
import dev.layercache.server.core.manifest.ManifestParser;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * BuildKit's {@code --cache-to type=registry} and {@code --cache-from type=registry}, reproduced
 * request by request (no standalone BuildKit binary exists on these machines). The requests follow
 * containerd's pusher and fetcher ({@code core/remotes/docker/pusher.go}, {@code resolver.go}),
 * which BuildKit's registry cache exporter and importer use:
 *
 * <ul>
 *   <li>push of a blob: {@code HEAD blobs/<d>} with {@code Accept: <type>, *}{@code /*}; if 404,
 *       {@code POST blobs/uploads/} (with {@code ?mount=&from=} when the layer came from another
 *       repository, using the 202 fallback session if the mount fails), then one
 *       {@code PUT <location>?digest=} with the whole body and {@code Content-Type:
 *       application/octet-stream};
 *   <li>push of the cache manifest or index: {@code HEAD manifests/<tag>}; unless it answers 200
 *       with the same {@code Docker-Content-Digest}, {@code PUT manifests/<tag>};
 *   <li>import: {@code HEAD manifests/<tag>} with the comma-joined Accept list ending in
 *       {@code *}{@code /*}, {@code GET manifests/<digest>}, then the cache config and the layers
 *       as blobs, a layer download resumed with {@code Range}.
 * </ul>
 *
 * Both shapes of the export are covered: an OCI image manifest whose config has media type
 * {@code application/vnd.buildkit.cacheconfig.v0} ({@code image-manifest=true}), and an OCI image
 * index whose {@code manifests[]} lists the layer blobs and the cache config ({@code
 * image-manifest=false}, the default of older BuildKit).
 */
class BuildKitRegistryCacheTest {
    private static final String CACHE_CONFIG = "application/vnd.buildkit.cacheconfig.v0";
    private static final String LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
    private static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    private static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
    /** What containerd's resolver sends when it resolves a reference. */
    private static final String RESOLVE_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json, "
            + "application/vnd.docker.distribution.manifest.list.v2+json, " + OCI_MANIFEST + ", " + OCI_INDEX + ", */*";

    @RegisterExtension
    static final TestServer server = new TestServer();

    private record Blob(String mediaType, byte[] content, String annotations) {
        String digest() {
            return Registry.sha256(content);
        }

        String descriptor() {
            return "{\"mediaType\":\"" + mediaType + "\",\"digest\":\"" + digest() + "\",\"size\":" + content.length
                    + (annotations == null ? "" : ",\"annotations\":" + annotations) + "}";
        }
    }

    @Test
    void imageManifestShapeRoundTrips() throws Exception {
        List<Blob> layers = layers(3, 1);
        Blob config = cacheConfig(layers);
        String manifest = "{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\",\"config\":"
                + config.descriptor() + ",\"layers\":[" + String.join(",", layers.stream().map(Blob::descriptor).toList())
                + "]}";
        exportAndImport("buildkit/manifest-shape", "buildcache", layers, config, OCI_MANIFEST, manifest);
    }

    @Test
    void indexOfBlobsShapeRoundTrips() throws Exception {
        List<Blob> layers = layers(3, 2);
        Blob config = cacheConfig(layers);
        List<String> children = new ArrayList<>(layers.stream().map(Blob::descriptor).toList());
        children.add(config.descriptor());
        String index = "{\"schemaVersion\":2,\"mediaType\":\"" + OCI_INDEX + "\",\"manifests\":["
                + String.join(",", children) + "]}";
        exportAndImport("buildkit/index-shape", "buildcache", layers, config, OCI_INDEX, index);
    }

    @Test
    void layerFromABaseRepositoryIsMountedNotUploaded() throws Exception {
        Blob base = layers(1, 3).get(0);
        assertEquals(201, new Registry(server.port()).pushBlob("buildkit/base", base.content()));
        Http.Reply mount = Http.exchange(server.port(), "POST",
                "/v2/buildkit/mounted/blobs/uploads/?mount=" + base.digest() + "&from=buildkit/base", List.of(), null);
        assertEquals(201, mount.status(), mount.text());
        assertEquals(base.digest(), mount.header("Docker-Content-Digest"));
        assertEquals(200, head("/v2/buildkit/mounted/blobs/" + base.digest(), base.mediaType()).status());

        // A mount from a repository that lacks the blob answers with a session to upload into.
        Blob fresh = layers(1, 4).get(0);
        Http.Reply fallback = Http.exchange(server.port(), "POST",
                "/v2/buildkit/mounted/blobs/uploads/?mount=" + fresh.digest() + "&from=buildkit/base", List.of(), null);
        assertEquals(202, fallback.status(), fallback.text());
        Http.Reply put = Http.exchange(server.port(), "PUT", fallback.header("Location") + "?digest=" + fresh.digest(),
                List.of("Content-Type: application/octet-stream"), fresh.content());
        assertEquals(201, put.status(), put.text());
        assertEquals(fresh.digest(), put.header("Docker-Content-Digest"));
    }

    private void exportAndImport(String repo, String tag, List<Blob> layers, Blob config, String type, String json)
            throws Exception {
        byte[] manifest = json.getBytes(StandardCharsets.UTF_8);
        String manifestDigest = Registry.sha256(manifest);

        // Export: layers, then the cache config, then the manifest by tag.
        List<Blob> blobs = new ArrayList<>(layers);
        blobs.add(config);
        for (Blob b : blobs) {
            assertEquals(404, head("/v2/" + repo + "/blobs/" + b.digest(), b.mediaType()).status());
            Http.Reply post = Http.exchange(server.port(), "POST", "/v2/" + repo + "/blobs/uploads/", List.of(), null);
            assertEquals(202, post.status(), post.text());
            Http.Reply put = Http.exchange(server.port(), "PUT", post.header("Location") + "?digest=" + b.digest(),
                    List.of("Content-Type: application/octet-stream"), b.content());
            assertEquals(201, put.status(), put.text());
            assertEquals(b.digest(), put.header("Docker-Content-Digest"));
        }
        assertEquals(404, head("/v2/" + repo + "/manifests/" + tag, type).status());
        Http.Reply pushed = Http.exchange(server.port(), "PUT", "/v2/" + repo + "/manifests/" + tag,
                List.of("Content-Type: " + type), manifest);
        assertEquals(201, pushed.status(), pushed.text());
        assertEquals(manifestDigest, pushed.header("Docker-Content-Digest"));
        assertEquals(null, pushed.header("Warning"), "a clean cache raises no warning");

        // The server recorded the export as a build: the first of its reference, every step built.
        JsonNode build = firstBuild(repo);
        assertEquals("buildkit", build.path("builder").asText(), build.toString());
        assertEquals(tag, build.path("reference").asText());
        assertEquals("first_export", build.path("status").asText());
        assertEquals(layers.size(), build.path("steps").asInt());
        assertEquals(layers.size(), build.path("rebuilt").asInt());
        assertEquals(0, build.path("reused").asInt());
        assertEquals(manifestDigest, build.path("manifest").asText());

        // A second export of the same cache finds everything there and pushes nothing.
        for (Blob b : blobs) {
            Http.Reply exists = head("/v2/" + repo + "/blobs/" + b.digest(), b.mediaType());
            assertEquals(200, exists.status());
            assertEquals(Long.toString(b.content().length), exists.header("Content-Length"));
        }
        Http.Reply manifestExists = head("/v2/" + repo + "/manifests/" + tag, type);
        assertEquals(200, manifestExists.status());
        assertEquals(manifestDigest, manifestExists.header("Docker-Content-Digest"));

        // Import: resolve the tag, fetch the manifest by digest, then the config and the layers.
        Http.Reply resolved = Http.exchange(server.port(), "HEAD", "/v2/" + repo + "/manifests/" + tag,
                List.of("Accept: " + RESOLVE_ACCEPT), null);
        assertEquals(200, resolved.status());
        assertEquals(manifestDigest, resolved.header("Docker-Content-Digest"));
        assertEquals(type, resolved.header("Content-Type"));
        assertEquals(Integer.toString(manifest.length), resolved.header("Content-Length"));
        assertEquals(0, resolved.body().length, "HEAD has no body");

        Http.Reply fetched = Http.exchange(server.port(), "GET", "/v2/" + repo + "/manifests/" + manifestDigest,
                List.of("Accept: " + type + ", */*"), null);
        assertEquals(200, fetched.status());
        assertArrayEquals(manifest, fetched.body(), "manifest served byte for byte");
        assertEquals(type, fetched.header("Content-Type"));

        Http.Reply cfg = Http.exchange(server.port(), "GET", "/v2/" + repo + "/blobs/" + config.digest(),
                List.of("Accept: " + CACHE_CONFIG + ", */*"), null);
        assertEquals(200, cfg.status());
        assertArrayEquals(config.content(), cfg.body());

        for (Blob layer : layers) {
            Http.Reply got = Http.exchange(server.port(), "GET", "/v2/" + repo + "/blobs/" + layer.digest(),
                    List.of("Accept: " + LAYER + ", */*"), null);
            assertEquals(200, got.status());
            assertArrayEquals(layer.content(), got.body());
            assertEquals(layer.digest(), got.header("Docker-Content-Digest"));

            // An interrupted download resumes where it stopped.
            int resumeAt = layer.content().length / 3;
            Http.Reply rest = Http.exchange(server.port(), "GET", "/v2/" + repo + "/blobs/" + layer.digest(),
                    List.of("Accept: " + LAYER + ", */*", "Range: bytes=" + resumeAt + "-"), null);
            assertEquals(206, rest.status());
            assertEquals("bytes " + resumeAt + "-" + (layer.content().length - 1) + "/" + layer.content().length,
                    rest.header("Content-Range"));
            assertArrayEquals(Arrays.copyOfRange(layer.content(), resumeAt, layer.content().length), rest.body());
        }

        Http.Reply tags = Http.exchange(server.port(), "GET", "/v2/" + repo + "/tags/list", List.of(), null);
        assertTrue(tags.text().contains("\"" + tag + "\""), tags.text());
    }

    /** The newest build of {@code repo}: recorded off the push's path, so asked again for a few seconds. */
    private static JsonNode firstBuild(String repo) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (true) {
            Http.Reply r = Http.exchange(server.port(), "GET", "/api/v1/builds?repository=" + repo, List.of(), null);
            assertEquals(200, r.status(), r.text());
            JsonNode builds = new ObjectMapper().readTree(r.body()).path("builds");
            if (builds.size() > 0) {
                return builds.get(0);
            }
            assertTrue(System.nanoTime() < deadline, "no build recorded in " + repo + ": " + r.text());
            Thread.sleep(50);
        }
    }

    private static Http.Reply head(String path, String mediaType) throws Exception {
        return Http.exchange(server.port(), "HEAD", path, List.of("Accept: " + mediaType + ", */*"), null);
    }

    private static List<Blob> layers(int n, long seed) {
        Random r = new Random(seed);
        List<Blob> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byte[] content = new byte[1000 + r.nextInt(300_000)];
            r.nextBytes(content);
            String uncompressed = Registry.sha256(("uncompressed " + seed + i).getBytes(StandardCharsets.UTF_8));
            out.add(new Blob(LAYER, content, "{\"buildkit/createdat\":\"2026-11-28T00:00:00Z\","
                    + "\"containerd.io/uncompressed\":\"" + uncompressed + "\"}"));
        }
        return out;
    }

    /** A cache config (v0) chaining the layers as BuildKit records them. */
    private static Blob cacheConfig(List<Blob> layers) {
        StringBuilder l = new StringBuilder();
        StringBuilder records = new StringBuilder();
        for (int i = 0; i < layers.size(); i++) {
            if (i > 0) {
                l.append(',');
                records.append(',');
            }
            // Go's omitempty: a base layer says -1, a parent of 0 is left out.
            l.append("{\"blob\":\"").append(layers.get(i).digest()).append('"')
                    .append(i == 1 ? "" : ",\"parent\":" + (i - 1)).append('}');
            records.append("{\"digest\":\"").append(Registry.sha256(("step" + i).getBytes(StandardCharsets.UTF_8)))
                    .append("\",\"layers\":[{\"layer\":").append(i).append(",\"createdAt\":\"2026-11-28T00:00:00Z\"}]")
                    .append(i == 0 ? "" : ",\"inputs\":[[{\"link\":" + (i - 1) + "}]]").append('}');
        }
        byte[] json = ("{\"layers\":[" + l + "],\"records\":[" + records + "]}").getBytes(StandardCharsets.UTF_8);
        // Read back as the server reads BuildKit's: one chain, each record's result on its layer.
        CacheConfig parsed = new ManifestParser(new ObjectMapper()).parseCacheConfig(json);
        for (int i = 0; i < layers.size(); i++) {
            assertEquals(i + 1, parsed.chain(parsed.records().get(i).results().get(0).layer()).size());
        }
        return new Blob(CACHE_CONFIG, json, null);
    }
}
