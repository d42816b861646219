package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.layercache.server.testing.ClusterNodes;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A blob far larger than a node's heap goes into the bucket in parts through one node and comes
 * out of another, streamed both ways: nodes with a 64 MiB heap move 320 MiB.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ClusterLargeBlobTest {
    @TempDir
    Path dir;

    @Test
    void aBlobFiveTimesTheHeapGoesUpInPartsAndComesBackThroughAnotherNode() throws Exception {
        Path blob = dir.resolve("big.bin");
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        byte[] chunk = new byte[1 << 20];
        Random random = new Random(7);
        try (OutputStream out = Files.newOutputStream(blob)) {
            for (int i = 0; i < 320; i++) {
                random.nextBytes(chunk);
                sha.update(chunk);
                out.write(chunk);
            }
        }
        String digest = "sha256:" + HexFormat.of().formatHex(sha.digest());
        try (ClusterNodes cluster = ClusterNodes.start(dir.resolve("cluster"), 2, List.of("-Xmx64m"))) {
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> put = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                            + cluster.node(0).port() + "/v2/big/app/blobs/uploads/?digest=" + digest))
                    .POST(HttpRequest.BodyPublishers.ofFile(blob)).header("Content-Type", "application/octet-stream")
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(201, put.statusCode(), put.body() + cluster.logs());

            HttpResponse<InputStream> get = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                    + cluster.node(1).port() + "/v2/big/app/blobs/" + digest)).build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, get.statusCode());
            MessageDigest back = MessageDigest.getInstance("SHA-256");
            long bytes = 0;
            try (InputStream in = get.body()) {
                byte[] buf = new byte[1 << 16];
                for (int n; (n = in.read(buf)) > 0; ) {
                    back.update(buf, 0, n);
                    bytes += n;
                }
            }
            assertEquals(320L << 20, bytes);
            assertEquals(digest, "sha256:" + HexFormat.of().formatHex(back.digest()), "the bytes through node 1");
            String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + cluster.node(0).port()
                    + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
            double parts = new dev.layercache.server.testing.PrometheusText(metrics)
                    .value("layercache_bucket_requests_total", "operation", "upload_part", "outcome", "ok");
            assertEquals(20, parts, "320 MiB went up as twenty 16 MiB parts");
            assertEquals(-1, cluster.node(0).log().indexOf("OutOfMemoryError"), "node 0 kept within its heap");
            assertEquals(-1, cluster.node(1).log().indexOf("OutOfMemoryError"), "node 1 kept within its heap");
        }
    }
}
