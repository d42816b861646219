package dev.layercache.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.TestServer;
import java.io.File;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * An image built by buildah for the purpose (a secret added then deleted, a big file copied then
 * modified, an apt-like cache left behind), pushed to a real node, then analysed over HTTP and with
 * {@code layercache analyze}: every finding, and the instructions from buildah's config history.
 * Skips without buildah or a static busybox (fails instead with -Dlayercache.requireRealClients=true).
 */
@Tag("e2e")
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AnalyzeBuildahTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int BIG = 2 << 20;

    @RegisterExtension
    static TestServer server = new TestServer();

    @TempDir
    Path work;

    @Test
    void buildahImageFindingsOverHttpAndInTheCli() throws Exception {
        Path buildah = RealTools.require("buildah", "buildah builds the analysed image");
        Path busybox = RealTools.require("busybox", "static busybox for the base image (package busybox-static)");
        String host = server.hostPort();

        // Base image: a static busybox in a FROM scratch image, pushed to the server under test.
        Path baseCtx = Files.createDirectories(work.resolve("basectx/base/bin"));
        Files.copy(busybox.toRealPath(), baseCtx.resolve("busybox"), StandardCopyOption.REPLACE_EXISTING);
        baseCtx.resolve("busybox").toFile().setExecutable(true, false);
        Files.createSymbolicLink(baseCtx.resolve("sh"), Path.of("busybox"));
        Files.writeString(work.resolve("basectx/Base.Containerfile"), "FROM scratch\nCOPY base/ /\n");
        buildah(buildah, "build", "-f", work.resolve("basectx/Base.Containerfile"), "-t", "localhost/abase",
                work.resolve("basectx"));
        buildah(buildah, "push", "--tls-verify=false", "localhost/abase", host + "/base/abase:1");

        Path ctx = Files.createDirectories(work.resolve("ctx"));
        Files.writeString(ctx.resolve("id_rsa"), "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\n"
                + "-----END OPENSSH PRIVATE KEY-----\n");
        Files.write(ctx.resolve("big.txt"), "a".repeat(BIG).getBytes());
        Files.writeString(ctx.resolve("Containerfile"), String.join("\n",
                "FROM " + host + "/base/abase:1",                                            // layer 0
                "COPY id_rsa /root/.ssh/id_rsa",                                             // layer 1
                "RUN /bin/busybox rm /root/.ssh/id_rsa",                                     // layer 2
                "COPY big.txt /data/big.txt",                                                // layer 3
                "RUN /bin/busybox sed -i 's/^a/b/' /data/big.txt",                           // layer 4
                "RUN /bin/busybox mkdir -p /var/lib/apt/lists && /bin/busybox dd if=/dev/zero"
                        + " of=/var/lib/apt/lists/deb.example_dists_stable_InRelease bs=1024 count=64", // layer 5
                ""));
        buildah(buildah, "build", "--isolation", "chroot", "--layers", "--tls-verify=false", "-f",
                ctx.resolve("Containerfile"), "-t", "localhost/analyzed", ctx);
        buildah(buildah, "push", "--tls-verify=false", "localhost/analyzed", host + "/team/analyzed:1");

        var res = new Registry(server.port()).get("/api/v1/analysis/team/analyzed/1");
        assertEquals(200, res.statusCode(), Registry.utf8(res.body()));
        JsonNode a = JSON.readTree(res.body());
        JsonNode layers = a.get("layers");
        assertEquals(6, layers.size(), layers.toString());
        assertTrue(layers.get(1).get("instruction").asText().contains("COPY"), layers.get(1).toString());
        assertTrue(layers.get(2).get("instruction").asText().contains("rm /root/.ssh/id_rsa"), layers.get(2).toString());
        assertTrue(layers.get(4).get("instruction").asText().contains("sed -i"), layers.get(4).toString());

        JsonNode secret = a.get("secrets").get(0);
        assertEquals("critical", secret.get("severity").asText(), a.get("secrets").toString());
        assertEquals("/root/.ssh/id_rsa", secret.get("path").asText());
        assertEquals(1, secret.get("layer").asInt());
        assertEquals(2, secret.get("removed_in_layer").asInt());

        JsonNode offender = a.get("wasted").get("top").get(0);
        assertEquals("/data/big.txt", offender.get("path").asText(), a.get("wasted").toString());
        assertEquals(BIG, offender.get("size").asLong());
        assertEquals(3, offender.get("layer").asInt());
        assertEquals(4, offender.get("removed_in_layer").asInt());
        assertTrue(layers.get(4).get("changed").get("count").asInt() >= 1, layers.get(4).toString());
        assertTrue(a.get("totals").get("efficiency").asDouble() < 0.7, a.get("totals").toString());

        boolean apt = false;
        for (JsonNode c : a.get("caches")) {
            if (c.get("kind").asText().equals("apt-lists")) {
                apt = true;
                assertEquals(5, c.get("layer").asInt());
                assertEquals(65536, c.get("bytes").asLong());
            }
        }
        assertTrue(apt, a.get("caches").toString());

        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out), new PrintWriter(err), "analyze", "--http",
                "http://" + host, "team/analyzed:1");
        assertEquals(0, code, out + "\n" + err);
        String table = out.toString();
        assertTrue(table.contains("!! CRITICAL /root/.ssh/id_rsa"), table);
        assertTrue(table.contains("/data/big.txt  (layer 3, overwritten in layer 4)"), table);
        assertTrue(table.contains("apt-lists"), table);
        assertTrue(table.contains("[cached]"), "the CLI's request was served from the cache:\n" + table);
        assertFalse(table.contains("skipped"), table);
    }

    private void buildah(Path buildah, Object... args) throws Exception {
        List<String> c = new ArrayList<>(List.of(buildah.toString(), "--root", "ROOT", "--runroot", "RUN",
                "--storage-driver", "vfs"));
        for (Object a : args) {
            c.add(a.toString());
        }
        Path root = work.resolve("buildah");
        c.set(2, root.resolve("root").toString());
        c.set(4, root.resolve("run").toString());
        Path log = Files.createTempFile("buildah", ".log");
        try {
            Process p = new ProcessBuilder(c).redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            if (!p.waitFor(100, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("timed out: " + c + "\n" + Files.readString(log));
            }
            if (p.exitValue() != 0) {
                throw new AssertionError("exit " + p.exitValue() + ": " + c + "\n" + Files.readString(log));
            }
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
