package dev.layercache.server.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * skopeo against the in-JVM server: push a multi-layer OCI layout made with umoci, inspect it,
 * copy it back and compare digests byte for byte, copy it to a second repository (cross-repository
 * blob mount), list tags, delete a tag (skopeo resolves it and deletes by digest) and check it is
 * gone. The pushes count existence checks and no lookup.
 */
@Tag("e2e")
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class SkopeoTest {
    @RegisterExtension
    static TestServer server = new TestServer();

    @TempDir
    Path work;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void pushInspectPullMountListAndDelete() throws Exception {
        Path skopeo = RealTools.require("skopeo", "skopeo end-to-end test");
        Path umoci = RealTools.require("umoci", "builds the multi-layer OCI layout skopeo pushes");
        String host = server.hostPort();

        // --- a layout with t1 (3 layers) and t2 (t1 + 1 layer) -----------------------------------
        Path layout = work.resolve("layout");
        Cmd.of(umoci, "init", "--layout", layout).ok();
        Cmd.of(umoci, "new", "--image", layout + ":t1").ok();
        Random random = new Random(42);
        addLayer(umoci, layout, "t1", "t1", rootfs -> {
            Files.createDirectories(rootfs.resolve("etc"));
            Files.writeString(rootfs.resolve("etc/hello"), "hello from layer one\n");
        });
        addLayer(umoci, layout, "t1", "t1", rootfs -> {
            byte[] big = new byte[300_000];
            random.nextBytes(big); // incompressible: a layer of a real size
            Files.write(rootfs.resolve("payload.bin"), big);
        });
        addLayer(umoci, layout, "t1", "t1", rootfs -> Files.writeString(rootfs.resolve("etc/third"), "three\n"));
        Cmd.of(umoci, "config", "--image", layout + ":t1", "--config.cmd", "/bin/sh").ok();
        addLayer(umoci, layout, "t1", "t2", rootfs -> Files.writeString(rootfs.resolve("etc/fourth"), "four\n"));

        LocalImage t1 = LocalImage.read(layout, "t1");
        LocalImage t2 = LocalImage.read(layout, "t2");
        assertEquals(3, t1.layers.size(), "t1 layers: " + t1.layers);
        assertEquals(4, t2.layers.size(), "t2 layers: " + t2.layers);
        assertEquals(t1.layers, t2.layers.subList(0, 3), "t2 is t1 plus one layer");

        // --- push both tags ---------------------------------------------------------------------
        String src = "docker://" + host + "/e2e/src";
        Cmd.of(skopeo, "--insecure-policy", "copy", "--dest-tls-verify=false", "oci:" + layout + ":t1", src + ":t1").ok();
        Cmd.of(skopeo, "--insecure-policy", "copy", "--dest-tls-verify=false", "oci:" + layout + ":t2", src + ":t2").ok();
        assertAPushIsNoLookup();

        // --- inspect ----------------------------------------------------------------------------
        Cmd.Result inspect = Cmd.of(skopeo, "inspect", "--tls-verify=false", src + ":t1").ok();
        JsonNode info = JSON.readTree(inspect.output());
        assertEquals(t1.digest, info.path("Digest").asText(), "inspect Digest" + inspect.describe());
        assertEquals(t1.layers, texts(info.path("Layers")), "inspect Layers" + inspect.describe());
        assertEquals(Set.of("t1", "t2"), new TreeSet<>(texts(info.path("RepoTags"))), "inspect RepoTags" + inspect.describe());
        Cmd.Result raw = Cmd.of(skopeo, "inspect", "--raw", "--tls-verify=false", src + ":t1").ok();
        // skopeo writes the raw bytes as received (Fprintln in some versions: one extra newline)
        assertTrue(raw.output().equals(t1.manifestJson) || raw.output().equals(t1.manifestJson + "\n"),
                "the server must hand back the manifest byte for byte; pushed:\n" + t1.manifestJson + raw.describe());
        Http.Reply byTag = getManifest("e2e/src", "t1");
        assertEquals(200, byTag.status());
        assertEquals(t1.digest, "sha256:" + sha256(byTag.body()), "GET manifest body digest");
        assertEquals(t1.digest, byTag.header("Docker-Content-Digest"));
        assertEquals("application/vnd.oci.image.manifest.v1+json", byTag.header("Content-Type"));

        // --- copy back to a new layout: same manifest, same layers, every blob intact --------------
        Path back = work.resolve("back");
        Cmd.of(skopeo, "--insecure-policy", "copy", "--src-tls-verify=false", src + ":t1", "oci:" + back + ":t1").ok();
        LocalImage backT1 = LocalImage.read(back, "t1");
        assertEquals(t1.digest, backT1.digest, "manifest digest after the round trip");
        assertEquals(t1.layers, backT1.layers, "layer digests after the round trip");
        assertEquals(t1.config, backT1.config, "config digest after the round trip");
        try (Stream<Path> blobs = Files.list(back.resolve("blobs/sha256"))) {
            for (Path blob : blobs.toList()) {
                assertEquals(blob.getFileName().toString(), sha256(Files.readAllBytes(blob)),
                        "content of blob " + blob.getFileName() + " pulled back from the server");
            }
        }

        // --- copy to a second repository on the same server: layers are mounted, not re-sent -------
        String dst = "docker://" + host + "/e2e/dst";
        Cmd.Result mount = Cmd.of(skopeo, "--debug", "--insecure-policy", "copy", "--src-tls-verify=false",
                "--dest-tls-verify=false", src + ":t1", dst + ":t1").ok();
        for (String layer : t1.layers) {
            String encoded = "from=e2e%2Fsrc&mount=" + layer.replace(":", "%3A");
            assertTrue(mount.output().contains("/v2/e2e/dst/blobs/uploads/?" + encoded),
                    "skopeo should try a cross-repository mount of " + layer + mount.describe());
        }
        int mountsOk = count(mount.output(), "... mount OK");
        assertTrue(mountsOk >= t1.layers.size(), "every layer must be mounted by the server (201), got "
                + mountsOk + " 'mount OK'" + mount.describe());
        List<String> dstBlobs = new ArrayList<>(t1.layers);
        dstBlobs.add(t1.config);
        for (String blob : dstBlobs) {
            Http.Reply head = Http.exchange(server.port(), "HEAD", "/v2/e2e/dst/blobs/" + blob, List.of(), null);
            assertEquals(200, head.status(), "HEAD " + blob + " in e2e/dst");
            assertEquals(blob, head.header("Docker-Content-Digest"), "Docker-Content-Digest of " + blob);
        }
        Http.Reply dstManifest = getManifest("e2e/dst", "t1");
        assertEquals(200, dstManifest.status());
        assertEquals(t1.digest, dstManifest.header("Docker-Content-Digest"));

        // --- list tags ------------------------------------------------------------------------------
        assertEquals(Set.of("t1", "t2"), listTags(skopeo, src));
        assertEquals(Set.of("t1"), listTags(skopeo, dst));

        // --- delete: skopeo resolves the tag and deletes the manifest by digest -------------------
        Cmd.of(skopeo, "delete", "--tls-verify=false", src + ":t1").ok();
        Http.Reply gone = getManifest("e2e/src", "t1");
        assertEquals(404, gone.status(), "GET manifest by the deleted tag: " + gone.text());
        assertTrue(gone.text().contains("MANIFEST_UNKNOWN"), "error code: " + gone.text());
        assertEquals(404, getManifest("e2e/src", t1.digest).status(), "GET manifest by the deleted digest");
        assertEquals(Set.of("t2"), listTags(skopeo, src), "tags after the delete");
        Cmd.Result inspectGone = Cmd.of(skopeo, "inspect", "--tls-verify=false", src + ":t1").run();
        assertNotEquals(0, inspectGone.exitCode(), "inspect of a deleted tag must fail" + inspectGone.describe());
        assertEquals(200, getManifest("e2e/src", "t2").status(), "the other tag of the repository survives");
        assertEquals(t2.digest, getManifest("e2e/src", "t2").header("Docker-Content-Digest"));
        assertEquals(200, getManifest("e2e/dst", "t1").status(), "the same manifest in another repository survives");
        Cmd.Result stillThere = Cmd.of(skopeo, "inspect", "--tls-verify=false", dst + ":t1").ok();
        assertEquals(t1.digest, JSON.readTree(stillThere.output()).path("Digest").asText());
    }

    /**
     * skopeo HEADs each blob before uploading it: t1's four blobs (3 layers and the config) are
     * new; of t2's five, its new layer and its config (another history) are new and t1's three
     * layers are found. Those are existence checks (docs/metrics.md, "What counts as a lookup"),
     * so a push-only workflow leaves no lookup, and no blob miss, in the hit rate.
     */
    private static void assertAPushIsNoLookup() throws InterruptedException {
        PrometheusText m = null;
        for (int attempt = 0; attempt < 50; attempt++) { // counted once each response is written
            m = new PrometheusText(server.server().metrics().scrape(null));
            if (m.value("layercache_existence_checks_total", "result", "miss") >= 6
                    && m.value("layercache_existence_checks_total", "result", "hit") >= 3) {
                break;
            }
            Thread.sleep(100);
        }
        String counted = m.value("layercache_existence_checks_total", "result", "hit") + " present, "
                + m.value("layercache_existence_checks_total", "result", "miss") + " missing";
        assertEquals(0, m.value("layercache_lookups_total", "kind", "blob"), "blob lookups of the pushes");
        assertEquals(0, m.value("layercache_lookups_total", "result", "miss"), "misses of the pushes");
        assertTrue(m.value("layercache_existence_checks_total", "surface", "oci", "result", "miss") >= 6,
                "t1's 4 blobs, t2's new layer and config were asked before their upload: " + counted);
        assertTrue(m.value("layercache_existence_checks_total", "surface", "oci", "result", "hit") >= 3,
                "t2's layers from t1 were found: " + counted);
    }

    private interface RootfsEdit {
        void apply(Path rootfs) throws IOException;
    }

    /** Unpacks {@code from}, edits the root filesystem, repacks it as {@code to} (one new layer). */
    private void addLayer(Path umoci, Path layout, String from, String to, RootfsEdit edit) throws IOException {
        Path bundle = work.resolve("bundle");
        Cmd.of(umoci, "unpack", "--rootless", "--image", layout + ":" + from, bundle).ok();
        edit.apply(bundle.resolve("rootfs"));
        Cmd.of(umoci, "repack", "--image", layout + ":" + to, bundle).ok();
        TestServer.deleteRecursively(bundle);
    }

    private static Set<String> listTags(Path skopeo, String repo) throws IOException {
        Cmd.Result r = Cmd.of(skopeo, "list-tags", "--tls-verify=false", repo).ok();
        JsonNode json = JSON.readTree(r.output());
        return new TreeSet<>(texts(json.path("Tags")));
    }

    private static Http.Reply getManifest(String repo, String reference) throws IOException {
        return Http.exchange(server.port(), "GET", "/v2/" + repo + "/manifests/" + reference, List.of(
                "Accept: application/vnd.oci.image.manifest.v1+json",
                "Accept: application/vnd.oci.image.index.v1+json",
                "Accept: application/vnd.docker.distribution.manifest.v2+json"), null);
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    private static int count(String haystack, String needle) {
        Matcher m = Pattern.compile(Pattern.quote(needle)).matcher(haystack);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One tagged image of an OCI image layout on disk. */
    private record LocalImage(String digest, String manifestJson, String config, List<String> layers) {
        static LocalImage read(Path layout, String tag) throws IOException {
            JsonNode index = JSON.readTree(layout.resolve("index.json").toFile());
            String digest = null;
            for (JsonNode m : index.path("manifests")) {
                if (tag.equals(m.path("annotations").path("org.opencontainers.image.ref.name").asText())) {
                    digest = m.path("digest").asText();
                }
            }
            assertNotNull(digest, "tag " + tag + " in " + layout + "/index.json: " + index);
            byte[] manifest = Files.readAllBytes(layout.resolve("blobs/sha256/" + digest.substring("sha256:".length())));
            assertEquals(digest, "sha256:" + sha256(manifest), "manifest blob content in " + layout);
            JsonNode m = JSON.readTree(manifest);
            List<String> layers = new ArrayList<>();
            m.path("layers").forEach(l -> layers.add(l.path("digest").asText()));
            return new LocalImage(digest, new String(manifest, StandardCharsets.UTF_8),
                    m.path("config").path("digest").asText(), layers);
        }
    }
}
