package dev.layercache.server.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.TestServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * buildah's remote layer cache ({@code --cache-to}/{@code --cache-from}) against the in-JVM server,
 * with three storage roots standing for three machines: A builds and pushes the cache, B (empty)
 * builds the same thing from the cache only, C (empty) builds after one input file changed and
 * reuses exactly the steps before that change.
 *
 * <p>Every RUN writes a fresh random value into the image and prints it on a line of its own
 * ({@code RAN-STEP-n sn:<uuid>}); a step taken from the cache prints nothing and its value in the
 * image is the one builder A made. Both facts are checked, so a build that silently re-ran a step
 * (server answered a cache lookup wrongly) fails.
 */
@Tag("e2e")
@Timeout(value = 170, unit = TimeUnit.SECONDS)
class BuildahCacheTest {
    @RegisterExtension
    static TestServer server = new TestServer();

    @TempDir
    Path work;

    private static final Pattern STEP = Pattern.compile("(?m)^STEP (\\d+)/(\\d+): (.*)$");
    /** Printed by a RUN that executed; the command line itself never matches (it has "$(cat"). */
    private static final Pattern RAN = Pattern.compile("(?m)^RAN-STEP-(\\d+) (s\\d+:[0-9a-f-]{36}(?::\\S*)?)\\s*$");
    private static final int STEPS = 8;
    /** The COPY whose input changes for builder C. */
    private static final int CHANGED_STEP = 5;
    private static final List<Integer> RUN_STEPS = List.of(2, 4, 6, 8);

    @Test
    void remoteCacheServesFreshBuildersAndOnlyStepsAfterAChangeRebuild() throws Exception {
        Path buildah = RealTools.require("buildah", "buildah --cache-to/--cache-from end-to-end test");
        String host = server.hostPort();
        String baseRef = host + "/base/busybase:1";
        String cacheRepo = host + "/cache/app";

        // --- base image, built locally and pushed to the server under test --------------------------
        Path baseCtx = BusyboxBase.create(work.resolve("basectx"));
        BuildahRoot maker = new BuildahRoot(buildah, work.resolve("root-base"));
        maker.ok("build", "-f", baseCtx.resolve("Base.Containerfile"), "-t", "localhost/busybase", baseCtx);
        maker.ok("push", "--tls-verify=false", "localhost/busybase", baseRef);
        String baseConfig = configDigestOnServer("base/busybase", "1");

        // --- build context ---------------------------------------------------------------------------
        Path ctx = Files.createDirectories(work.resolve("ctx"));
        Files.writeString(ctx.resolve("a.txt"), "a-" + UUID.randomUUID() + "\n");
        Files.writeString(ctx.resolve("mid.txt"), "mid-original\n");
        Files.writeString(ctx.resolve("c.txt"), "c-" + UUID.randomUUID() + "\n");
        Path containerfile = ctx.resolve("Containerfile");
        Files.writeString(containerfile, String.join("\n",
                "FROM " + baseRef,                                        // 1
                runStep(2, ""),                                           // 2
                "COPY a.txt /a.txt",                                      // 3
                runStep(4, ":$(cat /a.txt)"),                             // 4
                "COPY mid.txt /mid.txt",                                  // 5  <- changes for builder C
                runStep(6, ":$(cat /mid.txt)"),                           // 6
                "COPY c.txt /c.txt",                                      // 7
                runStep(8, ""),                                           // 8
                ""));

        // --- builder A: builds everything and pushes one cache tag per step ------------------------
        BuildahRoot a = new BuildahRoot(buildah, work.resolve("root-a"));
        pullBase(a, baseRef, baseConfig);
        Cmd.Result buildA = a.ok("build", "--isolation", "chroot", "--layers", "--tls-verify=false",
                "--cache-to", cacheRepo, "-f", containerfile, "-t", "localhost/app", ctx);
        List<String> stepsA = steps(buildA);
        Map<Integer, String> ranA = ran(buildA);
        assertEquals(Set.copyOf(RUN_STEPS), ranA.keySet(),
                "builder A starts from nothing: every RUN must execute" + buildA.describe());
        Map<Integer, String> keysA = new TreeMap<>();
        Pattern pushing = Pattern.compile("Pushing cache " + Pattern.quote(cacheRepo) + ":([0-9a-f]{64})");
        for (int step = 2; step <= STEPS; step++) {
            Matcher m = pushing.matcher(stepsA.get(step - 1));
            assertTrue(m.find(), "builder A: step " + step + " pushed no cache tag" + buildA.describe());
            keysA.put(step, m.group(1));
        }
        assertEquals(STEPS - 1, new HashSet<>(keysA.values()).size(), "one distinct cache key per step: " + keysA);
        Set<String> tags = tagsOnServer("cache/app");
        for (Map.Entry<Integer, String> k : keysA.entrySet()) {
            assertTrue(tags.contains(k.getValue()), "step " + k.getKey() + " key " + k.getValue()
                    + " was pushed by buildah but is not listed in /v2/cache/app/tags/list: " + tags);
            assertEquals(200, getManifest("cache/app", k.getValue()).status(),
                    "GET manifest of cache key " + k.getValue());
        }
        String imageA = imageId(buildA);
        Map<Integer, String> contentA = readMarkers(a);
        for (int step : RUN_STEPS) {
            assertEquals(ranA.get(step), contentA.get(step), "builder A: /s" + step + " is what its RUN printed");
        }

        // --- builder B: empty storage, cache from the server only: no RUN executes -----------------
        BuildahRoot b = new BuildahRoot(buildah, work.resolve("root-b"));
        pullBase(b, baseRef, baseConfig);
        Cmd.Result buildB = b.ok("build", "--isolation", "chroot", "--layers", "--tls-verify=false",
                "--cache-from", cacheRepo, "-f", containerfile, "-t", "localhost/app", ctx);
        List<String> stepsB = steps(buildB);
        assertEquals(Map.of(), ran(buildB),
                "builder B must take every step from the remote cache, yet these RUN steps executed"
                        + buildB.describe());
        for (int step = 2; step <= STEPS; step++) {
            assertCachedFromRemote(stepsB, step, cacheRepo, keysA.get(step), buildB);
        }
        assertEquals(imageA, imageId(buildB), "builder B's image must be builder A's image, layer for layer"
                + buildB.describe());
        assertEquals(contentA, readMarkers(b), "builder B's image must hold the values builder A's RUNs wrote");

        // --- builder C: empty storage, mid.txt changed: steps 2-4 cached, 5-8 rebuilt -------------
        String newMid = "mid-changed-" + UUID.randomUUID();
        Files.writeString(ctx.resolve("mid.txt"), newMid + "\n");
        BuildahRoot c = new BuildahRoot(buildah, work.resolve("root-c"));
        pullBase(c, baseRef, baseConfig);
        Cmd.Result buildC = c.ok("build", "--isolation", "chroot", "--layers", "--tls-verify=false",
                "--cache-from", cacheRepo, "-f", containerfile, "-t", "localhost/app", ctx);
        List<String> stepsC = steps(buildC);
        Map<Integer, String> ranC = ran(buildC);
        for (int step = 2; step < CHANGED_STEP; step++) {
            assertCachedFromRemote(stepsC, step, cacheRepo, keysA.get(step), buildC);
        }
        for (int step = CHANGED_STEP; step <= STEPS; step++) {
            String section = stepsC.get(step - 1);
            assertFalse(section.contains("Using cache"), "builder C: step " + step + " (at or after the changed"
                    + " COPY) must be rebuilt, not taken from a cache:\n" + section + buildC.describe());
            assertFalse(section.contains("Cache pulled from remote"), "builder C: step " + step
                    + " has a new cache key, nothing to pull:\n" + section + buildC.describe());
        }
        assertEquals(RUN_STEPS.stream().filter(s -> s > CHANGED_STEP).toList(),
                ranC.keySet().stream().sorted().toList(),
                "builder C: exactly the RUN steps after the changed COPY execute" + buildC.describe());
        assertNotEquals(imageA, imageId(buildC), "builder C's image must differ (mid.txt changed)");

        Map<Integer, String> contentC = readMarkers(c);
        for (int step : RUN_STEPS) {
            if (step < CHANGED_STEP) {
                assertEquals(contentA.get(step), contentC.get(step),
                        "builder C: /s" + step + " comes from the cache, so it is builder A's value");
            } else {
                assertEquals(ranC.get(step), contentC.get(step), "builder C: /s" + step + " is what its RUN printed");
                assertNotEquals(contentA.get(step), contentC.get(step), "builder C: /s" + step + " was rebuilt");
            }
        }
        assertTrue(contentC.get(6).endsWith(":" + newMid), "builder C: step 6 read the new mid.txt: " + contentC.get(6));
    }

    private static String runStep(int n, String extra) {
        return "RUN echo \"s" + n + ":$(cat /proc/sys/kernel/random/uuid)" + extra + "\" > /s" + n
                + " && echo \"RAN-STEP-" + n + " $(cat /s" + n + ")\"";
    }

    private static void assertCachedFromRemote(List<String> sections, int step, String cacheRepo, String key,
            Cmd.Result build) {
        String section = sections.get(step - 1);
        assertTrue(section.contains("Cache pulled from remote " + cacheRepo + ":" + key),
                "step " + step + " must be pulled from the remote cache (key " + key + "):\n" + section
                        + build.describe());
        assertTrue(section.contains("Using cache"), "step " + step + " must use the cache:\n" + section
                + build.describe());
    }

    /** The output of each "STEP n/N:" in order; index 0 is step 1. Asserts there are {@link #STEPS}. */
    private static List<String> steps(Cmd.Result build) {
        Matcher m = STEP.matcher(build.output());
        List<Integer> starts = new ArrayList<>();
        int expected = 1;
        while (m.find()) {
            assertEquals(expected++, Integer.parseInt(m.group(1)), "steps out of order" + build.describe());
            assertEquals(STEPS, Integer.parseInt(m.group(2)), "step count" + build.describe());
            starts.add(m.start());
        }
        assertEquals(STEPS, starts.size(), "STEP lines in the build output" + build.describe());
        List<String> sections = new ArrayList<>();
        for (int i = 0; i < starts.size(); i++) {
            int end = i + 1 < starts.size() ? starts.get(i + 1) : build.output().length();
            sections.add(build.output().substring(starts.get(i), end));
        }
        return sections;
    }

    /** RUN steps that executed in this build: step number to the value it wrote. */
    private static Map<Integer, String> ran(Cmd.Result build) {
        Map<Integer, String> ran = new TreeMap<>();
        Matcher m = RAN.matcher(build.output());
        while (m.find()) {
            ran.put(Integer.parseInt(m.group(1)), m.group(2));
        }
        return ran;
    }

    private static String imageId(Cmd.Result build) {
        String id = build.lastLine();
        assertTrue(id.matches("[0-9a-f]{64}"), "the build's last line is its image ID" + build.describe());
        return id;
    }

    /** /s2, /s4... of localhost/app in this builder's storage, read through a working container. */
    private static Map<Integer, String> readMarkers(BuildahRoot builder) {
        String container = builder.ok("from", "--pull=never", "localhost/app").lastLine();
        try {
            List<Object> cat = new ArrayList<>(List.of("run", "--isolation", "chroot", container, "--", "cat"));
            RUN_STEPS.forEach(s -> cat.add("/s" + s));
            String[] lines = builder.ok(cat.toArray()).output().strip().split("\n");
            assertEquals(RUN_STEPS.size(), lines.length, "cat of the marker files: " + String.join("|", lines));
            Map<Integer, String> values = new LinkedHashMap<>();
            for (int i = 0; i < lines.length; i++) {
                values.put(RUN_STEPS.get(i), lines[i].trim());
            }
            return values;
        } finally {
            builder.run("rm", container);
        }
    }

    /** Pulls the base from the server into this builder and checks it is the very image pushed. */
    private static void pullBase(BuildahRoot builder, String baseRef, String configDigest) {
        builder.ok("pull", "--tls-verify=false", baseRef);
        String id = builder.ok("inspect", "--type", "image", "--format", "{{.FromImageID}}", baseRef).lastLine();
        assertEquals(configDigest, "sha256:" + id,
                "every builder must hold the server's base image (same config digest), or all cache keys differ");
    }

    private static Http.Reply getManifest(String repo, String reference) throws Exception {
        return Http.exchange(server.port(), "GET", "/v2/" + repo + "/manifests/" + reference, List.of(
                "Accept: application/vnd.oci.image.manifest.v1+json",
                "Accept: application/vnd.docker.distribution.manifest.v2+json"), null);
    }

    private static String configDigestOnServer(String repo, String tag) throws Exception {
        Http.Reply r = getManifest(repo, tag);
        assertEquals(200, r.status(), "GET manifest " + repo + ":" + tag + ": " + r.text());
        JsonNode config = new ObjectMapper().readTree(r.body()).path("config").path("digest");
        assertNotNull(config.textValue(), "config digest in " + r.text());
        return config.textValue();
    }

    private static Set<String> tagsOnServer(String repo) throws Exception {
        Http.Reply r = Http.exchange(server.port(), "GET", "/v2/" + repo + "/tags/list", List.of(), null);
        assertEquals(200, r.status(), "GET tags/list: " + r.text());
        Set<String> tags = new HashSet<>();
        new ObjectMapper().readTree(r.body()).path("tags").forEach(t -> tags.add(t.asText()));
        return tags;
    }
}
