package dev.layercache.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client's memory stays flat for any blob size: the CLI, in a JVM limited to a 64 MiB heap
 * and 64 MiB of direct memory, pushes an OCI layout with a 1 GiB layer and pulls it back, and the
 * layer verifies. Holding the layer in memory in either direction would fail.
 */
class LargeTransferTest {
    private static final long LAYER = 1L << 30;

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void aGibibyteLayerGoesUpAndDownThroughASmallHeap() throws Exception {
        try (LayerCacheServer server = LayerCacheServer.start(ServerConfig.forTesting(dir.resolve("data")))) {
            Path layout = dir.resolve("layout");
            Path blobs = Files.createDirectories(layout.resolve("blobs/sha256"));
            String layer = writeLayer(blobs);
            String config = blob(blobs, "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
            String manifest = blob(blobs, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                    + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + config
                    + "\",\"size\":" + size(blobs, config) + "},\"layers\":[{\"mediaType\":"
                    + "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" + layer + "\",\"size\":" + LAYER + "}]}");
            Files.writeString(layout.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
            Files.writeString(layout.resolve("index.json"), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
                    + "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" + manifest + "\",\"size\":"
                    + size(blobs, manifest) + ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}");

            String target = "127.0.0.1:" + server.grpcPort();
            String up = cli("push-layout", "--target", target, layout.toString(), "big/image:v1");
            Path back = dir.resolve("back");
            String down = cli("pull-layout", "--target", target, "big/image:v1", back.toString());
            Path pulled = back.resolve("blobs/sha256").resolve(layer.substring("sha256:".length()));
            assertEquals(LAYER, Files.size(pulled), up + down);
            assertEquals(layer, sha256(pulled));
        }
    }

    /** Runs the CLI in its own small JVM; returns its output, failing on a non-zero exit. */
    private String cli(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Xmx64m", "-XX:MaxDirectMemorySize=64m", "-cp", System.getProperty("java.class.path"),
                Main.class.getName()));
        command.addAll(List.of(args));
        Path log = Files.createTempFile(dir, "cli", ".log");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(4, TimeUnit.MINUTES), "CLI timed out");
        String out = Files.readString(log);
        assertEquals(0, p.exitValue(), out);
        assertTrue(!out.contains("OutOfMemoryError"), out);
        return out;
    }

    private static String writeLayer(Path blobs) throws Exception {
        Path tmp = blobs.resolve("incoming");
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        byte[] chunk = new byte[1 << 20];
        try (OutputStream out = Files.newOutputStream(tmp)) {
            for (long off = 0; off < LAYER; off += chunk.length) {
                long x = off * 0x9E3779B97F4A7C15L + 11;
                for (int i = 0; i < chunk.length; i += 8) {
                    x ^= x << 13;
                    x ^= x >>> 7;
                    x ^= x << 17;
                    for (int j = 0; j < 8; j++) {
                        chunk[i + j] = (byte) (x >>> (8 * j));
                    }
                }
                sha.update(chunk);
                out.write(chunk);
            }
        }
        String hex = HexFormat.of().formatHex(sha.digest());
        Files.move(tmp, blobs.resolve(hex));
        return "sha256:" + hex;
    }

    private static String blob(Path blobs, String content) throws Exception {
        byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
        String hex = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        Files.write(blobs.resolve(hex), bytes);
        return "sha256:" + hex;
    }

    private static long size(Path blobs, String digest) throws Exception {
        return Files.size(blobs.resolve(digest.substring("sha256:".length())));
    }

    private static String sha256(Path file) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        byte[] buf = new byte[1 << 20];
        try (var in = Files.newInputStream(file)) {
            int n;
            while ((n = in.read(buf)) > 0) {
                sha.update(buf, 0, n);
            }
        }
        return "sha256:" + HexFormat.of().formatHex(sha.digest());
    }
}
