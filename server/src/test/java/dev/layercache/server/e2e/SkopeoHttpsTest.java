package dev.layercache.server.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.TestPki;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * skopeo against the HTTPS port with certificate verification on: the test CA in a
 * {@code --cert-dir}, an image pushed from an OCI layout, inspected and copied back byte for byte;
 * without the CA, skopeo refuses the server.
 */
@Tag("e2e")
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class SkopeoHttpsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path work;

    @Test
    void pushInspectAndPullWithVerifiedTls() throws Exception {
        Path skopeo = RealTools.require("skopeo", "pushes and pulls over HTTPS with --tls-verify=true");
        TestPki pki = TestPki.create(work.resolve("pki"), "server");
        TestPki.Issued cert = pki.server("localhost", 1);
        Path certDir = Files.createDirectories(work.resolve("certs"));
        Files.copy(pki.caFile(), certDir.resolve("ca.crt"));

        Path layout = work.resolve("layout");
        byte[] layer = new byte[700_000];
        new Random(5).nextBytes(layer);
        String layerDigest = put(layout, layer);
        byte[] config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}"
                .getBytes(StandardCharsets.UTF_8);
        String configDigest = put(layout, config);
        byte[] manifest = ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\""
                + configDigest + "\",\"size\":" + config.length + "},\"layers\":[{\"mediaType\":"
                + "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" + layerDigest + "\",\"size\":"
                + layer.length + "}]}").getBytes(StandardCharsets.UTF_8);
        String manifestDigest = put(layout, manifest);
        Files.writeString(layout.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        Files.writeString(layout.resolve("index.json"), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
                + "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" + manifestDigest + "\",\"size\":"
                + manifest.length + ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"t1\"}}]}");

        ServerConfig config0 = ServerConfig.forTesting(work.resolve("data"))
                .withTls(new ServerConfig.Tls(cert.cert(), cert.key(), null));
        try (LayerCacheServer server = LayerCacheServer.start(config0)) {
            String ref = "docker://127.0.0.1:" + server.httpPort() + "/tls/skopeo:t1";
            Cmd.of(skopeo, "--insecure-policy", "copy", "--preserve-digests", "--dest-tls-verify=true",
                    "--dest-cert-dir", certDir,
                    "oci:" + layout + ":t1", ref).ok();

            Cmd.Result inspect = Cmd.of(skopeo, "inspect", "--tls-verify=true", "--cert-dir", certDir, ref).ok();
            JsonNode info = JSON.readTree(inspect.output());
            assertEquals(manifestDigest, info.path("Digest").asText(), inspect.describe());
            assertEquals(layerDigest, info.path("Layers").path(0).asText(), inspect.describe());

            Path back = work.resolve("back");
            Cmd.of(skopeo, "--insecure-policy", "copy", "--preserve-digests", "--src-tls-verify=true",
                    "--src-cert-dir", certDir, ref,
                    "oci:" + back + ":t1").ok();
            assertArrayEquals(layer, Files.readAllBytes(back.resolve("blobs/sha256/" + layerDigest.substring(7))));

            // Without the CA the certificate is not trusted: no silent fallback to plain HTTP.
            Cmd.Result untrusted = Cmd.of(skopeo, "inspect", "--tls-verify=true",
                    "--cert-dir", Files.createDirectories(work.resolve("empty")), ref).run();
            assertFalse(untrusted.exitCode() == 0, untrusted.describe());
            assertTrue(untrusted.output().contains("certificate"), untrusted.describe());
        }
    }

    private static String put(Path layout, byte[] bytes) throws Exception {
        String hex = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        Path blobs = Files.createDirectories(layout.resolve("blobs/sha256"));
        Files.write(blobs.resolve(hex), bytes);
        return "sha256:" + hex;
    }
}
