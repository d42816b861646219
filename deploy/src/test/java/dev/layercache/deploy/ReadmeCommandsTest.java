package dev.layercache.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.layercache.server.testing.RealTools;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The commands of the READMEs are tests. Every shell block of the files below either runs here,
 * with bash from the repository root ({@code set -euo pipefail}) against a node this test starts on
 * 127.0.0.1, with the real clients, or says on the line before it why it does not
 * ({@code <!-- not run here: ... -->}); {@link ShellBlocks} holds the convention, docs/testing.md
 * explains it. A block passes when bash exits 0 within {@link #BLOCK_TIMEOUT}; a failure names the
 * block's file and line and shows the script as run and its output.
 *
 * <p>The jars the READMEs run ({@code server/target/layercache-server.jar},
 * {@code client/target/layercache.jar}) are those of the build this test runs in: deploy/pom.xml
 * depends on the server and the client, so Maven packages both before this module's tests, and no
 * block rebuilds them (the {@code ./mvnw} blocks are marked not run).
 */
class ReadmeCommandsTest {
    /** The Markdown files whose shell blocks are checked, relative to the repository root. */
    static final List<String> FILES = List.of("README.md", "client/README.md", "deploy/README.md",
            "deploy/helm/layercache/README.md", "deploy/systemd/README.md");
    static final Duration BLOCK_TIMEOUT = Duration.ofSeconds(90);

    private static final Path ROOT = DockerFixtures.repoRoot();
    private static final Path SERVER_JAR = ROOT.resolve("server/target/layercache-server.jar");
    private static final Path CLIENT_JAR = ROOT.resolve("client/target/layercache.jar");

    @TempDir
    static Path work;

    private static Process node;
    /** The docker client the blocks run, once a block needed it. */
    private static Path dockerCli;
    private static int httpPort;
    private static int grpcPort;

    /**
     * The documented addresses and paths, and what the test puts in their place, applied in this
     * order to a block's text before it runs. {HTTP} and {GRPC} are the node's ports, {WORK} this
     * test's temporary folder. System folders ({@code /etc/...}) become empty folders under {WORK},
     * as a package would have made them.
     */
    static Map<String, String> substitutions() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("cache.internal:5000", "127.0.0.1:{HTTP}");
        s.put("cache.internal:9092", "127.0.0.1:{GRPC}");
        s.put("http://cache:5000", "http://127.0.0.1:{HTTP}");
        s.put("localhost:5000", "127.0.0.1:{HTTP}");
        s.put("localhost:9092", "127.0.0.1:{GRPC}");
        s.put("127.0.0.1:5000", "127.0.0.1:{HTTP}");
        s.put("127.0.0.1:9092", "127.0.0.1:{GRPC}");
        s.put("/tmp/cache", "{WORK}/cache");
        s.put("/etc/prometheus/", "{WORK}/etc/prometheus/");
        // The jars by their place in the repository: a block that needs a build context runs in it.
        s.put(" client/target/layercache.jar", " {ROOT}/client/target/layercache.jar");
        s.put(" server/target/layercache-server.jar", " {ROOT}/server/target/layercache-server.jar");
        return s;
    }

    // ------------------------------------------------------------------------ the marking

    @Test
    void everyShellBlockRunsOrSaysWhyNot() throws IOException {
        List<String> problems = new ArrayList<>();
        int commands = 0;
        for (String f : FILES) {
            List<ShellBlocks.Block> blocks = ShellBlocks.parse(f, Files.readString(ROOT.resolve(f)));
            problems.addAll(ShellBlocks.problems(blocks));
            commands += (int) blocks.stream().filter(ShellBlocks.Block::isCommand).count();
        }
        assertTrue(commands >= 10, "the READMEs' shell blocks were found: " + commands);
        assertEquals(List.of(), problems, "shell blocks of the READMEs (see docs/testing.md, \"The documented commands\")");
    }

    /** The check above can fail: an unmarked block, a marker on output, an unknown need, a bare "not run". */
    @Test
    void theConventionRefusesWhatItShould() {
        String md = String.join("\n",
                "text", "```", "echo unmarked", "```", "",
                "<!-- run: needs node -->", "```text", "output", "```",
                "<!-- run: needs nodes -->", "```sh", "echo hi", "```",
                "<!-- not run here -->", "```bash", "echo hi", "```",
                "<!-- not run here: needs a cluster -->", "", "```console", "$ kubectl get pods", "NAME", "```",
                "<!-- run -->", "```sh", "echo fine", "```", "");
        List<ShellBlocks.Block> blocks = ShellBlocks.parse("x.md", md);
        assertEquals(List.of(2, 7, 11, 15, 20, 25), blocks.stream().map(ShellBlocks.Block::line).toList());
        List<String> problems = ShellBlocks.problems(blocks);
        assertEquals(4, problems.size(), problems.toString());
        assertTrue(problems.get(0).startsWith("x.md:2: a ``` block with no marker"), problems.get(0));
        assertTrue(problems.get(1).startsWith("x.md:7: a marker on a ```text block"), problems.get(1));
        assertTrue(problems.get(2).startsWith("x.md:11: unknown need 'nodes'"), problems.get(2));
        assertTrue(problems.get(3).startsWith("x.md:15: <!-- not run here --> needs its reason"), problems.get(3));
        assertEquals("kubectl get pods\n", blocks.get(4).script());
        assertEquals("needs a cluster", blocks.get(4).reason());
    }

    // ------------------------------------------------------------------------ running them

    @TestFactory
    Stream<DynamicTest> documentedCommandsRun() throws IOException {
        List<ShellBlocks.Block> runnable = new ArrayList<>();
        for (String f : FILES) {
            ShellBlocks.parse(f, Files.readString(ROOT.resolve(f))).stream()
                    .filter(b -> b.isCommand() && b.kind() == ShellBlocks.Kind.RUN)
                    .forEach(runnable::add);
        }
        // Document order, one node for all: a later block may read what an earlier one stored.
        return runnable.stream().map(b -> DynamicTest.dynamicTest(
                b.where() + (b.needs().isEmpty() ? "" : " (needs " + String.join(", ", b.needs()) + ")"),
                () -> run(b)));
    }

    @AfterAll
    static void stopNode() throws InterruptedException {
        if (node != null && node.isAlive()) {
            node.destroy();
            if (!node.waitFor(30, TimeUnit.SECONDS)) {
                node.destroyForcibly();
            }
        }
    }

    private static void run(ShellBlocks.Block block) throws Exception {
        Path blockDir = Files.createDirectories(work.resolve("block-" + block.file().replace('/', '_') + "-" + block.line()));
        Path home = Files.createDirectories(blockDir.resolve("home"));
        Path binShims = Files.createDirectories(work.resolve("bin"));
        Path cwd = ROOT;
        Map<String, String> env = new LinkedHashMap<>();
        env.put("HOME", home.toString());
        for (String need : block.needs()) {
            switch (need) {
                case "node" -> startNode();
                case "layout" -> writeLayout(work.resolve("cache"));
                case "context" -> cwd = buildContext(blockDir.resolve("context"));
                case "buildah" -> {
                    RealTools.require("buildah", "a README block runs buildah");
                    // Its own image store (vfs: no overlay mounts needed), apart from other tests'.
                    Path conf = blockDir.resolve("storage.conf");
                    Files.writeString(conf, "[storage]\ndriver = \"vfs\"\ngraphroot = \"" + blockDir.resolve("storage/root")
                            + "\"\nrunroot = \"" + blockDir.resolve("storage/run") + "\"\n");
                    env.put("CONTAINERS_STORAGE_CONF", conf.toString());
                    env.put("BUILDAH_ISOLATION", "chroot");
                }
                case "docker" -> requireDocker(binShims);
                case "skopeo", "umoci", "promtool" -> RealTools.require(need, "a README block runs " + need);
                default -> fail(block.where() + ": unknown need " + need);
            }
        }
        Files.createDirectories(work.resolve("etc/prometheus"));
        String script = substitute(block.script());
        assertFalse(!block.needs().contains("node") && (script.contains("{HTTP}") || script.contains("{GRPC}")),
                block.where() + " uses the node's address but does not say 'needs node'");
        Path scriptFile = blockDir.resolve("block.sh");
        Files.writeString(scriptFile, "set -euo pipefail\n" + script);
        Path output = blockDir.resolve("output.txt");
        ProcessBuilder pb = new ProcessBuilder("bash", scriptFile.toString()).directory(cwd.toFile())
                .redirectErrorStream(true).redirectOutput(output.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("LAYERCACHE_"));
        pb.environment().putAll(env);
        pb.environment().put("PATH", binShims + ":" + Path.of(System.getProperty("java.home"), "bin") + ":"
                + System.getenv().getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin"));
        // The daemon is shared with other tests: what a block tags there is removed afterwards.
        Set<String> imagesBefore = block.needs().contains("docker") ? dockerImages() : Set.of();
        Process p = pb.start();
        boolean done = p.waitFor(BLOCK_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        if (!done) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        if (block.needs().contains("docker")) {
            Set<String> made = new TreeSet<>(dockerImages());
            made.removeAll(imagesBefore);
            if (!made.isEmpty()) {
                List<String> rmi = new ArrayList<>(List.of(dockerCli.toString(), "rmi", "-f"));
                rmi.addAll(made);
                docker(rmi);
            }
        }
        String text = Files.readString(output, StandardCharsets.UTF_8);
        if (!done || p.exitValue() != 0) {
            fail(block.where() + ": " + (done ? "exit " + p.exitValue() : "still running after " + BLOCK_TIMEOUT.toSeconds() + " s")
                    + " (in " + cwd + ")\n--- the block as run ---\n" + script + "--- its output ---\n" + tail(text, 6000));
        }
    }

    static String substitute(String text) {
        String out = text;
        for (var e : substitutions().entrySet()) {
            out = out.replace(e.getKey(), e.getValue());
        }
        if (node != null) {
            out = out.replace("{HTTP}", Integer.toString(httpPort)).replace("{GRPC}", Integer.toString(grpcPort));
        }
        return out.replace("{WORK}", work.toString()).replace("{ROOT}", ROOT.toString());
    }

    // ------------------------------------------------------------------------ what blocks need

    /** The README's own command, {@code java -jar server/target/layercache-server.jar}, on free ports. */
    private static synchronized void startNode() throws Exception {
        if (node != null) {
            assertTrue(node.isAlive(), "the test's node has stopped; its log: " + work.resolve("node.log"));
            return;
        }
        RealTools.requireThat(Files.isRegularFile(SERVER_JAR) && Files.isRegularFile(CLIENT_JAR),
                "the packaged jars are missing (" + SERVER_JAR + ", " + CLIENT_JAR + "): run ./mvnw -B package first");
        httpPort = freePort();
        grpcPort = freePort();
        Path log = work.resolve("node.log");
        node = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m", "-jar",
                SERVER_JAR.toString(), "--data-dir", work.resolve("node-data").toString(), "--bind-address", "127.0.0.1",
                "--http-port", Integer.toString(httpPort), "--grpc-port", Integer.toString(grpcPort))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (!node.isAlive()) {
                fail("the node exited with " + node.exitValue() + ":\n" + Files.readString(log));
            }
            if (ready()) {
                return;
            }
            Thread.sleep(100);
        }
        fail("the node was not ready within 60 s:\n" + Files.readString(log));
    }

    private static boolean ready() {
        try {
            HttpURLConnection c = (HttpURLConnection) URI.create("http://127.0.0.1:" + httpPort + "/readyz").toURL().openConnection();
            c.setConnectTimeout(1000);
            c.setReadTimeout(1000);
            try {
                return c.getResponseCode() == 200;
            } finally {
                c.disconnect();
            }
        } catch (IOException e) {
            return false;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /**
     * An OCI image layout as BuildKit's {@code --cache-to type=local} leaves one (one manifest,
     * tagged {@code main}, with its config and one layer), where the README's {@code /tmp/cache} is.
     */
    static void writeLayout(Path dir) throws Exception {
        Path blobs = Files.createDirectories(dir.resolve("blobs/sha256"));
        byte[] layer = "not a real tar: the server stores layers without reading them\n".getBytes(StandardCharsets.UTF_8);
        byte[] config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}"
                .getBytes(StandardCharsets.UTF_8);
        String layerDigest = blob(blobs, layer);
        String configDigest = blob(blobs, config);
        byte[] manifest = ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + configDigest
                + "\",\"size\":" + config.length + "},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                + "\"digest\":\"" + layerDigest + "\",\"size\":" + layer.length + "}]}").getBytes(StandardCharsets.UTF_8);
        String manifestDigest = blob(blobs, manifest);
        Files.writeString(dir.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        Files.writeString(dir.resolve("index.json"), "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                + "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" + manifestDigest
                + "\",\"size\":" + manifest.length + ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}");
    }

    private static String blob(Path blobs, byte[] content) throws Exception {
        String hex = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
        Files.write(blobs.resolve(hex), content);
        return "sha256:" + hex;
    }

    /** A build context for the README's {@code buildah build} and {@code docker build} ({@code .}): nothing to pull. */
    private static Path buildContext(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\n");
        Files.writeString(dir.resolve("hello.txt"), "hello from the README test\n");
        Files.writeString(dir.resolve("package.json"), "{\"name\": \"app\"}\n"); // client/README.md's steps read it
        return dir;
    }

    /**
     * dockerd as .ci/run starts it ({@code DOCKER_HOST}), and the 20.10 client of Debian's docker.io:
     * the {@code docker} first on PATH here may be a newer client without buildx, which refuses
     * {@code DOCKER_BUILDKIT=1} builds, so a shim directory first on PATH runs {@code /usr/bin/docker}.
     */
    private static void requireDocker(Path binShims) throws Exception {
        Path docker = Files.isExecutable(Path.of("/usr/bin/docker")) ? Path.of("/usr/bin/docker")
                : RealTools.require("docker", "a README block runs docker");
        String host = System.getenv("DOCKER_HOST");
        RealTools.requireThat(host != null && !host.isBlank(), "DOCKER_HOST is not set (start dockerd as .ci/run does)");
        Process info = new ProcessBuilder(docker.toString(), "info").redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        boolean answered = info.waitFor(20, TimeUnit.SECONDS) && info.exitValue() == 0;
        if (info.isAlive()) {
            info.destroyForcibly();
        }
        RealTools.requireThat(answered, "no Docker daemon answers at DOCKER_HOST=" + host);
        dockerCli = docker;
        Path shim = binShims.resolve("docker");
        Files.writeString(shim, "#!/bin/sh\nexec " + docker + " \"$@\"\n");
        shim.toFile().setExecutable(true);
    }

    /** The daemon's images as {@code REPOSITORY:TAG} (and {@code ID} for untagged ones). */
    private static Set<String> dockerImages() throws Exception {
        Set<String> images = new TreeSet<>();
        for (String l : docker(List.of(dockerCli.toString(), "images", "-a", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")).split("\n")) {
            String[] parts = l.strip().split(" ");
            if (parts.length == 2) {
                images.add(parts[0].endsWith("<none>") ? parts[1] : parts[0]);
            }
        }
        return images;
    }

    private static String docker(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        return out;
    }

    private static String tail(String text, int max) {
        return text.length() <= max ? text : "...\n" + text.substring(text.length() - max);
    }
}
