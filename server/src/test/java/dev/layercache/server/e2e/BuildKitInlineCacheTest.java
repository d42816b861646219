package dev.layercache.server.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.TestServer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * dockerd 20.10's embedded BuildKit with inline cache against the in-JVM server: build with
 * {@code BUILDKIT_INLINE_CACHE=1}, push, forget everything locally ({@code rmi} and
 * {@code builder prune -af}), rebuild with {@code --cache-from}: every step must be {@code CACHED}
 * and no RUN may execute. Then the pushed image is pulled and run.
 *
 * <p>Uses the dockerd of REAL-CLIENTS.md ({@link Dockerd}): a running one, or one started here
 * and stopped at the end.
 */
@Tag("e2e")
@Timeout(value = 170, unit = TimeUnit.SECONDS)
class BuildKitInlineCacheTest {
    @RegisterExtension
    static TestServer server = new TestServer();

    private static Dockerd dockerd;

    @TempDir
    Path work;

    /** {@code #N [k/M] INSTRUCTION} in plain progress output. */
    private static final Pattern VERTEX = Pattern.compile("(?m)^#(\\d+) \\[(\\d+)/(\\d+)\\] (.*)$");
    /** Printed by a RUN that executed; the command line itself never matches (it has "$(cat"). */
    private static final Pattern RAN = Pattern.compile("(?m)^#\\d+ [0-9.]+ RAN-STEP-(\\d+) (r\\d+:[0-9a-f-]{36}(?::\\S*)?)\\s*$");

    @BeforeAll
    static void dockerd() throws Exception {
        dockerd = Dockerd.startOrReuse();
    }

    @AfterAll
    static void stopDockerd() {
        if (dockerd != null) {
            dockerd.close();
        }
    }

    private static Cmd docker(Object... args) {
        return dockerd.docker(args);
    }

    @Test
    void inlineCacheMakesEveryStepCachedForAFreshBuilder() throws Exception {
        String host = server.hostPort();
        String base = host + "/base/busybase:1";
        String image = host + "/app/web:cache";
        String local = "layercache-e2e/web:" + server.port();
        try {
            // --- base image: a tar of the busybox folder, imported, pushed, then forgotten locally ---
            Path baseCtx = BusyboxBase.create(work.resolve("basectx"));
            Path tar = work.resolve("base.tar");
            Cmd.of("tar", "-C", baseCtx.resolve("base"), "-cf", tar, ".").ok();
            docker("import", tar, base).ok();
            docker("push", base).ok();
            docker("rmi", base).ok();

            // --- build context ----------------------------------------------------------------------
            Path ctx = Files.createDirectories(work.resolve("ctx"));
            String input = "input-" + UUID.randomUUID();
            Files.writeString(ctx.resolve("in.txt"), input + "\n");
            Files.writeString(ctx.resolve("Dockerfile"), String.join("\n",
                    "FROM " + base,                                                // [1/5]
                    runStep(2, ""),                                                // [2/5]
                    "COPY in.txt /in.txt",                                         // [3/5]
                    runStep(4, ":$(cat /in.txt)"),                                 // [4/5]
                    "COPY Dockerfile /Dockerfile.copy",                            // [5/5]
                    "CMD [\"sh\", \"-c\", \"cat /in.txt /r2 /r4\"]",
                    ""));

            // --- first build: executes everything, inline cache metadata in the image config -------
            Cmd.Result first = docker("build", "--progress=plain", "--network", "none",
                    "--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", image, ctx).timeout(Duration.ofSeconds(150)).ok();
            Map<Integer, String> ran = ran(first);
            assertEquals(Set.of(2, 4), ran.keySet(), "the first build executes both RUN steps" + first.describe());
            assertTrue(first.output().contains("exporting cache"), "inline cache export" + first.describe());
            docker("push", image).ok();
            assertInlineCacheOnServer("app/web", "cache");

            // --- become a fresh builder ---------------------------------------------------------------
            docker("rmi", image).ok();
            docker("builder", "prune", "-af").ok();
            Cmd.Result left = docker("images", "-q", image).ok();
            assertEquals("", left.output().strip(), "image still present after rmi" + left.describe());

            // --- second build from the remote inline cache: everything CACHED, nothing runs --------
            Cmd.Result second = docker("build", "--progress=plain", "--network", "none",
                    "--cache-from", image, "-t", local, ctx).timeout(Duration.ofSeconds(150)).ok();
            assertTrue(second.output().contains("importing cache manifest from " + image),
                    "BuildKit must import the cache manifest from the server" + second.describe());
            assertEquals(Map.of(), ran(second), "no RUN may execute with the remote cache" + second.describe());
            Map<Integer, String> steps = new TreeMap<>();
            Set<Integer> cached = new TreeSet<>();
            vertices(second, steps, cached);
            assertEquals(5, steps.size(), "steps [1/5]..[5/5] in the plain output" + second.describe());
            for (Map.Entry<Integer, String> step : steps.entrySet()) {
                if (step.getKey() == 1) {
                    continue; // FROM: resolved, not a cached build step
                }
                assertTrue(cached.contains(step.getKey()), "step [" + step.getKey() + "/5] " + step.getValue()
                        + " must be CACHED" + second.describe());
            }

            // --- the rebuilt image carries the first build's layers -------------------------------
            Cmd.Result runLocal = docker("run", "--rm", "--network", "none", local).ok();
            assertEquals(List.of(input, ran.get(2), ran.get(4)), lines(runLocal),
                    "the rebuilt image holds the first build's RUN results" + runLocal.describe());

            // --- pull and run the pushed image -----------------------------------------------------
            docker("rmi", local).ok();
            docker("pull", image).ok();
            Cmd.Result runPulled = docker("run", "--rm", "--network", "none", image).ok();
            assertEquals(List.of(input, ran.get(2), ran.get(4)), lines(runPulled),
                    "the pulled image runs and holds the pushed layers" + runPulled.describe());
        } finally {
            docker("rmi", "-f", image, local, base).run();
            docker("builder", "prune", "-af").run();
        }
    }

    private static String runStep(int n, String extra) {
        return "RUN echo \"r" + n + ":$(cat /proc/sys/kernel/random/uuid)" + extra + "\" > /r" + n
                + " && echo \"RAN-STEP-" + n + " $(cat /r" + n + ")\"";
    }

    /** RUN steps that executed: step number to the value written. */
    private static Map<Integer, String> ran(Cmd.Result build) {
        Map<Integer, String> ran = new TreeMap<>();
        Matcher m = RAN.matcher(build.output());
        while (m.find()) {
            ran.put(Integer.parseInt(m.group(1)), m.group(2));
        }
        return ran;
    }

    /** Fills step number to instruction, and the step numbers whose vertex printed CACHED. */
    private static void vertices(Cmd.Result build, Map<Integer, String> steps, Set<Integer> cached) {
        Map<String, Integer> stepOfVertex = new LinkedHashMap<>();
        Matcher m = VERTEX.matcher(build.output());
        while (m.find()) {
            int step = Integer.parseInt(m.group(2));
            stepOfVertex.put(m.group(1), step);
            steps.put(step, m.group(4));
        }
        for (String line : build.output().split("\n")) {
            Matcher c = Pattern.compile("^#(\\d+) CACHED\\s*$").matcher(line);
            if (c.matches() && stepOfVertex.containsKey(c.group(1))) {
                cached.add(stepOfVertex.get(c.group(1)));
            }
        }
    }

    /** The pushed image's config holds BuildKit's inline cache metadata. */
    private static void assertInlineCacheOnServer(String repo, String tag) throws Exception {
        ObjectMapper json = new ObjectMapper();
        Http.Reply manifest = Http.exchange(server.port(), "GET", "/v2/" + repo + "/manifests/" + tag, List.of(
                "Accept: application/vnd.docker.distribution.manifest.v2+json",
                "Accept: application/vnd.oci.image.manifest.v1+json"), null);
        assertEquals(200, manifest.status(), "GET pushed manifest: " + manifest.text());
        String config = json.readTree(manifest.body()).path("config").path("digest").asText();
        Http.Reply blob = Http.exchange(server.port(), "GET", "/v2/" + repo + "/blobs/" + config, List.of(), null);
        assertEquals(200, blob.status(), "GET config blob " + config);
        JsonNode cfg = json.readTree(blob.body());
        assertTrue(cfg.has("moby.buildkit.cache.v0"), "inline cache metadata in the pushed config: "
                + new String(blob.body(), StandardCharsets.UTF_8));
    }

    private static List<String> lines(Cmd.Result r) {
        List<String> out = new ArrayList<>();
        for (String l : r.output().strip().split("\n")) {
            out.add(l.trim());
        }
        return out;
    }
}
