package dev.layercache.server.analysis;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.auth.Credentials;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Analysis needs read on the repository; sharing counts only repositories the caller may read. */
class AnalysisAccessTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final Path DIR;

    static {
        try {
            DIR = Files.createTempDirectory("layercache-analysis-auth");
            Files.writeString(DIR.resolve("tokens"), "ops sha256:" + Credentials.sha256("ops-token") + "\n"
                    + "team sha256:" + Credentials.sha256("team-token") + "\n");
            Files.writeString(DIR.resolve("rules.yaml"), String.join("\n", "rules:",
                    "  - identity: ops", "    namespaces: [\"*\"]", "    actions: [read, write, delete, admin]",
                    "  - identity: team", "    namespaces: [\"team/*\"]", "    actions: [read]", ""));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @RegisterExtension
    static TestServer server = new TestServer(c -> c.withAuth(new ServerConfig.Auth(null, DIR.resolve("tokens"),
            DIR.resolve("rules.yaml"), false, "")));

    private HttpResponse<byte[]> send(String method, String path, String token, byte[] body, String type)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        if (type != null) {
            b.header("Content-Type", type);
        }
        return new Registry(server.port()).send(b);
    }

    private void push(String repo, byte[] config, byte[]... layers) throws Exception {
        List<byte[]> all = new ArrayList<>(List.of(layers));
        all.add(config);
        for (byte[] blob : all) {
            assertEquals(201, send("POST", "/v2/" + repo + "/blobs/uploads/?digest=" + Registry.sha256(blob), "ops-token",
                    blob, "application/octet-stream").statusCode());
        }
        assertEquals(201, send("PUT", "/v2/" + repo + "/manifests/v1", "ops-token",
                Registry.imageManifest(config, layers).getBytes(), "application/vnd.oci.image.manifest.v1+json")
                .statusCode());
    }

    @Test
    void analysisNeedsReadAndSharingShowsOnlyReadableRepositories() throws Exception {
        byte[] base = new Layers().file("bin/sh", 1000).gzip();
        byte[] config = "{}".getBytes();
        push("team/app", config, base);
        push("secret/app", config, base);

        assertEquals(200, send("GET", "/api/v1/analysis/team/app/v1", "team-token", null, null).statusCode());
        assertEquals(403, send("GET", "/api/v1/analysis/secret/app/v1", "team-token", null, null).statusCode());
        assertEquals(401, send("GET", "/api/v1/analysis/team/app/v1", null, null, null).statusCode());

        JsonNode ops = JSON.readTree(send("GET", "/api/v1/sharing", "ops-token", null, null).body());
        assertEquals(2, ops.get("repositories").asInt());
        assertEquals(List.of("secret/app", "team/app"), repos(ops.get("top_shared").get(0)));
        JsonNode team = JSON.readTree(send("GET", "/api/v1/sharing", "team-token", null, null).body());
        assertEquals(1, team.get("repositories").asInt(), team.toString());
        assertEquals(0, team.get("shared_layers").asInt(), "secret/app's use of the layer is not shown");
        assertEquals(team.get("logical_bytes"), team.get("physical_bytes"));
        assertEquals(401, send("GET", "/api/v1/sharing", null, null, null).statusCode());
    }

    private static List<String> repos(JsonNode layer) {
        List<String> out = new ArrayList<>();
        layer.get("repositories").forEach(r -> out.add(r.asText()));
        return out;
    }
}
