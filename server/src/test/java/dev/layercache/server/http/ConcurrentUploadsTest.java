package dev.layercache.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.Registry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Many more uploads than blocking threads: request tasks and the file writes behind them share
 * one small pool, and every upload still completes with its bytes intact.
 */
class ConcurrentUploadsTest {
    @TempDir
    Path dir;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void sixteenLargeUploadsThroughTwoThreads() throws Exception {
        ServerConfig config = ServerConfig.builder().dataDir(dir.resolve("data")).blockingThreads(2)
                .lifecycle(ServerConfig.Lifecycle.DEFAULT.withoutScrubbing()).build();
        try (LayerCacheServer server = LayerCacheServer.start(config)) {
            ExecutorService clients = Executors.newFixedThreadPool(16);
            List<Future<String>> uploads = new ArrayList<>();
            List<byte[]> blobs = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                byte[] blob = new byte[24 << 20];
                new Random(i).nextBytes(blob);
                blobs.add(blob);
                uploads.add(clients.submit(() -> {
                    Http.Reply post = Http.exchange(server.httpPort(), "POST", "/v2/many/app/blobs/uploads/",
                            List.of(), null);
                    Http.Reply patch = Http.exchange(server.httpPort(), "PATCH", post.header("Location"),
                            List.of("Content-Type: application/octet-stream"), blob);
                    Http.Reply put = Http.exchange(server.httpPort(), "PUT",
                            post.header("Location") + "?digest=" + Registry.sha256(blob), List.of(), null);
                    return patch.status() + " " + put.status();
                }));
            }
            for (Future<String> f : uploads) {
                assertEquals("202 201", f.get(2, TimeUnit.MINUTES));
            }
            clients.shutdown();
            Registry registry = new Registry(server.httpPort());
            for (byte[] blob : blobs) {
                assertEquals(Registry.sha256(blob), Registry.sha256(
                        registry.get("/v2/many/app/blobs/" + Registry.sha256(blob)).body()));
            }
        }
    }
}
