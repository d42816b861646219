package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.OCI_CONFIG;
import static dev.layercache.server.http.Oci.OCI_LAYER;
import static dev.layercache.server.http.Oci.OCI_MANIFEST;
import static dev.layercache.server.http.Oci.imageManifest;
import static dev.layercache.server.http.Oci.sha256;
import static dev.layercache.server.http.Oci.utf8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.registry.AnswerCache;
import dev.layercache.server.testing.TestServer;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Small reads answered from memory on the event loop ({@link FastPath}): the same answers as the
 * request pool's, byte for byte, and never one the store no longer gives after a write.
 */
@Timeout(60)
class FastPathHttpTest {
    @RegisterExtension
    static final TestServer server = new TestServer();
    private final Oci oci = new Oci(server);

    private AnswerCache answers() {
        return server.server().services().answers();
    }

    private byte[] pushImage(String repo, String tag, String seed) {
        Oci.Blob config = oci.pushBlob(repo, OCI_CONFIG, utf8("{\"seed\":\"" + seed + "\"}"));
        Oci.Blob layer = oci.pushBlob(repo, OCI_LAYER, utf8("layer " + seed));
        byte[] m = imageManifest(OCI_MANIFEST, config, layer);
        assertEquals(201, oci.putManifest(repo, tag, OCI_MANIFEST, m).status());
        return m;
    }

    /** The first request goes to the pool (and fills the memory), the second is answered from memory. */
    private void assertSameBothWays(String method, String path, String... headers) {
        Oci.Res pool = method.equals("HEAD") ? oci.head(path, headers) : oci.get(path, headers);
        long hits = answers().hits();
        Oci.Res fast = method.equals("HEAD") ? oci.head(path, headers) : oci.get(path, headers);
        assertEquals(hits + 1, answers().hits(), () -> method + " " + path + " was not answered from memory");
        assertEquals(200, pool.status(), pool::toString);
        assertEquals(pool.status(), fast.status());
        assertEquals(comparable(pool.headers()), comparable(fast.headers()), method + " " + path);
        assertArrayEquals(pool.body(), fast.body(), method + " " + path);
    }

    private static Map<String, List<String>> comparable(Map<String, List<String>> headers) {
        Map<String, List<String>> out = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        headers.forEach((k, v) -> {
            if (k != null && !k.equalsIgnoreCase("date")) {
                out.put(k, v);
            }
        });
        return out;
    }

    @Test
    void answersFromMemoryAreTheAnswersOfThePool() {
        String repo = "fast/same";
        byte[] m = pushImage(repo, "v1", "same");
        pushImage(repo, "v2", "same2");
        assertSameBothWays("GET", "/v2/" + repo + "/manifests/v1");
        assertSameBothWays("HEAD", "/v2/" + repo + "/manifests/v1");
        assertSameBothWays("GET", "/v2/" + repo + "/manifests/" + sha256(m), "Accept", OCI_MANIFEST);
        assertSameBothWays("GET", "/v2/" + repo + "/tags/list");
        assertSameBothWays("GET", "/v2/" + repo + "/tags/list?n=1"); // with its Link header
        assertSameBothWays("GET", "/v2/" + repo + "/tags/list?n=1&last=v1");
        Oci.Blob layer = oci.pushBlob(repo, OCI_LAYER, utf8("layer same"));
        assertSameBothWays("HEAD", "/v2/" + repo + "/blobs/" + layer.digest());
    }

    @Test
    void aMovedTagIsSeenAtOnce() {
        String repo = "fast/moved";
        pushImage(repo, "latest", "a");
        oci.get("/v2/" + repo + "/manifests/latest");
        oci.get("/v2/" + repo + "/tags/list");
        byte[] b = pushImage(repo, "latest", "b");
        pushImage(repo, "other", "c");
        long hits = answers().hits();
        Oci.Res r = oci.get("/v2/" + repo + "/manifests/latest");
        assertEquals(sha256(b), r.header("Docker-Content-Digest"));
        assertArrayEquals(b, r.body());
        assertEquals("{\"name\":\"fast/moved\",\"tags\":[\"latest\",\"other\"]}",
                new String(oci.get("/v2/" + repo + "/tags/list").body(), java.nio.charset.StandardCharsets.UTF_8));
        assertEquals(hits, answers().hits(), "stale answers were given from memory");
    }

    @Test
    void deletedManifestsTagsAndBlobsAreMisses() {
        String repo = "fast/deleted";
        byte[] m = pushImage(repo, "v1", "d");
        pushImage(repo, "v2", "e");
        Oci.Blob layer = oci.pushBlob(repo, OCI_LAYER, utf8("layer d"));
        String byDigest = "/v2/" + repo + "/manifests/" + sha256(m);
        String blob = "/v2/" + repo + "/blobs/" + layer.digest();
        for (int i = 0; i < 2; i++) { // the second of each from memory
            assertEquals(200, oci.get(byDigest).status());
            assertEquals(200, oci.get("/v2/" + repo + "/manifests/v2").status());
            assertEquals(200, oci.head(blob).status());
        }
        assertEquals(202, oci.delete(byDigest).status());
        assertEquals(404, oci.get(byDigest).status());
        assertEquals(404, oci.get("/v2/" + repo + "/manifests/v1").status());
        assertEquals(202, oci.delete("/v2/" + repo + "/manifests/v2").status());
        assertEquals(404, oci.get("/v2/" + repo + "/manifests/v2").status());
        assertEquals(202, oci.delete(blob).status());
        assertEquals(404, oci.head(blob).status());
    }

    @Test
    void anEvictedRootIsAMiss() {
        String repo = "fast/evicted";
        pushImage(repo, "v1", "x");
        for (int i = 0; i < 2; i++) {
            assertEquals(200, oci.get("/v2/" + repo + "/manifests/v1").status());
        }
        assertTrue(answers().size() > 0);
        assertTrue(server.server().services().served().manifests().evictTag(RepositoryName.parse(repo), "v1"));
        assertEquals(404, oci.get("/v2/" + repo + "/manifests/v1").status());
    }

    @Test
    void aBlobCollectedFromTheStoreIsAMiss() {
        String repo = "fast/collected";
        Oci.Blob layer = oci.pushBlob(repo, OCI_LAYER, utf8("layer collected"));
        String blob = "/v2/" + repo + "/blobs/" + layer.digest();
        for (int i = 0; i < 2; i++) {
            assertEquals(200, oci.head(blob).status());
        }
        // What the lifecycle's repair does when the file is found lost: the record goes, with its links.
        server.server().services().repair().forget(dev.layercache.server.core.Digest.parse(layer.digest()),
                "lost in a test");
        assertEquals(404, oci.head(blob).status());
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws Exception {
        String repo = "fast/pipelined";
        byte[] a = pushImage(repo, "a", "pa");
        byte[] b = pushImage(repo, "b", "pb");
        for (int i = 0; i < 2; i++) {
            oci.get("/v2/" + repo + "/manifests/a");
            oci.get("/v2/" + repo + "/manifests/b");
        }
        long hits = answers().hits();
        StringBuilder requests = new StringBuilder();
        for (String tag : List.of("a", "b", "a", "missing", "b")) {
            requests.append("GET /v2/").append(repo).append("/manifests/").append(tag)
                    .append(" HTTP/1.1\r\nHost: x\r\n\r\n");
        }
        requests.append("GET /v2/").append(repo).append("/manifests/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", server.port())) {
            socket.getOutputStream().write(requests.toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            String all = new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
            List<String> digests = new java.util.ArrayList<>();
            java.util.regex.Matcher m = java.util.regex.Pattern
                    .compile("(?i)HTTP/1.1 (\\d+)[^\\r]*\\r\\n(?:(?:(?!\\r\\n\\r\\n).)*?docker-content-digest: (\\S+))?", java.util.regex.Pattern.DOTALL)
                    .matcher(all);
            while (m.find()) {
                digests.add(m.group(1) + " " + (m.group(1).equals("200") ? m.group(2) : "-"));
            }
            assertEquals(List.of("200 " + sha256(a), "200 " + sha256(b), "200 " + sha256(a), "404 -",
                    "200 " + sha256(b), "200 " + sha256(a)), digests, all);
        }
        assertEquals(hits + 5, answers().hits());
    }

    @Test
    void nothingIsAnsweredFromMemoryWhileFilesAreInDoubt() {
        String repo = "fast/doubt";
        pushImage(repo, "v1", "doubt");
        oci.get("/v2/" + repo + "/manifests/v1");
        dev.layercache.server.registry.BlobService blobs = server.server().services().served().blobs();
        blobs.filesInDoubt(true); // as while the start-up check runs
        try {
            long hits = answers().hits();
            assertEquals(200, oci.get("/v2/" + repo + "/manifests/v1").status());
            assertEquals(200, oci.get("/v2/" + repo + "/tags/list").status());
            assertEquals(hits, answers().hits());
        } finally {
            blobs.filesInDoubt(false);
        }
        long hits = answers().hits();
        assertEquals(200, oci.get("/v2/" + repo + "/manifests/v1").status());
        assertEquals(hits + 1, answers().hits());
    }
}
