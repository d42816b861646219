package dev.layercache.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code layercache builds} against a real node: two pushes of one BuildKit registry cache (the
 * image-manifest shape) are listed newest first, the second compared with the first; a name the
 * server refuses is its 400, exit 2. {@link BuildsCliTest} covers every way of printing.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BuildsRealServerCliTest {
    @RegisterExtension
    static TestServer server = new TestServer();

    @Test
    void listsTheBuildsTheServerRecorded() throws Exception {
        Registry registry = new Registry(server.port());
        String repo = "cli/cache";
        byte[] base = random(2000, 1);
        byte[] top = random(3000, 2);
        byte[] config = ("{\"layers\":[{\"blob\":\"" + Registry.sha256(base) + "\",\"parent\":-1,\"annotations\":"
                + "{\"additional\":{\"buildkit/description\":\"[1/2] FROM base\"}}},{\"blob\":\"" + Registry.sha256(top)
                + "\",\"annotations\":{\"additional\":{\"buildkit/description\":\"[2/2] RUN make\"}}}],\"records\":["
                + "{\"digest\":\"" + Registry.sha256("from".getBytes(StandardCharsets.UTF_8)) + "\",\"layers\":[{\"layer\":0}]},"
                + "{\"digest\":\"" + Registry.sha256("run".getBytes(StandardCharsets.UTF_8))
                + "\",\"layers\":[{\"layer\":1}],\"inputs\":[[{\"link\":0}]]}]}").getBytes(StandardCharsets.UTF_8);
        String manifest = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{"
                + "\"mediaType\":\"application/vnd.buildkit.cacheconfig.v0\",\"digest\":\"" + Registry.sha256(config)
                + "\",\"size\":" + config.length + "},\"layers\":[" + layer(base) + "," + layer(top) + "]}";
        assertEquals(201, registry.pushBlob(repo, base));
        assertEquals(201, registry.pushBlob(repo, top));
        assertEquals(201, registry.pushBlob(repo, config));
        String http = "http://127.0.0.1:" + server.port();
        for (int push = 1; push <= 2; push++) {
            assertEquals(201, registry.pushManifest(repo, "buildcache", "application/vnd.oci.image.manifest.v1+json",
                    manifest));
            server.server().builds().awaitIdle();
        }

        AnalyzeCliTest.Run r = AnalyzeCliTest.run("builds", "--http", http, repo);
        assertEquals(0, r.code(), r.toString());
        String out = r.out();
        int compared = out.indexOf("2 steps: 2 reused, 0 rebuilt");
        int first = out.indexOf("first export: nothing to compare with");
        assertTrue(compared >= 0 && first > compared, "newest first, the second push compared with the first:\n" + out);
        assertTrue(out.contains("buildkit") && out.contains(repo + ":buildcache"), out);

        AnalyzeCliTest.Run json = AnalyzeCliTest.run("builds", "--http", http, "--json", "--limit", "1", repo);
        assertEquals(0, json.code(), json.toString());
        assertTrue(json.out().contains("\"status\" : \"compared\"") || json.out().contains("\"status\":\"compared\""),
                json.out());

        AnalyzeCliTest.Run refused = AnalyzeCliTest.run("builds", "--http", http, "Not/Valid");
        assertEquals(ExitCodes.INVALID, refused.code(), refused.toString());
        assertTrue(refused.err().contains("NAME_INVALID") || refused.err().contains("invalid repository name"),
                refused.toString());
    }

    private static String layer(byte[] blob) {
        return "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" + Registry.sha256(blob)
                + "\",\"size\":" + blob.length + "}";
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }
}
