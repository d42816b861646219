package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.auth.Credentials;
import dev.layercache.server.testing.ClusterNodes;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.Registry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A cluster with access control: nodes take each other's upload sessions over with their node
 * token, while the hand-over endpoint refuses anybody else (it hands out a client's bytes).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ClusterAuthTest {
    @TempDir
    Path dir;

    @Test
    void sessionsMoveBetweenNodesWithTheNodeTokenAndNobodyElseMayTakeThem() throws Exception {
        Path tokens = Files.writeString(dir.resolve("tokens"), "builder sha256:" + Credentials.sha256("b-token")
                + "\nnodes sha256:" + Credentials.sha256("n-token") + "\n");
        Path rules = Files.writeString(dir.resolve("rules.yaml"), String.join("\n", "rules:",
                "  - identity: builder", "    namespaces: [\"team/*\"]", "    actions: [read, write]",
                "  - identity: nodes", "    namespaces: [\"*\"]", "    actions: [admin]", ""));
        try (ClusterNodes cluster = ClusterNodes.start(dir.resolve("cluster"), 2, "--auth-tokens", tokens.toString(),
                "--auth-rules", rules.toString(), "--node-token", "n-token")) {
            List<String> builder = List.of("Authorization: Bearer b-token", "Content-Type: application/octet-stream");
            byte[] blob = new byte[300_000];
            new Random(3).nextBytes(blob);
            Http.Reply post = Http.exchange(cluster.node(0).port(), "POST", "/v2/team/app/blobs/uploads/", builder, null);
            assertEquals(202, post.status(), post.text());
            String location = post.header("Location");
            assertEquals(202, Http.exchange(cluster.node(0).port(), "PATCH", location, builder,
                    Arrays.copyOf(blob, 100_000)).status());
            String id = location.substring(location.lastIndexOf('/') + 1);

            // The builder may write team/*, but the hand-over is for nodes (admin) only.
            for (List<String> who : List.of(List.<String>of(), builder)) {
                Http.Reply stolen = Http.exchange(cluster.node(0).port(), "GET", "/internal/v1/uploads/" + id, who, null);
                assertEquals(who.isEmpty() ? 401 : 403, stolen.status(), stolen.text());
            }
            // The next chunk lands on node 1, which takes the session over with its node token.
            Http.Reply second = Http.exchange(cluster.node(1).port(), "PATCH", location, builder,
                    Arrays.copyOfRange(blob, 100_000, blob.length));
            assertEquals(202, second.status(), second.text() + cluster.logs());
            Http.Reply put = Http.exchange(cluster.node(1).port(), "PUT", location + "?digest=" + Registry.sha256(blob),
                    builder, null);
            assertEquals(201, put.status(), put.text());
            Http.Reply got = Http.exchange(cluster.node(0).port(), "GET", "/v2/team/app/blobs/" + Registry.sha256(blob),
                    builder, null);
            assertArrayEquals(blob, got.body());
            assertTrue(cluster.node(1).log().contains("took over upload"), cluster.logs());
        }
    }
}
