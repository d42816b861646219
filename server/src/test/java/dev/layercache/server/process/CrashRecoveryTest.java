package dev.layercache.server.process;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.ServerProcess;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code kill -9} of the server in the middle of a large upload and of a burst of pushes: after a
 * restart on the same data, everything acknowledged is served with the right digest, the
 * interrupted blob is absent and can be pushed again, and an upload whose first chunk was
 * acknowledged resumes where it stood.
 */
class CrashRecoveryTest {
    private static final String MANIFEST = "application/vnd.oci.image.manifest.v1+json";

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void killNineLosesNothingAcknowledged() throws Exception {
        Path data = dir.resolve("data");
        Map<String, byte[]> ackedBlobs = new ConcurrentHashMap<>();
        Map<String, String> ackedTags = new ConcurrentHashMap<>();
        Random random = new Random(42);
        byte[] resumable = bytes(random, 3 << 20);
        byte[] big = bytes(random, 64 << 20);
        String resumeLocation;
        String bigLocation;

        try (ServerProcess server = ServerProcess.start(data, dir.resolve("first.log"))) {
            Registry registry = new Registry(server.port());

            // An upload whose first chunk the server acknowledged.
            HttpResponse<byte[]> started = registry.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + server.port() + "/v2/crash/resume/blobs/uploads/"))
                    .POST(HttpRequest.BodyPublishers.noBody()));
            assertEquals(202, started.statusCode());
            resumeLocation = started.headers().firstValue("Location").orElseThrow();
            Http.Reply chunk = Http.exchange(server.port(), "PATCH", resumeLocation,
                    List.of("Content-Range: 0-" + ((1 << 20) - 1), "Content-Type: application/octet-stream"),
                    java.util.Arrays.copyOf(resumable, 1 << 20));
            assertEquals(202, chunk.status(), chunk.text());

            // A large monolithic upload, half sent when the server dies.
            HttpResponse<byte[]> bigSession = registry.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + server.port() + "/v2/crash/big/blobs/uploads/"))
                    .POST(HttpRequest.BodyPublishers.noBody()));
            bigLocation = bigSession.headers().firstValue("Location").orElseThrow();
            Socket bigUpload = new Socket("127.0.0.1", server.port());
            OutputStream out = bigUpload.getOutputStream();
            out.write(("PUT " + bigLocation + "?digest=" + Registry.sha256(big) + " HTTP/1.1\r\nHost: x\r\n"
                    + "Content-Length: " + big.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(big, 0, big.length / 2);
            out.flush();

            // A burst of pushes from four clients, running when the server dies.
            ExecutorService pushers = Executors.newFixedThreadPool(4);
            CountDownLatch enough = new CountDownLatch(4);
            AtomicInteger seq = new AtomicInteger();
            for (int t = 0; t < 4; t++) {
                pushers.submit(() -> {
                    Random r = new Random(seq.incrementAndGet());
                    int pushed = 0;
                    try {
                        while (true) {
                            int n = seq.incrementAndGet();
                            byte[] layer = bytes(r, 10_000 + r.nextInt(200_000));
                            byte[] config = ("{\"n\":" + n + "}").getBytes(StandardCharsets.UTF_8);
                            if (registry.pushBlob("crash/burst", layer) != 201
                                    || registry.pushBlob("crash/burst", config) != 201) {
                                return null;
                            }
                            ackedBlobs.put(Registry.sha256(layer), layer);
                            ackedBlobs.put(Registry.sha256(config), config);
                            String manifest = Registry.imageManifest(config, layer);
                            if (registry.pushManifest("crash/burst", "t" + n, MANIFEST, manifest) != 201) {
                                return null;
                            }
                            ackedTags.put("t" + n, Registry.sha256(manifest.getBytes(StandardCharsets.UTF_8)));
                            if (++pushed == 5) {
                                enough.countDown();
                            }
                        }
                    } catch (Exception serverGone) {
                        return null;
                    }
                });
            }
            assertTrue(enough.await(2, TimeUnit.MINUTES), "pushers made no progress:\n" + server.log());
            server.kill9();
            pushers.shutdown();
            assertTrue(pushers.awaitTermination(1, TimeUnit.MINUTES));
            bigUpload.close();
        }

        try (ServerProcess server = ServerProcess.start(data, dir.resolve("second.log"))) {
            Registry registry = new Registry(server.port());
            assertTrue(ackedBlobs.size() >= 40, "burst acknowledged " + ackedBlobs.size() + " blobs");
            for (Map.Entry<String, byte[]> blob : ackedBlobs.entrySet()) {
                HttpResponse<byte[]> got = registry.get("/v2/crash/burst/blobs/" + blob.getKey());
                assertEquals(200, got.statusCode(), blob.getKey());
                assertArrayEquals(blob.getValue(), got.body(), blob.getKey());
                assertEquals(blob.getKey(), Registry.sha256(got.body()));
            }
            for (Map.Entry<String, String> tag : ackedTags.entrySet()) {
                HttpResponse<byte[]> got = registry.get("/v2/crash/burst/manifests/" + tag.getKey());
                assertEquals(200, got.statusCode(), tag.getKey());
                assertEquals(tag.getValue(), got.headers().firstValue("Docker-Content-Digest").orElseThrow());
                assertEquals(tag.getValue(), Registry.sha256(got.body()));
            }

            // The interrupted blob is absent, and can be pushed again.
            assertEquals(404, registry.head("/v2/crash/big/blobs/" + Registry.sha256(big)));
            assertEquals(201, registry.pushBlob("crash/big", big));
            assertArrayEquals(big, registry.get("/v2/crash/big/blobs/" + Registry.sha256(big)).body());

            // The acknowledged chunk survived: the upload resumes at 1 MiB.
            Http.Reply status = Http.exchange(server.port(), "GET", resumeLocation, List.of(), null);
            assertEquals(204, status.status(), status.text());
            assertEquals("0-" + ((1 << 20) - 1), status.header("Range"));
            Http.Reply rest = Http.exchange(server.port(), "PUT",
                    resumeLocation + "?digest=" + Registry.sha256(resumable),
                    List.of("Content-Range: " + (1 << 20) + "-" + (resumable.length - 1)),
                    java.util.Arrays.copyOfRange(resumable, 1 << 20, resumable.length));
            assertEquals(201, rest.status(), rest.text());
            assertArrayEquals(resumable, registry.get("/v2/crash/resume/blobs/" + Registry.sha256(resumable)).body());

            // Of the interrupted uploads only the announced session remains, cut back to the
            // zero bytes it had acknowledged; the monolithic pushes cut off by the kill left nothing.
            try (var files = Files.list(data.resolve("uploads"))) {
                List<Path> left = files.toList();
                assertEquals(1, left.size(), "upload files left behind: " + left);
                assertEquals(0, Files.size(left.get(0)));
                assertEquals(bigLocation.substring(bigLocation.lastIndexOf('/') + 1),
                        left.get(0).getFileName().toString());
            }
        }
    }

    private static byte[] bytes(Random r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }
}
