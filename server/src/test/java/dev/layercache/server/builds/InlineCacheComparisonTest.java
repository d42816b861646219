package dev.layercache.server.builds;

import static dev.layercache.server.builds.BuildKitExport.key;
import static dev.layercache.server.builds.BuildKitExport.link;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.builds.ExportComparison.Cause;
import dev.layercache.server.builds.ExportComparison.Kind;
import dev.layercache.server.builds.ExportComparison.Outcome;
import dev.layercache.server.builds.ExportComparison.Reason;
import dev.layercache.server.builds.ExportComparison.Step;
import dev.layercache.server.core.manifest.CacheConfig;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * {@link ExportComparison} on two images pushed by dockerd's BuildKit with an inline cache
 * ({@link InlineCacheImage}), read with {@code ManifestParser.parseInlineCache}: the same answers
 * as on registry-cache exports, the steps named from the image config's history.
 */
class InlineCacheComparisonTest {
    private static final String BASE = "/bin/sh -c #(nop) ADD file:6cbbf2f1ae3b7c5a6f3e1d2a2b0b3f0d6c4e7d8e9f0a1b2c3d4e5f6a7b8c9d0e in / ";
    private static final String COPY = "COPY app.txt /app/ # buildkit";
    private static final String RUN = "RUN /bin/sh -c make # buildkit";
    private static final String TEST = "RUN /bin/sh -c ./test # buildkit";
    private static final AtomicInteger SESSIONS = new AtomicInteger();

    /** {@code FROM busybox / ENV APP=/app / COPY app.txt /app/ / RUN make / RUN ./test}, as in ExportComparisonTest. */
    private static InlineCacheImage build(String appTxt) {
        return new InlineCacheImage(export(appTxt), List.of(BASE, COPY, RUN, TEST));
    }

    private static BuildKitExport export(String appTxt) {
        return new BuildKitExport()
                .step("from", "docker-image://docker.io/library/busybox@sha256:1", "[1/4] FROM busybox")
                .contentKey("context", "local://context session " + SESSIONS.incrementAndGet())
                .contentKey("checksum", "content of app.txt: " + appTxt)
                .step("copy", "file copy app.txt /app/", "[2/4] COPY app.txt /app/", List.of(link("from")),
                        List.of(link(key("app.txt"), "context"), link("checksum")))
                .step("run", "exec make", "[3/4] RUN make", List.of(link("copy")))
                .step("test", "exec ./test", "[4/4] RUN ./test", List.of(link("run")))
                .descriptionsOnDescriptorsOnly();
    }

    private static Step step(ExportComparison c, String instruction) {
        return c.steps().stream().filter(s -> instruction.equals(s.instruction())).findFirst()
                .orElseThrow(() -> new AssertionError("no step " + instruction + " in " + c.steps()));
    }

    @Test
    void theFixtureIsWhatBuildKitWrites() {
        InlineCacheImage image = build("v1");
        String records = image.records();
        assertTrue(records.startsWith("[{"), "the records array alone: " + records);
        assertFalse(records.contains("\"blob\""), "no layer table: blobs come from the manifest");
        CacheConfig cache = image.cache();
        assertEquals(4, cache.layers().size());
        for (int i = 0; i < 4; i++) {
            assertEquals(image.manifest.layers().get(i).digest(), cache.layers().get(i).blob());
        }
        // Each result is its layer's position in the image, not its place in the sorted layer table.
        Map<String, Integer> expected = Map.of(key("docker-image://docker.io/library/busybox@sha256:1"), 0,
                key("file copy app.txt /app/"), 1, key("exec make"), 2, key("exec ./test"), 3);
        for (CacheConfig.CacheRecord r : cache.records()) {
            if (!r.results().isEmpty()) {
                assertEquals(expected.get(r.digest()), r.results().get(0).layer(), r.digest());
            }
        }
        CacheConfig registry = export("v1").config();
        assertTrue(registry.records().stream().anyMatch(r -> !r.results().isEmpty()
                        && !expected.get(r.digest()).equals(r.results().get(0).layer())),
                "the registry export's sorted layer table must differ from the image's order, or this shows nothing");
    }

    @Test
    void anEarlyCopyThatChangedIsTheRootCauseNamedFromHistoryAndLaterStepsCascade() {
        CacheConfig before = build("v1").cache();
        CacheConfig after = build("v2").cache();

        ExportComparison c = ExportComparison.compare(before, after);

        assertFalse(c.firstExport());
        assertEquals(4, c.stepCount());
        assertEquals(1, c.reused());
        assertEquals(3, c.rebuilt());
        assertEquals(Outcome.REUSED, step(c, BASE).outcome());
        assertEquals(1, c.rootCauses().size());
        Step root = c.rootCauses().get(0);
        assertEquals(COPY, root.name(), "named by the history's created_by; the ENV between made no layer");
        assertEquals(Reason.CONTENT, root.reason(), "same instruction, the file it copies changed");
        assertEquals(2, c.cascadeOf(root));
        for (String later : List.of(RUN, TEST)) {
            Step s = step(c, later);
            assertEquals(Outcome.REBUILT, s.outcome());
            assertEquals(Cause.CASCADE, s.cause());
            assertEquals(root.record(), s.causedBy());
        }
    }

    @Test
    void anUnchangedRebuildReusesEveryStep() {
        ExportComparison c = ExportComparison.compare(build("v1").cache(), build("v1").cache());

        assertEquals(4, c.stepCount());
        assertEquals(4, c.reused());
        assertEquals(0, c.rebuilt());
        assertEquals(List.of(), c.rootCauses());
        assertTrue(c.steps().stream().filter(s -> s.kind() == Kind.STEP).allMatch(s -> s.cause() == Cause.NONE));
    }

    @Test
    void theFirstImageRebuildsEveryStepNamedFromHistory() {
        ExportComparison c = ExportComparison.compare(null, build("v1").cache());

        assertTrue(c.firstExport());
        assertEquals(List.of(BASE, COPY, RUN, TEST),
                c.steps().stream().filter(s -> s.kind() == Kind.STEP).map(Step::name).toList());
    }
}
