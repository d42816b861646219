package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.layercache.server.testing.ClusterNodes;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.ReferenceRegistry;
import dev.layercache.server.testing.Registry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three nodes on one bucket, each mirroring the same real upstream (Distribution, started with
 * {@code --mirror} as an operator would): what one node fetched is in the bucket, and the others
 * serve it without asking the upstream again.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ClusterMirrorTest {
    private static final String OCI = "application/vnd.oci.image.manifest.v1+json";

    @TempDir
    Path dir;

    @Test
    void whatOneNodeFetchedEveryNodeServesWithoutTheUpstream() throws Exception {
        try (ReferenceRegistry upstream = ReferenceRegistry.start(dir.resolve("upstream"))) {
            byte[] layer = new byte[2 << 20];
            new Random(11).nextBytes(layer);
            ReferenceRegistry.Image image = upstream.push("library/base", "1", null,
                    "{\"os\":\"linux\"}".getBytes(StandardCharsets.UTF_8), layer);
            try (ClusterNodes cluster = ClusterNodes.start(dir.resolve("cluster"), 3,
                    "--mirror", "upstream.test=" + upstream.url())) {
                for (int i = 0; i < 3; i++) {
                    int port = cluster.node(i).port();
                    Http.Reply m = Http.exchange(port, "GET", "/v2/upstream.test/library/base/manifests/1",
                            List.of("Accept: " + OCI), null);
                    assertEquals(200, m.status(), "node " + i + ": " + m.text() + "\n" + cluster.logs());
                    assertArrayEquals(image.manifest(), m.body());
                    Http.Reply b = Http.exchange(port, "GET", "/v2/upstream.test/library/base/blobs/"
                            + Registry.sha256(layer), List.of(), null);
                    assertEquals(200, b.status(), "node " + i + ": " + b.text());
                    assertArrayEquals(layer, b.body());
                }
                assertEquals(1, upstream.requests("GET", "/v2/library/base/blobs/" + Registry.sha256(layer)),
                        "fetched once, by the first node; the others read the bucket\n" + upstream.logText());
                // The manifest is fetched once; each other node, which has not checked the tag itself
                // yet, asks with a HEAD (which Docker Hub does not count) and finds it unmoved.
                assertEquals(1, upstream.requests("GET", "/v2/library/base/manifests/1"), upstream.logText());
                assertEquals(2, upstream.requests("HEAD", "/v2/library/base/manifests/1"), upstream.logText());
            }
        }
    }
}
