package dev.layercache.client.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.client.Digest;
import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The {@code layercache} commands in this JVM against a real node: outputs and exit codes. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CliTest {
    @TempDir
    static Path data;

    @TempDir
    Path work;

    static LayerCacheServer server;
    static String target;

    @BeforeAll
    static void start() throws Exception {
        server = LayerCacheServer.start(ServerConfig.forTesting(data));
        target = "127.0.0.1:" + server.grpcPort();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    /** Exit code, stdout, stderr. */
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

    /** A command against the test node: the command name, then --plaintext --target, then the rest. */
    static Run remote(String command, String... args) {
        List<String> all = new ArrayList<>(List.of(command, "--plaintext", "--target", target));
        all.addAll(List.of(args));
        return run(all.toArray(String[]::new));
    }

    @Test
    void keyIsTheDocumentedComputation() throws Exception {
        Path context = Files.createDirectories(work.resolve("ctx"));
        Path a = Files.writeString(context.resolve("a.txt"), "hello\n");
        Files.setPosixFilePermissions(a, PosixFilePermissions.fromString("rw-r--r--"));
        Run r = run("key", "--instruction", "RUN echo hi", "--context", context.toString(), "a.txt");
        assertEquals(0, r.code(), r.toString());
        assertEquals("sha256:c6ef3d11fca3e0863b5adefbba9d9641a620d532b3a39bf224438908fd00934b\n", r.out());
        Run enc = run("key", "--encoding", "--instruction", "RUN echo hi", "--context", context.toString(), ".");
        assertTrue(enc.out().startsWith("layercache-cache-key-v1\nparent:\ninstruction:11:RUN echo hi\ninputs:1\n"),
                enc.toString());
        Run child = run("key", "--parent", r.out().trim(), "--instruction", "RUN next");
        assertEquals(0, child.code());
        assertTrue(!child.out().equals(r.out()) && child.out().startsWith("sha256:"));
    }

    @Test
    void putLookupFetchStat() throws Exception {
        byte[] layer = new byte[700_000];
        new Random(1).nextBytes(layer);
        Path layerFile = Files.write(work.resolve("layer.tar.gz"), layer);
        Digest layerDigest = Digest.sha256(layer);
        Path context = Files.createDirectories(work.resolve("ctx"));
        Files.writeString(context.resolve("in.txt"), "v1\n");
        String[] step = {"-n", "cli/app", "--step-id", "cli:step1", "--instruction", "RUN make",
            "--context", context.toString(), "in.txt"};

        Run miss = remote("lookup", step);
        assertEquals(1, miss.code(), miss.toString());
        assertTrue(miss.out().startsWith("miss sha256:") && miss.out().contains("NEW_STEP"), miss.toString());

        List<String> put = new ArrayList<>(List.of(step));
        put.addAll(List.of("--layer", layerFile.toString(), "--attribute", "created_by=make"));
        Run published = remote("put-entry", put.toArray(String[]::new));
        assertEquals(0, published.code(), published.toString());
        String key = published.out().trim().substring("published ".length());

        Run hit = remote("lookup", step);
        assertEquals(0, hit.code(), hit.toString());
        assertEquals("hit " + key + "\nlayer " + layerDigest + " " + layer.length
                + " application/vnd.oci.image.layer.v1.tar+gzip\nattribute created_by=make\n", hit.out());

        Path fetched = work.resolve("fetched");
        Run fetch = remote("lookup", "-n", "cli/app", "--key", key, "--fetch", fetched.toString());
        assertEquals(0, fetch.code(), fetch.toString());
        assertArrayEquals(layer, Files.readAllBytes(fetched.resolve("sha256").resolve(layerDigest.hex())));

        // Another entry reusing the blob by digest.
        Run byDigest = remote("put-entry", "-n", "cli/app", "--instruction", "RUN other",
                "--layer", layerDigest + "@" + layer.length);
        assertEquals(0, byDigest.code(), byDigest.toString());

        Files.writeString(context.resolve("in.txt"), "v2\n");
        Run changed = remote("lookup", step);
        assertEquals(1, changed.code());
        assertTrue(changed.out().contains("INPUTS_CHANGED: in.txt modified"), changed.toString());

        Digest absent = Digest.sha256(new byte[3]);
        Run stat = remote("stat", "-n", "cli/app", layerDigest.toString(), absent.toString());
        assertEquals(1, stat.code(), stat.toString());
        assertEquals(layerDigest + " " + layer.length + "\n" + absent + " missing\n", stat.out());
        assertEquals(0, remote("stat", "-n", "cli/app", layerDigest.toString()).code());
    }

    @Test
    void errorsAreOneLineWithDistinctExitCodes() throws Exception {
        Run badKey = remote("lookup", "-n", "cli/app", "--key", "sha256:nothex");
        assertEquals(2, badKey.code(), badKey.toString());
        assertTrue(badKey.err().startsWith("layercache: invalid cache key"), badKey.toString());
        assertEquals(1, badKey.err().lines().count(), badKey.toString());

        Run badNamespace = remote("stat", "-n", "Bad Name", Digest.sha256(new byte[1]).toString());
        assertEquals(2, badNamespace.code(), badNamespace.toString());
        assertTrue(badNamespace.err().contains("namespace"), badNamespace.toString());

        Run missingLayer = remote("put-entry", "-n", "cli/app", "--instruction", "RUN y",
                "--layer", Digest.sha256(new byte[5]) + "@5");
        assertEquals(2, missingLayer.code(), missingLayer.toString());
        assertTrue(missingLayer.err().contains(Digest.sha256(new byte[5]).toString()), missingLayer.toString());

        Run usage = run("lookup", "--no-such-option");
        assertEquals(2, usage.code(), usage.toString());

        Run noNamespace = remote("stat", Digest.sha256(new byte[1]).toString());
        assertEquals(2, noNamespace.code(), noNamespace.toString());

        int closed;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        Run unreachable = run("stat", "--plaintext", "--target", "127.0.0.1:" + closed, "--retries", "1",
                "-n", "cli/app", Digest.sha256(new byte[1]).toString());
        assertEquals(3, unreachable.code(), unreachable.toString());
        assertTrue(unreachable.err().contains("server unreachable at 127.0.0.1:" + closed), unreachable.toString());
        assertEquals(1, unreachable.err().lines().count(), unreachable.toString());

        Run tlsToPlaintext = run("stat", "--tls", "--target", target, "--retries", "0", "-n", "cli/app",
                Digest.sha256(new byte[1]).toString());
        assertEquals(3, tlsToPlaintext.code(), tlsToPlaintext.toString());
        assertTrue(tlsToPlaintext.err().contains("drop --tls"), tlsToPlaintext.toString());

        Run plaintextByDefault = run("stat", "--target", target, "-n", "cli/app",
                Digest.sha256(new byte[1]).toString());
        assertEquals(1, plaintextByDefault.code(), "a plain server is reached without flags: " + plaintextByDefault);

        Run notALayout = remote("push-layout", work.toString(), "cli/app:t");
        assertEquals(2, notALayout.code(), notALayout.toString());
        Run noImage = remote("pull-layout", "cli/app:nothing", work.resolve("out").toString());
        assertEquals(1, noImage.code(), noImage.toString());
    }

    @Test
    void helpListsCommandsAndExitCodes() {
        Run help = run("--help");
        assertEquals(0, help.code());
        for (String s : List.of("key", "lookup", "put-entry", "stat", "explain", "push-layout", "pull-layout",
                "Exit codes", "server unreachable", "LAYERCACHE_TARGET")) {
            assertTrue(help.out().contains(s), s + " in\n" + help.out());
        }
        Run sub = run("push-layout", "--help");
        assertTrue(sub.out().contains("--target") && sub.out().contains("--plaintext") && sub.out().contains("DIR"),
                sub.out());
    }

    @Test
    void storeAndGcTalkToTheHttpApi() throws Exception {
        String http = "http://127.0.0.1:" + server.httpPort();
        // An orphan blob (no manifest refers to it), pushed through the OCI API; the test node's
        // grace period keeps it for two hours, so gc leaves it and says so.
        byte[] orphan = "nobody refers to me".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        String digest = "sha256:" + java.util.HexFormat.of().formatHex(
                java.security.MessageDigest.getInstance("SHA-256").digest(orphan));
        java.net.http.HttpResponse<Void> pushed = java.net.http.HttpClient.newHttpClient().send(
                java.net.http.HttpRequest.newBuilder(java.net.URI.create(http + "/v2/cli/gc/blobs/uploads/?digest=" + digest))
                        .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(orphan)).build(),
                java.net.http.HttpResponse.BodyHandlers.discarding());
        assertEquals(201, pushed.statusCode());

        Run store = run("store", "--http", http);
        assertEquals(0, store.code(), store.toString());
        assertTrue(store.out().contains("(no budget)"), store.toString());
        assertTrue(store.out().contains("last gc    none yet"), store.toString());

        Run dry = run("gc", "--http", http, "--dry-run");
        assertEquals(0, dry.code(), dry.toString());
        assertTrue(dry.out().contains("would collect 0 blobs"), dry.toString());
        Run gc = run("gc", "--http", http, "--json");
        assertEquals(0, gc.code(), gc.toString());
        com.fasterxml.jackson.databind.JsonNode report = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(gc.out());
        assertEquals(0, report.get("collected").asLong(), "nothing is older than the grace period");
        assertTrue(report.get("kept_in_grace").asLong() >= 1, gc.toString());
        Run after = run("store", "--http", http);
        assertTrue(after.out().contains("last gc    ") && !after.out().contains("last gc    none yet"),
                "the store shows the collection: " + after);

        Run down = run("store", "--http", "http://127.0.0.1:1");
        assertEquals(ExitCodes.UNREACHABLE, down.code(), down.toString());
        Run bad = run("gc", "--http", "not a url");
        assertEquals(ExitCodes.INVALID, bad.code(), bad.toString());
    }

    @Test
    void purgeRemovesANamespaceThroughTheHttpApi() throws Exception {
        String http = "http://127.0.0.1:" + server.httpPort();
        java.net.http.HttpClient client = java.net.http.HttpClient.newHttpClient();
        byte[] layer = "a layer of cli/purge/app".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] config = "{}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        String manifest = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\""
                + sha256(config) + "\",\"size\":" + config.length + "},\"layers\":[{\"mediaType\":"
                + "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" + sha256(layer) + "\",\"size\":"
                + layer.length + "}]}";
        for (String repo : List.of("cli/purge/app", "cli/purgekeep")) {
            for (byte[] blob : List.of(config, layer)) {
                assertEquals(201, client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(http + "/v2/"
                        + repo + "/blobs/uploads/?digest=" + sha256(blob))).POST(
                        java.net.http.HttpRequest.BodyPublishers.ofByteArray(blob)).build(),
                        java.net.http.HttpResponse.BodyHandlers.discarding()).statusCode());
            }
        }
        assertEquals(201, client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(http
                + "/v2/cli/purge/app/manifests/v1")).header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .PUT(java.net.http.HttpRequest.BodyPublishers.ofString(manifest)).build(),
                java.net.http.HttpResponse.BodyHandlers.discarding()).statusCode());
        java.util.function.IntSupplier tagStatus = () -> {
            try {
                return client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(http
                        + "/v2/cli/purge/app/manifests/v1")).build(),
                        java.net.http.HttpResponse.BodyHandlers.discarding()).statusCode();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        };

        Run dry = run("purge", "--http", http, "cli/purge", "--dry-run");
        assertEquals(0, dry.code(), dry.toString());
        // cli/purgekeep links the same two blobs: nothing of them goes.
        assertTrue(dry.out().contains("repository cli/purge/app"), dry.toString());
        assertTrue(dry.out().contains("would purge cli/purge: 1 repositories, 1 tags, 1 manifests, 0 entries,"
                + " 0 blobs (0 B)"), dry.toString());
        assertEquals(200, tagStatus.getAsInt(), "a dry run removes nothing");

        Run purge = run("purge", "--http", http, "cli/purge", "--json");
        assertEquals(0, purge.code(), purge.toString());
        com.fasterxml.jackson.databind.JsonNode report = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(purge.out());
        assertEquals(1, report.get("tags").asLong(), purge.toString());
        assertFalse(report.get("dry_run").asBoolean());
        assertEquals(404, tagStatus.getAsInt(), "purged");
        Run again = run("purge", "--http", http, "cli/purge");
        assertTrue(again.out().contains("purged cli/purge: 0 repositories, 0 tags"), again.toString());

        Run empty = run("purge", "--http", http, "");
        assertEquals(ExitCodes.INVALID, empty.code(), empty.toString());
        Run malformed = run("purge", "--http", http, "Not/Valid");
        assertEquals(ExitCodes.INVALID, malformed.code(), malformed.toString());
        assertTrue(malformed.err().contains("400"), malformed.toString());
    }

    private static String sha256(byte[] bytes) throws Exception {
        return "sha256:" + java.util.HexFormat.of().formatHex(
                java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
    }
}
