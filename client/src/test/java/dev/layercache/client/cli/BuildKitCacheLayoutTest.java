package dev.layercache.client.cli;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.client.Digest;
import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Registry;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The layout {@code buildx build --cache-to type=local,dest=DIR} writes, reproduced from the
 * BuildKit and OCI documents (no buildx binary here): index.json names an OCI image index whose
 * "manifests" are the cache's layer blobs and its {@code application/vnd.buildkit.cacheconfig.v0}
 * config. push-layout sends it over gRPC, the OCI API serves the index, pull-layout restores the
 * directory on another machine byte for byte, so {@code --cache-from type=local,src=DIR} finds it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BuildKitCacheLayoutTest {
    @TempDir
    Path work;

    @Test
    void aBuildKitLocalCacheTravelsThroughTheServer() throws Exception {
        Path cache = work.resolve("cache");
        Files.createDirectories(cache.resolve("blobs/sha256"));
        Files.writeString(cache.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        List<String> entries = new ArrayList<>();
        Random random = new Random(5);
        for (int i = 0; i < 3; i++) {
            byte[] layer = new byte[200_000 * (i + 1)];
            random.nextBytes(layer);
            Digest d = write(cache, layer);
            entries.add("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" + d
                    + "\",\"size\":" + layer.length + ",\"annotations\":{\"buildkit/createdat\":"
                    + "\"2026-11-28T00:00:00Z\",\"containerd.io/uncompressed\":\"" + Digest.sha256(new byte[i]) + "\"}}");
        }
        byte[] config = ("{\"layers\":[{\"blob\":\"" + "x" + "\",\"parent\":-1}],\"records\":[]}").getBytes(UTF_8);
        Digest configDigest = write(cache, config);
        entries.add("{\"mediaType\":\"application/vnd.buildkit.cacheconfig.v0\",\"digest\":\"" + configDigest
                + "\",\"size\":" + config.length + "}");
        byte[] index = ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                + "\"manifests\":[" + String.join(",", entries) + "]}").getBytes(UTF_8);
        Digest indexDigest = write(cache, index);
        Files.writeString(cache.resolve("index.json"), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
                + "\"application/vnd.oci.image.index.v1+json\",\"digest\":\"" + indexDigest + "\",\"size\":"
                + index.length + ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}");

        try (LayerCacheServer server = LayerCacheServer.start(ServerConfig.forTesting(work.resolve("data")))) {
            String target = "127.0.0.1:" + server.grpcPort();
            String[] push = cli("push-layout", "--plaintext", "--target", target, cache.toString(), "team/app-cache");
            assertEquals("0", push[0], push[1] + push[2]);
            assertTrue(push[1].contains("pushed team/app-cache:latest " + indexDigest), push[1]);
            assertTrue(push[1].contains("4 blob(s) sent"), push[1]);

            // The OCI API serves the index by tag, as --cache-from type=registry would fetch it.
            var get = new Registry(server.httpPort()).get("/v2/team/app-cache/manifests/latest");
            assertEquals(200, get.statusCode());
            assertArrayEquals(index, get.body());

            Path restored = work.resolve("restored");
            String[] pull = cli("pull-layout", "--plaintext", "--target", target, "team/app-cache", restored.toString());
            assertEquals("0", pull[0], pull[1] + pull[2]);
            try (Stream<Path> files = Files.list(cache.resolve("blobs/sha256"))) {
                for (Path f : files.toList()) {
                    assertArrayEquals(Files.readAllBytes(f),
                            Files.readAllBytes(restored.resolve("blobs/sha256").resolve(f.getFileName())), f.toString());
                }
            }
            try (Stream<Path> files = Files.list(restored.resolve("blobs/sha256"))) {
                assertEquals(5, files.count());
            }
            String restoredIndex = Files.readString(restored.resolve("index.json"));
            assertTrue(restoredIndex.contains("\"digest\":\"" + indexDigest + "\"")
                    && restoredIndex.contains("\"org.opencontainers.image.ref.name\":\"latest\""), restoredIndex);
        }
    }

    private static Digest write(Path layout, byte[] content) throws Exception {
        Digest d = Digest.sha256(content);
        Files.write(layout.resolve("blobs/sha256").resolve(d.hex()), content);
        return d;
    }

    private static String[] cli(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out), new PrintWriter(err), args);
        return new String[] {Integer.toString(code), out.toString(), err.toString()};
    }
}
