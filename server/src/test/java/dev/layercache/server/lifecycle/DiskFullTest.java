package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.Registry;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node whose disk fills up, on a real small file system (a 24 MiB tmpfs the test mounts, so
 * writes really fail with ENOSPC): the upload gets a clear error, its temporary file goes, reads
 * go on, and writes work again once there is space.
 */
class DiskFullTest {
    @TempDir
    Path dir;

    @Test
    void anUploadThatFillsTheDiskFailsClearlyAndTheNodeGoesOn() throws Exception {
        Path mount = Files.createDirectories(dir.resolve("small-disk"));
        RealTools.requireThat(run("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mount.toString()) == 0,
                "cannot mount a tmpfs here (the disk-full test needs root, as CI has)");
        try (LayerCacheServer server = LayerCacheServer.start(ServerConfig.forTesting(mount.resolve("data")))) {
            Registry registry = new Registry(server.httpPort());
            byte[] small = bytes(2_000_000, 1);
            assertEquals(201, registry.pushBlob("team/app", small));

            byte[] huge = bytes(40_000_000, 2); // more than the disk has
            HttpResponse<byte[]> full = registry.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                    + server.httpPort() + "/v2/team/app/blobs/uploads/?digest=" + Registry.sha256(huge)))
                    .POST(HttpRequest.BodyPublishers.ofByteArray(huge)));
            assertEquals(507, full.statusCode(), Registry.utf8(full.body()));
            assertTrue(Registry.utf8(full.body()).contains("no space left on the server's disk"),
                    Registry.utf8(full.body()));
            try (Stream<Path> uploads = Files.list(mount.resolve("data").resolve("uploads"))) {
                assertEquals(0, uploads.count(), "the temporary file is gone");
            }
            assertEquals(404, registry.head("/v2/team/app/blobs/" + Registry.sha256(huge)), "nothing partial stored");

            assertArrayEquals(small, registry.get("/v2/team/app/blobs/" + Registry.sha256(small)).body(),
                    "reads go on");
            byte[] next = bytes(1_000_000, 3);
            assertEquals(201, registry.pushBlob("team/app", next), "writes work again with the space back");
            assertArrayEquals(next, registry.get("/v2/team/app/blobs/" + Registry.sha256(next)).body());
        } finally {
            run("umount", "-l", mount.toString());
        }
    }

    private static int run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
