package dev.layercache.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.client.cli.Main;
import dev.layercache.server.testing.RealTools;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * One store, two surfaces, with real tools: an image skopeo pushed through the OCI API reads
 * back through gRPC byte for byte; a layout pushed with {@code push-layout} is pulled by skopeo
 * through the OCI API byte for byte, and {@code pull-layout} gives the same layout back.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class InteropTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path work;

    static Node node;
    static Path layout;
    static Path skopeo;

    @BeforeAll
    static void start() throws Exception {
        node = Node.start(Files.createDirectories(work.resolve("server")));
    }

    @AfterAll
    static void stop() {
        node.close();
    }

    /** A layout made with umoci: tag t1 with two layers (one of random, incompressible bytes). */
    static Path layout() throws Exception {
        if (layout != null) {
            return layout;
        }
        Path umoci = RealTools.require("umoci", "makes the OCI image layout of the interop test");
        Path dir = work.resolve("layout");
        run(umoci, "init", "--layout", dir);
        run(umoci, "new", "--image", dir + ":t1");
        Path one = Files.createDirectories(work.resolve("files/one"));
        Files.writeString(one.resolve("hello"), "hello from layer one\n");
        run(umoci, "insert", "--image", dir + ":t1", one, "/one");
        Path two = Files.createDirectories(work.resolve("files/two"));
        byte[] big = new byte[3_000_000];
        new Random(42).nextBytes(big);
        Files.write(two.resolve("payload.bin"), big);
        run(umoci, "insert", "--image", dir + ":t1", two, "/two");
        layout = dir;
        return dir;
    }

    static String run(Object... command) throws Exception {
        return Commands.run(command);
    }

    static String[] cli(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out), new PrintWriter(err), args);
        return new String[] {Integer.toString(code), out.toString(), err.toString()};
    }

    /** The manifest descriptor index.json names {@code tag}. */
    static JsonNode descriptor(Path dir, String tag) throws IOException {
        for (JsonNode m : JSON.readTree(dir.resolve("index.json").toFile()).path("manifests")) {
            if (tag.equals(m.path("annotations").path("org.opencontainers.image.ref.name").asText())) {
                return m;
            }
        }
        throw new AssertionError("no " + tag + " in " + Files.readString(dir.resolve("index.json")));
    }

    static Path blob(Path dir, String digest) {
        return dir.resolve("blobs").resolve(digest.replace(':', '/'));
    }

    /** Every blob of the image {@code tag}: manifest, config, layers (digest to bytes). */
    static TreeMap<String, byte[]> imageBlobs(Path dir, String tag) throws IOException {
        TreeMap<String, byte[]> out = new TreeMap<>();
        String manifestDigest = descriptor(dir, tag).path("digest").asText();
        byte[] manifest = Files.readAllBytes(blob(dir, manifestDigest));
        out.put(manifestDigest, manifest);
        JsonNode m = JSON.readTree(manifest);
        List<String> digests = new ArrayList<>();
        digests.add(m.path("config").path("digest").asText());
        m.path("layers").forEach(l -> digests.add(l.path("digest").asText()));
        for (String d : digests) {
            out.put(d, Files.readAllBytes(blob(dir, d)));
        }
        return out;
    }

    static void assertSameBlobs(TreeMap<String, byte[]> expected, TreeMap<String, byte[]> actual) {
        assertEquals(expected.keySet(), actual.keySet());
        expected.forEach((d, bytes) -> assertArrayEquals(bytes, actual.get(d), d));
    }

    @Test
    void anImagePushedWithSkopeoReadsBackThroughGrpc() throws Exception {
        skopeo = RealTools.require("skopeo", "pushes through the OCI API");
        Path dir = layout();
        run(skopeo, "--insecure-policy", "copy", "--dest-tls-verify=false", "oci:" + dir + ":t1",
                "docker://127.0.0.1:" + node.httpPort() + "/interop/skopeo:t1");

        TreeMap<String, byte[]> local = imageBlobs(dir, "t1");
        String manifestDigest = descriptor(dir, "t1").path("digest").asText();
        try (LayerCacheClient client = node.client()) {
            Manifest m = client.getManifest("interop/skopeo", "t1").orElseThrow();
            assertEquals(manifestDigest, m.digest().toString());
            assertArrayEquals(local.get(manifestDigest), m.content(), "the manifest, byte for byte");
            assertEquals("application/vnd.oci.image.manifest.v1+json", m.mediaType());
            for (var e : local.entrySet()) {
                if (e.getKey().equals(manifestDigest)) {
                    continue;
                }
                Digest d = Digest.parse(e.getKey());
                assertEquals(List.of(), client.findMissingBlobs("interop/skopeo", List.of(d)));
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                client.downloadBlob("interop/skopeo", d, out);
                assertArrayEquals(e.getValue(), out.toByteArray(), "blob " + d);
            }
        }
    }

    @Test
    void aLayoutPushedOverGrpcIsPulledBySkopeoAndByPullLayout() throws Exception {
        skopeo = RealTools.require("skopeo", "pulls through the OCI API");
        Path dir = layout();
        String target = node.target();

        String[] push = cli("push-layout", "--plaintext", "--target", target, dir.toString(), "interop/pushed:t1");
        assertEquals("0", push[0], push[1] + push[2]);
        assertTrue(push[1].contains("pushed interop/pushed:t1 " + descriptor(dir, "t1").path("digest").asText()),
                push[1]);
        assertTrue(push[1].contains("3 blob(s) sent"), push[1]);
        String[] again = cli("push-layout", "--plaintext", "--target", target, dir.toString(), "interop/pushed:t1");
        assertEquals("0", again[0], again[1] + again[2]);
        assertTrue(again[1].contains("0 blob(s) sent") && again[1].contains("3 already present"), again[1]);

        // skopeo pulls it through the OCI API: the same manifest and blobs, byte for byte.
        Path viaSkopeo = work.resolve("via-skopeo");
        run(skopeo, "--insecure-policy", "copy", "--src-tls-verify=false",
                "docker://127.0.0.1:" + node.httpPort() + "/interop/pushed:t1", "oci:" + viaSkopeo + ":t1");
        TreeMap<String, byte[]> original = imageBlobs(dir, "t1");
        assertEquals(descriptor(dir, "t1").path("digest").asText(), descriptor(viaSkopeo, "t1").path("digest").asText());
        assertSameBlobs(original, imageBlobs(viaSkopeo, "t1"));

        // pull-layout gives the same layout back.
        Path pulled = work.resolve("pulled");
        String[] pull = cli("pull-layout", "--plaintext", "--target", target, "interop/pushed:t1", pulled.toString());
        assertEquals("0", pull[0], pull[1] + pull[2]);
        assertTrue(Files.isRegularFile(pulled.resolve("oci-layout")));
        JsonNode want = descriptor(dir, "t1");
        JsonNode got = descriptor(pulled, "t1");
        assertEquals(want.path("digest"), got.path("digest"));
        assertEquals(want.path("size"), got.path("size"));
        assertEquals(want.path("mediaType"), got.path("mediaType"));
        assertSameBlobs(original, imageBlobs(pulled, "t1"));
        try (Stream<Path> files = Files.list(pulled.resolve("blobs/sha256"))) {
            assertEquals(original.size(), files.count(), "nothing else in the blob tree");
        }
        // skopeo reads the pulled layout.
        run(skopeo, "--insecure-policy", "copy", "oci:" + pulled + ":t1", "oci:" + work.resolve("copy-of-pulled") + ":t1");

        String[] pullAgain = cli("pull-layout", "--plaintext", "--target", target, "interop/pushed:t1",
                pulled.toString());
        assertEquals("0", pullAgain[0]);
        assertTrue(pullAgain[1].contains("0 blob(s) received") && pullAgain[1].contains("3 already there"),
                pullAgain[1]);

        // By digest, into another layout: no ref name.
        String digest = want.path("digest").asText();
        Path byDigest = work.resolve("by-digest");
        String[] pd = cli("pull-layout", "--plaintext", "--target", target, "interop/pushed@" + digest,
                byDigest.toString());
        assertEquals("0", pd[0], pd[1] + pd[2]);
        JsonNode index = JSON.readTree(byDigest.resolve("index.json").toFile());
        assertEquals(digest, index.path("manifests").get(0).path("digest").asText());
        assertTrue(new String(Files.readAllBytes(byDigest.resolve("oci-layout")), StandardCharsets.UTF_8)
                .contains("1.0.0"));
    }

    @Test
    void withoutATagEveryManifestOfTheLayoutIsPushedUnderItsRefName() throws Exception {
        Path umoci = RealTools.require("umoci", "tags the layout twice");
        Path dir = work.resolve("two-tags");
        Commands.run("cp", "-a", layout(), dir);
        Commands.run(umoci, "tag", "--image", dir + ":t1", "also");
        String[] push = cli("push-layout", "--plaintext", "--target", node.target(), dir.toString(), "interop/multi");
        assertEquals("0", push[0], push[1] + push[2]);
        String digest = descriptor(dir, "t1").path("digest").asText();
        assertTrue(push[1].contains("pushed interop/multi:t1 " + digest)
                && push[1].contains("pushed interop/multi:also " + digest), push[1]);
        try (LayerCacheClient client = node.client()) {
            assertEquals(digest, client.getManifest("interop/multi", "t1").orElseThrow().digest().toString());
            assertEquals(digest, client.getManifest("interop/multi", "also").orElseThrow().digest().toString());
        }
    }
}
