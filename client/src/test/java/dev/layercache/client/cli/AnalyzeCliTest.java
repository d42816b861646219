package dev.layercache.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.analysis.Layers;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@code layercache analyze} and {@code layercache sharing} in this JVM against a real node. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AnalyzeCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static TestServer server = new TestServer();

    record Run(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\nstdout:\n" + out + "stderr:\n" + err;
        }
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out), new PrintWriter(err), args);
        return new Run(code, out.toString(), err.toString());
    }

    private static void push(String repo, byte[] config, byte[]... layers) throws Exception {
        Registry r = new Registry(server.port());
        assertEquals(201, r.pushBlob(repo, config));
        for (byte[] l : layers) {
            assertEquals(201, r.pushBlob(repo, l));
        }
        assertEquals(201, r.pushManifest(repo, "v1", "application/vnd.oci.image.manifest.v1+json",
                Registry.imageManifest(config, layers)));
    }

    @Test
    void analyzePrintsSecretsFirstThenLayersWasteCachesAndScore() throws Exception {
        byte[] config = ("{\"os\":\"linux\",\"history\":[{\"created_by\":\"ADD rootfs\"},{\"created_by\":\"COPY . /app\"},"
                + "{\"created_by\":\"RUN rm /app/.env\"}]}").getBytes();
        byte[] base = new Layers().file("bin/sh", 40_000).gzip();
        byte[] app = new Layers().file("app/.env", "SECRET=1\n").file("app/big.dat", 500_000)
                .file("var/cache/apk/APKINDEX.tar.gz", 20_000).gzip();
        byte[] clean = new Layers().whiteout("app/.env").file("app/big.dat", 400_000).gzip();
        push("cli/app", config, base, app, clean);
        String http = "http://127.0.0.1:" + server.port();

        Run r = run("analyze", "--http", http, "cli/app:v1");
        assertEquals(0, r.code(), r.toString());
        String out = r.out();
        assertTrue(out.indexOf("!! CRITICAL /app/.env") >= 0, out);
        assertTrue(out.indexOf("!! CRITICAL") < out.indexOf("instruction"), "secrets come first:\n" + out);
        assertTrue(out.contains("STILL STORED in layer 1"), out);
        assertTrue(out.contains("COPY . /app") && out.contains("RUN rm /app/.env"), out);
        assertTrue(out.contains("/app/big.dat  (layer 1, overwritten in layer 2)"), out);
        assertTrue(out.contains("apk") && out.contains("layer 1"), out);
        assertTrue(out.matches("(?s).*Efficiency: \\d+\\.\\d%.*"), out);

        Run json = run("analyze", "--http", http, "--json", "cli/app:v1");
        assertEquals(0, json.code(), json.toString());
        JsonNode a = JSON.readTree(json.out());
        assertEquals(500_000 + 9, a.get("totals").get("wasted_bytes").asLong());
        assertTrue(a.get("cached").asBoolean(), "the second request is served from the cache");

        assertEquals(ExitCodes.FINDINGS, run("analyze", "--http", http, "--fail-on-secrets", "cli/app:v1").code());
        Run missing = run("analyze", "--http", http, "cli/app:nope");
        assertEquals(ExitCodes.NOT_FOUND, missing.code(), missing.toString());
        assertTrue(missing.err().contains("MANIFEST_UNKNOWN"), missing.toString());

        push("cli/other", "{\"os\":\"linux\"}".getBytes(), base);
        Run sharing = run("sharing", "--http", http);
        assertEquals(0, sharing.code(), sharing.toString());
        assertTrue(sharing.out().contains("cli/app, cli/other"), sharing.out());
        Run sharingJson = run("sharing", "--http", http, "--json");
        JsonNode s = JSON.readTree(sharingJson.out());
        assertTrue(s.get("logical_bytes").asLong() > s.get("physical_bytes").asLong());
    }
}
