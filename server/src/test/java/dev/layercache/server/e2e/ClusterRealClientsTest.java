package dev.layercache.server.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.ClusterNodes;
import dev.layercache.server.testing.RealTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real clients against a three-node cluster sharing one bucket: skopeo pushes an image through
 * node 3 and pulls it through node 1, byte for byte; buildah exports its layer cache through node 1
 * and a second, empty buildah builds the same thing through node 2 without running a step.
 */
@Tag("e2e")
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ClusterRealClientsTest {
    private static final Pattern RAN = Pattern.compile("(?m)^RAN-STEP-(\\d+) ");

    @TempDir
    Path work;

    @Test
    void skopeoAndBuildahThroughDifferentNodes() throws Exception {
        Path buildah = RealTools.require("buildah", "buildah against a cluster");
        Path skopeo = RealTools.require("skopeo", "skopeo against a cluster");
        try (ClusterNodes cluster = ClusterNodes.start(work.resolve("cluster"), 3)) {
            String node1 = "127.0.0.1:" + cluster.node(0).port();
            String node2 = "127.0.0.1:" + cluster.node(1).port();
            String node3 = "127.0.0.1:" + cluster.node(2).port();

            // --- the base image, as an OCI layout, pushed by skopeo through node 3 ------------------
            Path baseCtx = BusyboxBase.create(work.resolve("basectx"));
            BuildahRoot maker = new BuildahRoot(buildah, work.resolve("root-base"));
            maker.ok("build", "-f", baseCtx.resolve("Base.Containerfile"), "-t", "localhost/busybase", baseCtx);
            Path layout = work.resolve("layout");
            maker.ok("push", "localhost/busybase", "oci:" + layout + ":1");
            Cmd.of(skopeo, "--insecure-policy", "copy", "--dest-tls-verify=false", "oci:" + layout + ":1",
                    "docker://" + node3 + "/base/busybase:1").ok();

            // --- pulled back through node 1: the very same manifest and blobs ----------------------
            Path back = work.resolve("back");
            Cmd.of(skopeo, "--insecure-policy", "copy", "--src-tls-verify=false",
                    "docker://" + node1 + "/base/busybase:1", "oci:" + back + ":1").ok();
            assertEquals(blobs(layout), blobs(back), "the layout pulled through node 1 has every blob pushed"
                    + " through node 3" + cluster.logs());
            for (String blob : blobs(layout)) {
                assertEquals(-1L, Files.mismatch(layout.resolve("blobs/sha256").resolve(blob),
                        back.resolve("blobs/sha256").resolve(blob)), "blob " + blob + " byte for byte");
            }

            // --- buildah: cache exported through node 1, imported through node 2 --------------------
            Path ctx = Files.createDirectories(work.resolve("ctx"));
            Files.writeString(ctx.resolve("a.txt"), "a-" + UUID.randomUUID() + "\n");
            Files.writeString(ctx.resolve("Containerfile"), String.join("\n",
                    "FROM " + node1 + "/base/busybase:1",
                    "RUN echo \"RAN-STEP-2 $(cat /proc/sys/kernel/random/uuid)\" && echo two > /two",
                    "COPY a.txt /a.txt",
                    "RUN echo \"RAN-STEP-4 $(cat /proc/sys/kernel/random/uuid)\" && cat /a.txt > /four",
                    ""));
            BuildahRoot a = new BuildahRoot(buildah, work.resolve("root-a"));
            a.ok("pull", "--tls-verify=false", node1 + "/base/busybase:1");
            Cmd.Result buildA = a.ok("build", "--isolation", "chroot", "--layers", "--tls-verify=false",
                    "--cache-to", node1 + "/cache/app", "-f", ctx.resolve("Containerfile"), "-t", "localhost/app", ctx);
            assertEquals(2, count(RAN, buildA.output()), "builder A runs both RUN steps" + buildA.describe());

            // Builder B names node 1 in FROM (the Containerfile is shared) but reaches every
            // registry through node 2: its registries.conf mirrors node 1's address there.
            BuildahRoot b = new BuildahRoot(buildah, work.resolve("root-b"));
            b.ok("pull", "--tls-verify=false", node2 + "/base/busybase:1");
            b.ok("tag", node2 + "/base/busybase:1", node1 + "/base/busybase:1");
            Cmd.Result buildB = b.ok("build", "--isolation", "chroot", "--layers", "--tls-verify=false",
                    "--pull=never", "--cache-from", node2 + "/cache/app", "-f", ctx.resolve("Containerfile"),
                    "-t", "localhost/app", ctx);
            assertEquals(0, count(RAN, buildB.output()),
                    "builder B takes every step from the cache exported through another node" + buildB.describe());
            assertTrue(buildB.output().contains("Cache pulled from remote " + node2 + "/cache/app"),
                    buildB.describe());
            assertEquals(buildA.lastLine(), buildB.lastLine(), "the same image, layer for layer");
            assertFalse(cluster.node(1).log().contains("ERROR"), cluster.logs());
        }
    }

    private static List<String> blobs(Path layout) throws Exception {
        try (Stream<Path> files = Files.list(layout.resolve("blobs/sha256"))) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static int count(Pattern p, String text) {
        Matcher m = p.matcher(text);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }
}
