package dev.layercache.server.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.builds.BuildahBuilds;
import dev.layercache.server.builds.ExportComparison;
import dev.layercache.server.builds.ExportComparison.Kind;
import dev.layercache.server.builds.ExportComparison.Outcome;
import dev.layercache.server.builds.ExportComparison.Reason;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.manifest.CacheConfig;
import dev.layercache.server.core.manifest.ImageManifest;
import dev.layercache.server.core.manifest.ManifestParser;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.TestServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Build insight ({@code GET /api/v1/builds}) for the two stock builders that run here, driven for
 * real: dockerd 20.10's BuildKit with an inline cache, and buildah with {@code --cache-to} and
 * {@code --cache-from} across storage roots. Each builds one Dockerfile three times (a first build,
 * an unchanged rebuild by a fresh builder, a rebuild after the file of an early {@code COPY}
 * changed) and the server must say, for each, how many steps were reused and rebuilt and which
 * step broke the chain. The builders' own output ({@code CACHED}, {@code Using cache}) is checked
 * too, so the server's account is held against what the builder did.
 *
 * <p>The BuildKit test also runs the pure core ({@link ManifestParser#parseInlineCache},
 * {@link ExportComparison}) on the manifests and configs read back from the server, so a
 * disagreement shows whether the core or its wiring is wrong.
 */
@Tag("e2e")
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class BuildInsightRealClientsTest {
    @RegisterExtension
    static TestServer server = new TestServer();

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ManifestParser PARSER = new ManifestParser(JSON);
    /** How long a build record may take to show after the request that completes it. */
    private static final Duration RECORD_WAIT = Duration.ofSeconds(10);

    /** {@code #N [k/M] INSTRUCTION} in BuildKit's plain progress output. */
    private static final Pattern VERTEX = Pattern.compile("(?m)^#(\\d+) \\[(\\d+)/(\\d+)\\] (.*)$");
    private static final Pattern CACHED = Pattern.compile("(?m)^#(\\d+) CACHED\\s*$");
    /** buildah's {@code STEP n/N: INSTRUCTION}. */
    private static final Pattern STEP = Pattern.compile("(?m)^STEP (\\d+)/(\\d+): (.*)$");

    private static Dockerd dockerd;

    @TempDir
    Path work;

    @AfterAll
    static void stopDockerd() {
        if (dockerd != null) {
            dockerd.close();
        }
    }

    /**
     * The build context of both tests: {@code in.txt} is copied early and read by the next RUN,
     * {@code late.txt} is copied later. Numbered as the builders number them (FROM is 1).
     */
    private static Path context(Path dir, String from) throws Exception {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("in.txt"), "in-" + UUID.randomUUID() + "\n");
        Files.writeString(dir.resolve("late.txt"), "late-" + UUID.randomUUID() + "\n");
        Files.writeString(dir.resolve("Dockerfile"), String.join("\n",
                "FROM " + from,                                                            // 1
                "RUN echo \"r2:$(cat /proc/sys/kernel/random/uuid)\" > /r2",               // 2
                "COPY in.txt /in.txt",                                                     // 3 <- in.txt changes
                "RUN echo \"r4:$(cat /proc/sys/kernel/random/uuid):$(cat /in.txt)\" > /r4", // 4
                "COPY late.txt /late.txt",                                                 // 5
                "RUN echo \"r6:$(cat /proc/sys/kernel/random/uuid)\" > /r6",               // 6
                "CMD [\"sh\"]",                                                            // 7: no layer
                ""));
        return dir;
    }

    // ------------------------------------------------------------------------------------------
    // dockerd's BuildKit, inline cache
    // ------------------------------------------------------------------------------------------

    /**
     * Steps BuildKit's inline cache carries for the Dockerfile of {@link #context}, as dockerd
     * 20.10 exports it (see {@code builds/DockerdInlineCacheTest} and its captured exports): one
     * record with a result per RUN and COPY, so 5 (instructions 2 to 6). The base image is only two
     * keys without a result (a content key, not a step) and CMD makes no layer and no record.
     */
    private static final int BUILDKIT_STEPS = 5;

    @Test
    void buildKitInlineCacheBuildsReportReusedAndRebuiltStepsAndTheChangedCopy() throws Exception {
        dockerd = Dockerd.startOrReuse();
        String host = server.hostPort();
        String base = host + "/base/busybase-docker:1";
        String repository = "insight/web";
        String image = host + "/" + repository + ":cache";
        try {
            Path baseCtx = BusyboxBase.create(work.resolve("basectx"));
            Path tar = work.resolve("base.tar");
            Cmd.of("tar", "-C", baseCtx.resolve("base"), "-cf", tar, ".").ok();
            dockerd.docker("import", tar, base).ok();
            dockerd.docker("push", base).ok();
            dockerd.docker("rmi", base).ok();
            Path ctx = context(work.resolve("ctx"), base);

            // --- 1. first build: every step runs; the server has nothing to compare with ---------
            Cmd.Result first = buildKit(ctx, null, image);
            assertEquals(Set.of(), cachedSteps(first), "the first build runs every step" + first.describe());
            dockerd.docker("push", image).ok();
            CacheConfig firstCache = inlineCacheOnServer(repository, "cache");
            ExportComparison core = ExportComparison.compare(null, firstCache);
            assertEquals(BUILDKIT_STEPS, core.stepCount(), "steps in the first export: " + core.steps());

            // --- 2. a fresh builder, unchanged context, --cache-from: every step CACHED --------
            forgetEverything(image);
            Cmd.Result unchanged = buildKit(ctx, image, image);
            assertEquals(Set.of(2, 3, 4, 5, 6), cachedSteps(unchanged), "every step CACHED" + unchanged.describe());
            dockerd.docker("push", image).ok();
            CacheConfig unchangedCache = inlineCacheOnServer(repository, "cache");
            core = ExportComparison.compare(firstCache, unchangedCache);
            assertEquals(BUILDKIT_STEPS, core.reused(), "the core on the real unchanged export: " + core.steps());
            assertEquals(0, core.rebuilt());

            // --- 3. in.txt changed: [2/6] CACHED, [3/6] (the COPY) and everything after rebuilt ----
            Files.writeString(ctx.resolve("in.txt"), "in-changed-" + UUID.randomUUID() + "\n");
            forgetEverything(image);
            Cmd.Result changed = buildKit(ctx, image, image);
            assertEquals(Set.of(2), cachedSteps(changed), "only the RUN before the COPY is CACHED" + changed.describe());
            dockerd.docker("push", image).ok();
            CacheConfig changedCache = inlineCacheOnServer(repository, "cache");
            core = ExportComparison.compare(unchangedCache, changedCache);
            // 5 steps: the RUN before the COPY reused; the COPY (root cause: the checksum of in.txt
            // it reads changed) and the RUN, COPY and RUN after it rebuilt, those three as its cascade.
            assertEquals(1, core.reused(), "the core on the real changed export: " + core.steps());
            assertEquals(BUILDKIT_STEPS - 1, core.rebuilt());
            assertEquals(1, core.rootCauses().size(), "root causes: " + core.rootCauses());
            ExportComparison.Step root = core.rootCauses().get(0);
            assertTrue(root.name().startsWith("COPY in.txt /in.txt"), "root cause: " + root);
            assertEquals(Reason.CONTENT, root.reason());
            assertEquals(BUILDKIT_STEPS - 2, core.cascadeOf(root));
            assertEquals(List.of(Outcome.REUSED, Outcome.REBUILT, Outcome.REBUILT, Outcome.REBUILT, Outcome.REBUILT),
                    core.steps().stream().filter(s -> s.kind() == Kind.STEP).map(ExportComparison.Step::outcome)
                            .toList(), "outcomes in build order: " + core.steps());

            // --- what the server says: three builds of the reference, newest first --------------
            List<JsonNode> builds = awaitBuilds(repository, "buildkit", 3);
            JsonNode newest = builds.get(0);
            JsonNode second = builds.get(1);
            JsonNode oldest = builds.get(2);

            assertBuild(oldest, "buildkit", repository, "first_export", BUILDKIT_STEPS, 0, BUILDKIT_STEPS);
            assertTrue(oldest.path("root_cause").isNull(), "a first export blames nothing: " + oldest);

            assertBuild(second, "buildkit", repository, "compared", BUILDKIT_STEPS, BUILDKIT_STEPS, 0);
            assertTrue(second.path("root_cause").isNull(), "an unchanged rebuild has no root cause: " + second);
            assertStepOutcomes(second, List.of("reused", "reused", "reused", "reused", "reused"));

            assertBuild(newest, "buildkit", repository, "compared", BUILDKIT_STEPS, 1, BUILDKIT_STEPS - 1);
            JsonNode cause = newest.path("root_cause");
            assertTrue(cause.path("instruction").asText().contains("COPY in.txt"), "root cause: " + newest);
            assertEquals("content", cause.path("reason").asText(), "root cause: " + newest);
            assertEquals(BUILDKIT_STEPS - 2, cause.path("cascade").asInt(-1), "cascade: " + newest);
            assertStepOutcomes(newest, List.of("reused", "rebuilt", "rebuilt", "rebuilt", "rebuilt"));
            assertEquals(List.of("none", "root_cause", "cascade", "cascade", "cascade"), stepField(newest, "cause"));
            List<String> names = stepField(newest, "name");
            assertTrue(names.get(0).startsWith("RUN ") && names.get(0).contains("/r2"), "step names: " + names);
            assertTrue(names.get(1).startsWith("COPY in.txt"), "step names: " + names);
            assertTrue(names.get(3).startsWith("COPY late.txt"), "step names: " + names);
            for (JsonNode b : builds) {
                assertEquals("inline", b.path("shape").asText(), "dockerd 20.10 exports inline cache only: " + b);
                assertEquals("cache", b.path("reference").asText(), b.toString());
                assertEquals("anonymous@127.0.0.1", b.path("who").asText(), b.toString());
            }
            assertEquals(manifestDigest(repository, "cache"), newest.path("manifest").asText(), newest.toString());
        } finally {
            dockerd.docker("rmi", "-f", image, base).run();
            dockerd.docker("builder", "prune", "-af").run();
        }
    }

    private Cmd.Result buildKit(Path ctx, String cacheFrom, String tag) {
        List<Object> args = new ArrayList<>(List.of("build", "--progress=plain", "--network", "none",
                "--build-arg", "BUILDKIT_INLINE_CACHE=1"));
        if (cacheFrom != null) {
            args.addAll(List.of("--cache-from", cacheFrom));
        }
        args.addAll(List.of("-t", tag, ctx));
        Cmd.Result r = dockerd.docker(args.toArray()).timeout(Duration.ofSeconds(150)).ok();
        if (cacheFrom != null) {
            assertTrue(r.output().contains("importing cache manifest from " + cacheFrom),
                    "BuildKit must import the cache manifest from the server" + r.describe());
        }
        return r;
    }

    /** Become a fresh builder: no image, no build cache (as in BuildKitInlineCacheTest). */
    private void forgetEverything(String image) {
        dockerd.docker("rmi", image).ok();
        dockerd.docker("builder", "prune", "-af").ok();
    }

    /** The step numbers ({@code [k/6]}) whose vertex printed CACHED. */
    private static Set<Integer> cachedSteps(Cmd.Result build) {
        Map<String, Integer> stepOfVertex = new LinkedHashMap<>();
        Matcher m = VERTEX.matcher(build.output());
        while (m.find()) {
            stepOfVertex.put(m.group(1), Integer.parseInt(m.group(2)));
        }
        assertEquals(6, new TreeSet<>(stepOfVertex.values()).size(), "steps [1/6]..[6/6]" + build.describe());
        Set<Integer> cached = new TreeSet<>();
        Matcher c = CACHED.matcher(build.output());
        while (c.find()) {
            Integer step = stepOfVertex.get(c.group(1));
            if (step != null && step > 1) {
                cached.add(step);
            }
        }
        return cached;
    }

    /** The inline cache of the pushed image, read back from the server and parsed as the server does. */
    private static CacheConfig inlineCacheOnServer(String repository, String tag) throws Exception {
        Http.Reply manifest = Http.exchange(server.port(), "GET", "/v2/" + repository + "/manifests/" + tag,
                List.of("Accept: " + MediaTypes.DOCKER_MANIFEST), null);
        assertEquals(200, manifest.status(), "GET pushed manifest: " + manifest.text());
        ImageManifest parsed = (ImageManifest) PARSER.parse(MediaTypes.DOCKER_MANIFEST, manifest.body());
        Http.Reply config = Http.exchange(server.port(), "GET", "/v2/" + repository + "/blobs/"
                + parsed.config().digest(), List.of(), null);
        assertEquals(200, config.status(), "GET config blob " + parsed.config().digest());
        return PARSER.parseInlineCache(config.body(), parsed)
                .orElseThrow(() -> new AssertionError("no inline cache in the pushed config: " + config.text()));
    }

    private static String manifestDigest(String repository, String tag) throws Exception {
        Http.Reply r = Http.exchange(server.port(), "GET", "/v2/" + repository + "/manifests/" + tag,
                List.of("Accept: " + MediaTypes.DOCKER_MANIFEST, "Accept: " + MediaTypes.OCI_MANIFEST), null);
        assertEquals(200, r.status(), "GET manifest " + repository + ":" + tag);
        return r.header("Docker-Content-Digest");
    }

    // ------------------------------------------------------------------------------------------
    // buildah, two storage roots
    // ------------------------------------------------------------------------------------------

    /**
     * Steps buildah asks or pushes a cache tag for in the Dockerfile of {@link #context}: every
     * instruction after FROM (2 to 7). CMD makes no layer, but with {@code --layers} buildah
     * commits it as a step of its own, keyed and pushed like the others.
     */
    private static final int BUILDAH_STEPS = 6;

    @Test
    void buildahBuildsThroughPerStepTagsReportReusedAndRebuiltStepsAndTheChangedCopy() throws Exception {
        Path buildah = RealTools.require("buildah", "buildah --cache-to/--cache-from build insight test");
        String host = server.hostPort();
        String baseRef = host + "/base/busybase:1";
        String repository = "insight/cache";
        String cacheRepo = host + "/" + repository;

        Path baseCtx = BusyboxBase.create(work.resolve("basectx"));
        BuildahRoot maker = new BuildahRoot(buildah, work.resolve("root-base"));
        maker.ok("build", "-f", baseCtx.resolve("Base.Containerfile"), "-t", "localhost/busybase", baseCtx);
        maker.ok("push", "--tls-verify=false", "localhost/busybase", baseRef);
        Path ctx = context(work.resolve("ctx"), baseRef);

        // --- builder A builds and pushes one cache tag per step (no lookups: --cache-to only) ----
        BuildahRoot a = new BuildahRoot(buildah, work.resolve("root-a"));
        a.ok("pull", "--tls-verify=false", baseRef);
        Cmd.Result buildA = buildah(a, ctx, false, true, cacheRepo);
        int steps = pushedKeys(buildA, cacheRepo).size();
        assertEquals(BUILDAH_STEPS, steps, "builder A pushes a cache tag per step" + buildA.describe());

        // --- builder B, fresh storage, --cache-from: every step pulled from the cache ---------
        BuildahRoot b = new BuildahRoot(buildah, work.resolve("root-b"));
        b.ok("pull", "--tls-verify=false", baseRef);
        Cmd.Result buildB = buildah(b, ctx, true, false, cacheRepo);
        assertEquals(steps, count(buildB, "Cache pulled from remote " + cacheRepo + ":"),
                "builder B pulls every step from the cache" + buildB.describe());

        // --- in.txt changed; B again, --cache-from and --cache-to -------------------------------
        // B kept its storage: step 2 (the RUN) is found there, asks nothing and is pushed back;
        // step 3 (the COPY) is looked up, misses and is built and pushed, as are the steps after it.
        Files.writeString(ctx.resolve("in.txt"), "in-changed-" + UUID.randomUUID() + "\n");
        Cmd.Result changed = buildah(b, ctx, true, true, cacheRepo);
        List<String> stepsOut = stepSections(changed);
        assertTrue(stepsOut.get(1).contains("Using cache"), "step 2 comes from B's storage" + changed.describe());
        for (int step = 3; step <= stepsOut.size(); step++) {
            assertFalse(stepsOut.get(step - 1).contains("Using cache"),
                    "step " + step + " is rebuilt" + changed.describe());
        }
        assertEquals(steps, pushedKeys(changed, cacheRepo).size(), "every step is pushed" + changed.describe());

        // --- what the server says, newest first -------------------------------------------------
        // The server writes a buildah build once it has been quiet for the gap (2 minutes); the
        // first two were closed by the next build starting its chain again, the last one is closed
        // here as the server's timer would, the gap later, instead of waiting for it.
        server.server().builds().closeIdle(Instant.now().plus(BuildahBuilds.DEFAULT_GAP).plusSeconds(1));
        List<JsonNode> builds = awaitBuilds(repository, "buildah", 3);
        JsonNode newest = builds.get(0);
        JsonNode fromCache = builds.get(1);
        JsonNode cacheToOnly = builds.get(2);

        // Builder A asked nothing (no --cache-from) and pushed every step: nothing can have been reused.
        assertBuild(cacheToOnly, "buildah", repository, "grouped", steps, 0, steps);

        assertBuild(fromCache, "buildah", repository, "grouped", steps, steps, 0);
        assertTrue(fromCache.path("root_cause").isNull(), "builder B reused every step: " + fromCache);

        assertBuild(newest, "buildah", repository, "grouped", steps, 1, steps - 1);
        String instruction = newest.path("root_cause").path("instruction").asText();
        // buildah's history names a COPY by the digest of what it copied: "COPY file:<hex> in /in.txt"
        assertTrue(instruction.contains("COPY") && instruction.contains("/in.txt"), "root cause: " + newest);
        List<String> outcomes = new ArrayList<>(List.of("reused"));
        for (int i = 1; i < steps; i++) {
            outcomes.add("rebuilt");
        }
        assertStepOutcomes(newest, outcomes);
        for (JsonNode build : builds) {
            assertEquals("anonymous@127.0.0.1", build.path("who").asText(), "an anonymous builder is its address: "
                    + build);
        }
    }

    private static Cmd.Result buildah(BuildahRoot builder, Path ctx, boolean cacheFrom, boolean cacheTo,
                                      String cacheRepo) {
        List<Object> args = new ArrayList<>(List.of("build", "--isolation", "chroot", "--layers", "--tls-verify=false"));
        if (cacheFrom) {
            args.addAll(List.of("--cache-from", cacheRepo));
        }
        if (cacheTo) {
            args.addAll(List.of("--cache-to", cacheRepo));
        }
        args.addAll(List.of("-f", ctx.resolve("Dockerfile"), "-t", "localhost/app", ctx));
        return builder.ok(args.toArray());
    }

    private static List<String> pushedKeys(Cmd.Result build, String cacheRepo) {
        Matcher m = Pattern.compile("Pushing cache " + Pattern.quote(cacheRepo) + ":([0-9a-f]{64})")
                .matcher(build.output());
        List<String> keys = new ArrayList<>();
        while (m.find()) {
            keys.add(m.group(1));
        }
        return keys;
    }

    private static int count(Cmd.Result build, String text) {
        int n = 0;
        for (int i = build.output().indexOf(text); i >= 0; i = build.output().indexOf(text, i + 1)) {
            n++;
        }
        return n;
    }

    /** The output of each "STEP n/N:" in order; index 0 is step 1. */
    private static List<String> stepSections(Cmd.Result build) {
        Matcher m = STEP.matcher(build.output());
        List<Integer> starts = new ArrayList<>();
        while (m.find()) {
            starts.add(m.start());
        }
        List<String> sections = new ArrayList<>();
        for (int i = 0; i < starts.size(); i++) {
            int end = i + 1 < starts.size() ? starts.get(i + 1) : build.output().length();
            sections.add(build.output().substring(starts.get(i), end));
        }
        return sections;
    }

    // ------------------------------------------------------------------------------------------
    // GET /api/v1/builds
    // ------------------------------------------------------------------------------------------

    /**
     * The builds of one builder in a repository, newest first, once there are at least
     * {@code expected}: the records are written after the requests that complete them, so this
     * polls for up to {@link #RECORD_WAIT}.
     */
    private static List<JsonNode> awaitBuilds(String repository, String builder, int expected) throws Exception {
        long deadline = System.nanoTime() + RECORD_WAIT.toNanos();
        String last = "";
        while (true) {
            Http.Reply r = Http.exchange(server.port(), "GET", "/api/v1/builds?repository=" + repository, List.of(),
                    null);
            last = r.status() + " " + r.text();
            if (r.status() == 200) {
                JsonNode body = JSON.readTree(r.body());
                assertEquals(repository, body.path("repository").asText(), last);
                List<JsonNode> builds = new ArrayList<>();
                body.path("builds").forEach(b -> {
                    if (builder.equals(b.path("builder").asText())) {
                        builds.add(b);
                    }
                });
                if (builds.size() >= expected) {
                    assertEquals(expected, builds.size(), "exactly " + expected + " " + builder + " builds: " + last);
                    return builds;
                }
            }
            if (System.nanoTime() > deadline) {
                fail(expected + " " + builder + " builds of " + repository + " within " + RECORD_WAIT
                        + "; GET /api/v1/builds answered: " + last);
            }
            Thread.sleep(200);
        }
    }

    private static void assertBuild(JsonNode build, String builder, String repository, String status, int steps,
                                    int reused, int rebuilt) {
        String where = "build " + build;
        assertEquals(builder, build.path("builder").asText(), where);
        assertEquals(repository, build.path("repository").asText(), where);
        assertEquals(status, build.path("status").asText(), where);
        assertEquals(steps, build.path("steps").asInt(-1), "steps of " + where);
        assertEquals(reused, build.path("reused").asInt(-1), "reused steps of " + where);
        assertEquals(rebuilt, build.path("rebuilt").asInt(-1), "rebuilt steps of " + where);
        assertFalse(build.path("truncated").asBoolean(true), where);
        assertNotNull(build.get("at"), where);
        assertTrue(build.path("warnings").isArray() && build.path("warnings").isEmpty(), "no warnings: " + where);
    }

    private static void assertStepOutcomes(JsonNode build, List<String> expected) {
        assertEquals(expected, stepField(build, "outcome"), "step outcomes in build order: " + build);
    }

    private static List<String> stepField(JsonNode build, String field) {
        List<String> out = new ArrayList<>();
        build.path("step_list").forEach(s -> out.add(s.path(field).asText()));
        return out;
    }
}
