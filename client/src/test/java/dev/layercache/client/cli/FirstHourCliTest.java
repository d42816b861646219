package dev.layercache.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.client.Digest;
import dev.layercache.client.cli.CliTest.Run;
import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a newcomer types in the first hour, against a real node: the address options before or
 * after the command and from the environment, one hint naming the other port, errors that say what
 * to do, a build recorded for {@code explain}, and the layout commands refusing likely typos.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class FirstHourCliTest {
    @TempDir
    static Path data;

    @TempDir
    Path work;

    static LayerCacheServer server;
    static String target;
    static String http;

    @BeforeAll
    static void start() throws Exception {
        server = LayerCacheServer.start(ServerConfig.forTesting(data));
        target = "127.0.0.1:" + server.grpcPort();
        http = "http://127.0.0.1:" + server.httpPort();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static final String ABSENT = Digest.sha256(new byte[7]).toString();

    @Test
    void addressOptionsGoBeforeOrAfterTheCommand() {
        // The README's form: the options in $L, before the command name.
        Run before = CliTest.run("--target", target, "--plaintext", "stat", "-n", "first/app", ABSENT);
        assertEquals(1, before.code(), before.toString());
        assertEquals(ABSENT + " missing\n", before.out());
        Run after = CliTest.run("stat", "--target", target, "-n", "first/app", ABSENT);
        assertEquals(1, after.code(), after.toString());
        Run httpBefore = CliTest.run("--http", http, "--target", target, "store");
        assertEquals(0, httpBefore.code(), httpBefore.toString());
        Run bothBefore = CliTest.run("--target", target, "--http", http, "gc", "--dry-run");
        assertEquals(0, bothBefore.code(), bothBefore.toString());

        Run unknownBefore = CliTest.run("--no-such-option", "store");
        assertEquals(2, unknownBefore.code(), unknownBefore.toString());
        Run unknownAfter = CliTest.run("store", "--no-such-option");
        assertEquals(2, unknownAfter.code(), unknownAfter.toString());
        assertTrue(unknownAfter.err().contains("Unknown option: '--no-such-option'"), unknownAfter.toString());
    }

    @Test
    void theEnvironmentGivesEachAddress() throws Exception {
        // Environment variables cannot be set inside this JVM: the tool runs in its own.
        Run grpc = java(Map.of("LAYERCACHE_TARGET", target, "LAYERCACHE_NAMESPACE", "first/env"), "stat", ABSENT);
        assertEquals(1, grpc.code(), grpc.toString());
        assertEquals(ABSENT + " missing\n", grpc.out());
        Run store = java(Map.of("LAYERCACHE_HTTP", http.substring("http://".length())), "store");
        assertEquals(0, store.code(), store.toString());
        assertTrue(store.out().contains("last gc"), store.toString());
        Run gcWithTargetOnly = java(Map.of("LAYERCACHE_TARGET", target), "gc");
        assertEquals(2, gcWithTargetOnly.code(), gcWithTargetOnly.toString());
        assertTrue(gcWithTargetOnly.err().contains("add --http http://127.0.0.1:5000 (the node's --http-port) or set"
                + " LAYERCACHE_HTTP"), gcWithTargetOnly.toString());

        Run help = CliTest.run("--help");
        for (String s : List.of("LAYERCACHE_TARGET", "LAYERCACHE_HTTP", "LAYERCACHE_TOKEN", "LAYERCACHE_NAMESPACE",
                "LAYERCACHE_CA_FILE", "store, gc, purge, analyze, sharing and", "push-layout and pull-layout")) {
            assertTrue(help.out().contains(s), s + " in\n" + help.out());
        }
        assertFalse(help.out().contains("for store and gc"), help.out());
    }

    @Test
    void oneAddressSaysWhichOtherToAdd() {
        Run gc = CliTest.run("--target", "cache.internal:9092", "gc");
        assertEquals(2, gc.code(), gc.toString());
        assertEquals("layercache: gc uses the server's HTTP API: add --http http://cache.internal:5000 (the node's"
                + " --http-port) or set LAYERCACHE_HTTP; --target cache.internal:9092 is its gRPC port, for lookups,"
                + " entries, blobs, explain and the layouts\n", gc.err());
        Run stat = CliTest.run("--http", "http://cache.internal:5000", "stat", "-n", "first/app", ABSENT);
        assertEquals(2, stat.code(), stat.toString());
        assertTrue(stat.err().contains("stat uses the server's gRPC API: add --target cache.internal:9092"), stat.toString());
    }

    @Test
    void errorsSayWhatHappenedAndWhatToDo() throws Exception {
        Run noScheme = CliTest.run("store", "--http", "127.0.0.1:" + server.httpPort());
        assertEquals(0, noScheme.code(), "http:// is assumed: " + noScheme);

        int closed;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        Run refused = CliTest.run("store", "--http", "127.0.0.1:" + closed);
        assertEquals(ExitCodes.UNREACHABLE, refused.code(), refused.toString());
        assertEquals("layercache: cannot reach http://127.0.0.1:" + closed + ": connection refused (nothing listens"
                + " there)\n", refused.err());

        Run httpAtGrpc = CliTest.run("store", "--http", "http://" + target);
        assertEquals(ExitCodes.UNREACHABLE, httpAtGrpc.code(), httpAtGrpc.toString());
        assertTrue(httpAtGrpc.err().contains("is this the gRPC port?"), httpAtGrpc.toString());
        assertEquals(1, httpAtGrpc.err().lines().count(), httpAtGrpc.toString());

        Run grpcAtHttp = CliTest.run("stat", "--target", "127.0.0.1:" + server.httpPort(), "--retries", "0",
                "-n", "first/app", ABSENT);
        assertTrue(grpcAtHttp.code() == ExitCodes.SERVER || grpcAtHttp.code() == ExitCodes.UNREACHABLE,
                grpcAtHttp.toString());
        assertTrue(grpcAtHttp.err().contains("is this the HTTP port?"), grpcAtHttp.toString());
        assertEquals(1, grpcAtHttp.err().lines().count(), grpcAtHttp.toString());

        Run upper = CliTest.run("stat", "--target", target, "-n", "Team/App", ABSENT);
        assertEquals(2, upper.code(), upper.toString());
        assertTrue(upper.err().startsWith("layercache: invalid namespace \"Team/App\": uppercase letters are not"
                + " allowed ('T'); use team/app"), upper.toString());
        assertFalse(upper.err().contains("namespace: namespace"), upper.toString());
        Run slash = CliTest.run("pull-layout", "--target", target, "team//app:v1", work.resolve("o").toString());
        assertEquals(2, slash.code(), slash.toString());
        assertTrue(slash.err().contains("empty path component"), slash.toString());
    }

    @Test
    void gcSaysWhatItsNumbersAre() {
        Run dry = CliTest.run("gc", "--http", http, "--dry-run");
        assertEquals(0, dry.code(), dry.toString());
        assertTrue(dry.out().matches("(?s).*would collect \\d+ blobs \\(.*\\) of \\d+ stored; \\d+ unreferenced kept"
                + " within the grace period; \\d+ digests referenced by manifests and entries; \\d+ ms\n"), dry.out());
    }

    @Test
    void pushLayoutRefusesATagTheLayoutDoesNotHave() throws Exception {
        Path layout = layout(work.resolve("layout"), "v1");
        Run typo = CliTest.run("push-layout", "--target", target, layout.toString(), "first/layout:nosuchtag");
        assertEquals(2, typo.code(), typo.toString());
        assertTrue(typo.err().contains("no manifest named nosuchtag") && typo.err().contains("(its tags: v1)"),
                typo.toString());
        Run nothingPushed = CliTest.run("pull-layout", "--target", target, "first/layout:nosuchtag",
                work.resolve("none").toString());
        assertEquals(1, nothingPushed.code(), "nothing was pushed under the typo: " + nothingPushed);

        Run right = CliTest.run("push-layout", "--target", target, layout.toString(), "first/layout:v1");
        assertEquals(0, right.code(), right.toString());
        // A layout whose only manifest has no name (a BuildKit cache export) is tagged as asked.
        Path unnamed = layout(work.resolve("unnamed"), null);
        Run tagged = CliTest.run("push-layout", "--target", target, unnamed.toString(), "first/layout:cache");
        assertEquals(0, tagged.code(), tagged.toString());
    }

    @Test
    void pullLayoutWritesOnlyIntoAnEmptyDirectoryOrALayout() throws Exception {
        Path layout = layout(work.resolve("src"), "v2");
        assertEquals(0, CliTest.run("push-layout", "--target", target, layout.toString(), "first/pull:v2").code());

        Path home = Files.createDirectories(work.resolve("home"));
        Files.writeString(home.resolve("notes.txt"), "mine");
        Run refused = CliTest.run("pull-layout", "--target", target, "first/pull:v2", home.toString());
        assertEquals(2, refused.code(), refused.toString());
        assertTrue(refused.err().contains("is a non-empty directory that is not an OCI image layout"), refused.toString());
        assertFalse(Files.exists(home.resolve("index.json")), "nothing written");

        Run forced = CliTest.run("pull-layout", "--target", target, "--force", "first/pull:v2", home.toString());
        assertEquals(0, forced.code(), forced.toString());
        Run again = CliTest.run("pull-layout", "--target", target, "first/pull:v2", home.toString());
        assertEquals(0, again.code(), "an OCI layout is written to: " + again);
        Run fresh = CliTest.run("pull-layout", "--target", target, "first/pull:v2", work.resolve("new").toString());
        assertEquals(0, fresh.code(), fresh.toString());
    }

    @Test
    void lookupsRecordABuildThatExplainReads() throws Exception {
        Path ctx = Files.createDirectories(work.resolve("ctx"));
        Files.writeString(ctx.resolve("package.json"), "{}\n");
        Path record = work.resolve("build.txtpb");
        String[] g = {"--target", target};
        String k1 = CliTest.run("key", "--instruction", "FROM scratch").out().trim();
        // Build 1: both steps miss and are published.
        for (int build = 1; build <= 2; build++) {
            Files.deleteIfExists(record);
            if (build == 2) {
                Files.writeString(ctx.resolve("package.json"), "{\"changed\":true}\n");
            }
            Run one = CliTest.run(cat(g, "lookup", "-n", "first/explain", "--record", record.toString(), "--step-id", "first:1",
                    "--instruction", "FROM scratch"));
            Run two = CliTest.run(cat(g, "lookup", "-n", "first/explain", "--record", record.toString(), "--step-id", "first:2",
                    "--parent", k1, "--instruction", "COPY package.json /app/", "--context", ctx.toString(),
                    "package.json"));
            if (build == 1) {
                assertEquals(1, one.code(), one.toString());
                assertEquals(1, two.code(), two.toString());
                assertEquals(0, CliTest.run(cat(g, "put-entry", "-n", "first/explain", "--step-id", "first:1",
                        "--instruction", "FROM scratch", "--layer",
                        Files.write(work.resolve("l1"), new byte[] {1}).toString())).code());
                assertEquals(0, CliTest.run(cat(g, "put-entry", "-n", "first/explain", "--step-id", "first:2", "--parent", k1,
                        "--instruction", "COPY package.json /app/", "--context", ctx.toString(), "package.json",
                        "--layer", Files.write(work.resolve("l2"), new byte[] {2}).toString())).code());
            }
        }
        Run explain = CliTest.run("--target", target, "explain", "--lookups", record.toString());
        assertEquals(1, explain.code(), explain.toString());
        assertTrue(explain.out().contains("first:2") && explain.out().contains("INPUTS_CHANGED")
                && explain.out().contains("package.json modified"), explain.toString());
        assertTrue(explain.out().contains("1 of 2 steps hit"), explain.toString());

        Run otherNamespace = CliTest.run("--target", target, "lookup", "-n", "first/other", "--record",
                record.toString(), "--instruction", "FROM scratch");
        assertEquals(2, otherNamespace.code(), otherNamespace.toString());
        assertTrue(otherNamespace.err().contains("records a build of first/explain"), otherNamespace.toString());
    }

    @Test
    void helpShowsNoEmptyDefaults() {
        for (String command : List.of("", "key", "lookup", "put-entry", "stat", "explain", "push-layout",
                "pull-layout", "store", "gc", "purge", "analyze", "sharing", "builds")) {
            Run help = command.isEmpty() ? CliTest.run("--help") : CliTest.run(command, "--help");
            assertEquals(0, help.code(), help.toString());
            for (String bad : List.of("default ]", "default: )", "default: .", "${", "null")) {
                assertFalse(help.out().contains(bad), command + " --help shows " + bad + ":\n" + help.out());
            }
            assertTrue(help.out().contains("--target") && help.out().contains("--http"), command + ":\n" + help.out());
        }
    }

    private static String[] cat(String[] a, String... b) {
        List<String> all = new ArrayList<>(List.of(a));
        all.addAll(List.of(b));
        return all.toArray(String[]::new);
    }

    /** A one-layer OCI image layout; its manifest named {@code tag}, or nothing when null. */
    private static Path layout(Path dir, String tag) throws Exception {
        Path blobs = Files.createDirectories(dir.resolve("blobs/sha256"));
        String layer = blob(blobs, "layer of " + dir.getFileName());
        String config = blob(blobs, "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
        String manifest = blob(blobs, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + config
                + "\",\"size\":" + size(blobs, config) + "},\"layers\":[{\"mediaType\":"
                + "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" + layer + "\",\"size\":"
                + size(blobs, layer) + "}]}");
        Files.writeString(dir.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        Files.writeString(dir.resolve("index.json"), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
                + "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" + manifest + "\",\"size\":"
                + size(blobs, manifest)
                + (tag == null ? "" : ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"" + tag + "\"}")
                + "}]}");
        return dir;
    }

    private static String blob(Path blobs, String content) throws Exception {
        byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
        Digest d = Digest.sha256(bytes);
        Files.write(blobs.resolve(d.hex()), bytes);
        return d.toString();
    }

    private static long size(Path blobs, String digest) throws Exception {
        return Files.size(blobs.resolve(digest.substring("sha256:".length())));
    }

    /** The tool in its own JVM with {@code env} added (and no other LAYERCACHE_ variable). */
    private static Run java(Map<String, String> env, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().keySet().removeIf(k -> k.startsWith("LAYERCACHE_"));
        pb.environment().putAll(env);
        File out = Files.createTempFile("cli", ".out").toFile();
        File err = Files.createTempFile("cli", ".err").toFile();
        Process p = pb.redirectOutput(out).redirectError(err).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the tool finished");
        Run r = new Run(p.exitValue(), Files.readString(out.toPath()), Files.readString(err.toPath()));
        out.delete();
        err.delete();
        return r;
    }
}
