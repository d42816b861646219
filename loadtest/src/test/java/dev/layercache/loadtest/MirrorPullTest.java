package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.ReferenceRegistry;
import dev.layercache.server.testing.ServerProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code mirror-pull} against a real node mirroring real CNCF Distribution: every kind of pull is
 * measured in every round with the bytes of the whole image, and the upstream's access log shows
 * what the benchmark claims to measure: each cold image fetched by the node once (also when
 * several pullers ask at once), no blob fetched upstream for a warm pull. No timing is asserted.
 */
class MirrorPullTest {
    private static final int ROUNDS = 2;
    private static final int PULLERS = 3;

    @TempDir
    Path dir;

    @Test
    void measuresEveryKindOfPullAndTheNodeFetchesEachColdImageOnce() throws Exception {
        try (ReferenceRegistry upstream = ReferenceRegistry.start(dir.resolve("upstream"));
             ServerProcess node = ServerProcess.start(Files.createDirectories(dir.resolve("node")),
                     dir.resolve("node.log"), "--mirror", "bench.test=" + upstream.url())) {
            Path json = dir.resolve("mirror-pull.json");
            Path work = Files.createDirectories(dir.resolve("work"));
            int exit = new CommandLine(new Main()).execute("mirror-pull",
                    "--mirror", "http://127.0.0.1:" + node.port(), "--upstream", upstream.url().toString(),
                    "--mirror-pid", Long.toString(node.process().pid()), "--layers-mib", "1,2",
                    "--rounds", Integer.toString(ROUNDS), "--warmup", "0", "--concurrency", Integer.toString(PULLERS),
                    "--work-dir", work.toString(), "--json", json.toString());
            assertEquals(0, exit);

            JsonNode out = new ObjectMapper().readTree(json.toFile());
            long imageBytes = out.path("image_bytes").asLong();
            assertEquals(3L << 20, imageBytes - out.path("image_blobs").get(0).path("size").asLong(),
                    "two layers of 1 and 2 MiB after the config");
            Map<String, Integer> perKind = new HashMap<>();
            for (JsonNode p : out.path("pulls")) {
                perKind.merge(p.path("kind").asText(), 1, Integer::sum);
                assertEquals(imageBytes * p.path("pullers").asInt(), p.path("bytes").asLong(), p::toString);
                assertEquals(p.path("pullers").asInt(), p.path("each_pull_seconds").size(), p::toString);
                assertTrue(p.path("seconds").asDouble() > 0 && p.path("node_cpu_s_per_GiB").asDouble() >= 0,
                        p::toString);
            }
            assertEquals(Map.of("mirror-cold", ROUNDS, "upstream-cold-image", ROUNDS, "mirror-warm", ROUNDS,
                    "upstream-warm-image", ROUNDS, "mirror-cold-x" + PULLERS, ROUNDS, "mirror-warm-x" + PULLERS, ROUNDS,
                    "upstream-x" + PULLERS, ROUNDS), perKind);
            assertTrue(out.path("markdown").asText().contains("| mirror-cold | 1 |"), out.path("markdown")::asText);

            // Blob GETs the upstream served: the node's one fetch of each blob of the images it saw
            // cold (the warm image once, two cold images a round), and every direct pull's.
            int blobs = out.path("image_blobs").size();
            long nodeFetches = (long) blobs * (1 + 2 * ROUNDS);
            long directPulls = (long) blobs * (1 + ROUNDS * 2 + ROUNDS * PULLERS);
            assertEquals(nodeFetches + directPulls, upstream.requests("GET", "/v2/bench/image/blobs/"),
                    upstream::logText);
            try (var left = Files.list(work)) {
                assertEquals(0, left.count(), "the layers made for the pushes are removed");
            }
        }
    }
}
