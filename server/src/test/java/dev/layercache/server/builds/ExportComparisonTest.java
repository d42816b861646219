package dev.layercache.server.builds;

import static dev.layercache.server.builds.BuildKitExport.key;
import static dev.layercache.server.builds.BuildKitExport.link;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.builds.ExportComparison.Cause;
import dev.layercache.server.builds.ExportComparison.Kind;
import dev.layercache.server.builds.ExportComparison.Outcome;
import dev.layercache.server.builds.ExportComparison.Reason;
import dev.layercache.server.builds.ExportComparison.Step;
import dev.layercache.server.core.manifest.BuildKitCache;
import dev.layercache.server.core.manifest.CacheConfig;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link ExportComparison} on exports written as BuildKit writes them ({@link BuildKitExport}) for
 * the Dockerfiles of each test, read back with the server's parser.
 */
class ExportComparisonTest {
    private static final String FROM = "[1/4] FROM docker.io/library/busybox:latest";
    private static final String COPY = "[2/4] COPY app.txt /app/";
    private static final java.util.concurrent.atomic.AtomicInteger SESSIONS = new java.util.concurrent.atomic.AtomicInteger();

    /**
     * {@code FROM busybox / COPY app.txt /app/ / RUN <run> / RUN ./test}. The COPY reads the local
     * context through a selector (the digest of the path it copies) and, as a second alternative,
     * the content checksum BuildKit computes of that file (a root record with no result). The
     * context's own key is new in every build (it is the client's session), so only the checksum
     * can match across builds.
     */
    private static BuildKitExport app(String appTxt, String run) {
        return new BuildKitExport()
                .step("from", "docker-image://docker.io/library/busybox@sha256:1", FROM)
                .contentKey("context", "local://context session " + SESSIONS.incrementAndGet())
                .contentKey("checksum", "content of app.txt: " + appTxt)
                .step("copy", "file copy app.txt /app/", COPY, List.of(link("from")),
                        List.of(link(key("app.txt"), "context"), link("checksum")))
                .step("run", "exec " + run, "[3/4] RUN " + run, List.of(link("copy")))
                .step("test", "exec ./test", "[4/4] RUN ./test", List.of(link("run")));
    }

    private static Step step(ExportComparison c, String name) {
        return c.steps().stream().filter(s -> name.equals(s.instruction())).findFirst().orElseThrow(
                () -> new AssertionError("no step " + name + " in " + c.steps()));
    }

    private static List<String> names(List<Step> steps) {
        return steps.stream().map(Step::name).toList();
    }

    @Test
    void firstExportRebuildsEverythingAndBlamesNothing() {
        ExportComparison c = ExportComparison.compare(null, app("v1", "make").config());

        assertTrue(c.firstExport());
        assertEquals(4, c.stepCount(), "content keys are not steps");
        assertEquals(0, c.reused());
        assertEquals(4, c.rebuilt());
        assertEquals(List.of(), c.rootCauses());
        for (Step s : c.steps()) {
            if (s.kind() == Kind.STEP) {
                assertEquals(Outcome.REBUILT, s.outcome());
                assertEquals(Cause.FIRST_EXPORT, s.cause());
            } else {
                assertEquals(Cause.NONE, s.cause());
            }
        }
        assertEquals(6, c.steps().size());
    }

    @Test
    void stepsComeInBuildOrderThoughTheFileSortsRecordsByDigest() {
        CacheConfig config = app("v1", "make").config();
        ExportComparison c = ExportComparison.compare(null, config);

        List<String> steps = c.steps().stream().filter(s -> s.kind() == Kind.STEP).map(Step::name).toList();
        assertEquals(List.of(FROM, COPY, "[3/4] RUN make", "[4/4] RUN ./test"), steps);
        List<Integer> fileOrder = c.steps().stream().map(Step::record).sorted().toList();
        assertTrue(!fileOrder.equals(c.steps().stream().map(Step::record).toList()),
                "the fixture must not list records in build order, or this test shows nothing");
        Map<Integer, Integer> position = new HashMap<>();
        for (int i = 0; i < c.steps().size(); i++) {
            position.put(c.steps().get(i).record(), i);
        }
        for (Step s : c.steps()) {
            for (List<CacheConfig.CacheInput> input : config.records().get(s.record()).inputs()) {
                for (CacheConfig.CacheInput l : input) {
                    assertTrue(position.get(l.link()) < position.get(s.record()), "input before user");
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(BuildKitCache.Shape.class)
    void unchangedRebuildReusesEveryStepNamedFromTheManifest(BuildKitCache.Shape shape) {
        BuildKitExport before = app("v1", "make").descriptionsOnDescriptorsOnly();
        BuildKitExport after = app("v1", "make").descriptionsOnDescriptorsOnly();
        BuildKitCache manifest = after.manifest(shape);
        assertEquals(shape, manifest.shape());

        ExportComparison c = ExportComparison.compare(before.config(), after.config(),
                ExportComparison.descriptions(manifest));

        assertEquals(4, c.reused());
        assertEquals(0, c.rebuilt());
        assertEquals(List.of(), c.rootCauses());
        assertTrue(c.steps().stream().allMatch(s -> s.cause() == Cause.NONE));
        assertTrue(c.steps().stream().allMatch(s -> s.outcome() == Outcome.REUSED || s.kind() == Kind.CONTENT_KEY));
        assertEquals(1, c.steps().stream().filter(s -> s.outcome() == Outcome.REBUILT).count(),
                "the context's key is the client's session, new each build: not a step, never blamed");
        assertEquals(COPY, step(c, COPY).name(), "named from the descriptor's buildkit/description");
    }

    @Test
    void withoutDescriptionsAStepIsNamedByItsRecord() {
        BuildKitExport after = app("v1", "make").descriptionsOnDescriptorsOnly();
        ExportComparison c = ExportComparison.compare(null, after.config());

        for (Step s : c.steps()) {
            assertNull(s.instruction());
            assertEquals("record " + s.record(), s.name());
        }
    }

    @Test
    void aChangedFileCopiedEarlyIsTheRootCauseAndTheLaterStepsCascade() {
        ExportComparison c = ExportComparison.compare(app("v1", "make").config(), app("v2", "make").config());

        assertEquals(List.of(COPY), names(c.rootCauses()));
        Step copy = c.rootCauses().get(0);
        assertEquals(Reason.CONTENT, copy.reason(), "same COPY, same base, other file content");
        assertEquals(Outcome.REUSED, step(c, FROM).outcome());
        for (String later : List.of("[3/4] RUN make", "[4/4] RUN ./test")) {
            Step s = step(c, later);
            assertEquals(Outcome.REBUILT, s.outcome(), later);
            assertEquals(Cause.CASCADE, s.cause(), later);
            assertEquals(copy.record(), s.causedBy(), later);
            assertNull(s.reason());
        }
        assertEquals(2, c.cascadeOf(copy));
        assertEquals(1, c.reused());
        assertEquals(3, c.rebuilt());
        assertEquals(step(c, "[3/4] RUN make").cacheKey(), key("exec make"),
                "the RUN's digest is unchanged: only its input is new, which digests alone would miss");
    }

    /** {@code app} whose COPY reads the context through the given alternatives only. */
    private static BuildKitExport appReading(String appTxt, boolean bySelector, boolean byChecksum) {
        List<BuildKitExport.Link> context = new java.util.ArrayList<>();
        if (bySelector) {
            context.add(link(key("app.txt"), "context"));
        }
        if (byChecksum) {
            context.add(link("checksum"));
        }
        return app(appTxt, "make").step("copy", "file copy app.txt /app/", COPY, List.of(link("from")), context);
    }

    @Test
    void oneAlternativeInCommonOnEachInputIsEnoughForReuse() {
        // BuildKit finds a step through any one of an input's alternatives: the checksum suffices.
        ExportComparison c = ExportComparison.compare(appReading("v1", true, true).config(),
                appReading("v1", false, true).config());
        assertEquals(4, c.reused());
        assertEquals(List.of(), c.rootCauses());

        ExportComparison back = ExportComparison.compare(appReading("v1", false, true).config(),
                appReading("v1", true, true).config());
        assertEquals(4, back.reused(), "and the other way round");

        ExportComparison none = ExportComparison.compare(appReading("v1", true, false).config(),
                appReading("v1", false, true).config());
        assertEquals(List.of(COPY), names(none.rootCauses()), "no alternative in common");
        assertEquals(Reason.CONTENT, none.rootCauses().get(0).reason());
        assertEquals(2, none.cascadeOf(none.rootCauses().get(0)));
    }

    @Test
    void anEmptyExportHasNoSteps() {
        CacheConfig empty = BuildKitExport.PARSER.parseCacheConfig("{}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        ExportComparison c = ExportComparison.compare(app("v1", "make").config(), empty);
        assertEquals(0, c.stepCount());
        assertEquals(List.of(), c.steps());
        assertEquals(4, ExportComparison.compare(empty, app("v1", "make").config()).rebuilt());
    }

    /** An export whose selector carries the file's checksum itself (no separate content record). */
    @Test
    void aChangedSelectorAloneIsAContentChange() {
        BuildKitExport before = new BuildKitExport()
                .step("from", "docker-image://alpine@sha256:1", "[1/3] FROM alpine")
                .step("copy", "file copy go.mod", "[2/3] COPY go.mod .", List.of(link("from")),
                        List.of(link(key("go.mod v1"), "from")))
                .step("run", "exec go mod download", "[3/3] RUN go mod download", List.of(link("copy")));
        BuildKitExport after = new BuildKitExport()
                .step("from", "docker-image://alpine@sha256:1", "[1/3] FROM alpine")
                .step("copy", "file copy go.mod", "[2/3] COPY go.mod .", List.of(link("from")),
                        List.of(link(key("go.mod v2"), "from")))
                .step("run", "exec go mod download", "[3/3] RUN go mod download", List.of(link("copy")));

        ExportComparison c = ExportComparison.compare(before.config(), after.config());

        assertEquals(List.of("[2/3] COPY go.mod ."), names(c.rootCauses()));
        assertEquals(Reason.CONTENT, c.rootCauses().get(0).reason());
        assertEquals(Cause.CASCADE, step(c, "[3/3] RUN go mod download").cause());
    }

    @Test
    void aChangedRunInstructionIsTheRootCauseWithReasonInstruction() {
        ExportComparison c = ExportComparison.compare(app("v1", "make").config(), app("v1", "make all").config());

        assertEquals(List.of("[3/4] RUN make all"), names(c.rootCauses()));
        assertEquals(Reason.INSTRUCTION, c.rootCauses().get(0).reason());
        assertEquals(Outcome.REUSED, step(c, FROM).outcome());
        assertEquals(Outcome.REUSED, step(c, COPY).outcome());
        assertEquals(Cause.CASCADE, step(c, "[4/4] RUN ./test").cause());
        assertEquals(2, c.reused());
        assertEquals(2, c.rebuilt());
        assertEquals(1, c.cascadeOf(c.rootCauses().get(0)));
    }

    @Test
    void aNewBaseImageIsAnInstructionChangeOfTheSource() {
        BuildKitExport after = app("v1", "make");
        after.step("from", "docker-image://docker.io/library/busybox@sha256:2", FROM);

        ExportComparison c = ExportComparison.compare(app("v1", "make").config(), after.config());

        assertEquals(List.of(FROM), names(c.rootCauses()));
        assertEquals(Reason.INSTRUCTION, c.rootCauses().get(0).reason());
        assertEquals(3, c.cascadeOf(c.rootCauses().get(0)));
        assertEquals(0, c.reused());
    }

    /**
     * {@code FROM golang AS builder / COPY main.go . / RUN go build -o /out/app} and {@code FROM
     * busybox / COPY app.txt /app/ / COPY --from=builder /out/app /bin/ / RUN ./test}.
     */
    private static BuildKitExport multiStage(String mainGo, String build, String appTxt, boolean max) {
        BuildKitExport e = new BuildKitExport()
                .contentKey("context", "local://context session " + SESSIONS.incrementAndGet())
                .contentKey("main.go", "content of main.go: " + mainGo)
                .contentKey("app.txt", "content of app.txt: " + appTxt);
        if (max) {
            e.step("golang", "docker-image://golang@sha256:1", "[builder 1/3] FROM golang")
                    .step("src", "file copy main.go .", "[builder 2/3] COPY main.go .", List.of(link("golang")),
                            List.of(link(key("main.go"), "context"), link("main.go")))
                    .step("build", "exec " + build, "[builder 3/3] RUN " + build, List.of(link("src")));
        } else {
            // mode=min: the builder stage's keys are there (the final stage is keyed on them), its layers are not.
            e.keyOnly("golang", "docker-image://golang@sha256:1")
                    .keyOnly("src", "file copy main.go .", List.of(link("golang")),
                            List.of(link(key("main.go"), "context"), link("main.go")))
                    .keyOnly("build", "exec " + build, List.of(link("src")));
        }
        return e.step("from", "docker-image://busybox@sha256:1", "[stage-1 1/4] FROM busybox")
                .step("copy", "file copy app.txt /app/", "[stage-1 2/4] COPY app.txt /app/", List.of(link("from")),
                        List.of(link(key("app.txt"), "context"), link("app.txt")))
                .step("copyFrom", "file copy /out/app /bin/", "[stage-1 3/4] COPY --from=builder /out/app /bin/",
                        List.of(link("copy")), List.of(link(key("/out/app"), "build")))
                .step("test", "exec ./test", "[stage-1 4/4] RUN ./test", List.of(link("copyFrom")));
    }

    @Test
    void twoIndependentRootCausesInAMultiStageBuild() {
        ExportComparison c = ExportComparison.compare(multiStage("v1", "go build -o /out/app", "v1", true).config(),
                multiStage("v1", "go build -trimpath -o /out/app", "v2", true).config());

        assertEquals(2, c.rootCauses().size(), names(c.rootCauses()).toString());
        Step build = step(c, "[builder 3/3] RUN go build -trimpath -o /out/app");
        Step copy = step(c, "[stage-1 2/4] COPY app.txt /app/");
        assertEquals(Cause.ROOT_CAUSE, build.cause());
        assertEquals(Reason.INSTRUCTION, build.reason());
        assertEquals(Cause.ROOT_CAUSE, copy.cause());
        assertEquals(Reason.CONTENT, copy.reason());
        for (String reused : List.of("[builder 1/3] FROM golang", "[builder 2/3] COPY main.go .",
                "[stage-1 1/4] FROM busybox")) {
            assertEquals(Outcome.REUSED, step(c, reused).outcome(), reused);
        }
        // COPY --from descends from both: it names the root cause that comes first in build order.
        Step first = c.rootCauses().get(0);
        assertEquals(first, c.steps().stream().filter(s -> s.cause() == Cause.ROOT_CAUSE).findFirst().orElseThrow());
        Step copyFrom = step(c, "[stage-1 3/4] COPY --from=builder /out/app /bin/");
        assertEquals(Cause.CASCADE, copyFrom.cause());
        assertEquals(first.record(), copyFrom.causedBy());
        assertEquals(first.record(), step(c, "[stage-1 4/4] RUN ./test").causedBy());
        assertEquals(2, c.cascadeOf(first));
        assertEquals(0, c.cascadeOf(c.rootCauses().get(1)));
        assertEquals(3, c.reused());
        assertEquals(4, c.rebuilt());
    }

    @Test
    void copyFromAnotherStageIsAnInstructionChangeThoughTheDigestIsTheSame() {
        BuildKitExport before = new BuildKitExport()
                .step("a", "docker-image://a@sha256:1", "[a] FROM a")
                .step("b", "docker-image://b@sha256:1", "[b] FROM b")
                .step("copy", "file copy /x /x", "COPY --from=? /x /x", List.of(link("b")),
                        List.of(link(key("/x"), "a")));
        BuildKitExport after = new BuildKitExport()
                .step("a", "docker-image://a@sha256:1", "[a] FROM a")
                .step("b", "docker-image://b@sha256:1", "[b] FROM b")
                .step("copy", "file copy /x /x", "COPY --from=? /x /x", List.of(link("a")),
                        List.of(link(key("/x"), "b")));

        ExportComparison c = ExportComparison.compare(before.config(), after.config());

        assertEquals(List.of("COPY --from=? /x /x"), names(c.rootCauses()));
        assertEquals(Reason.INSTRUCTION, c.rootCauses().get(0).reason());
    }

    @Test
    void aModeMinExportAfterAModeMaxOneReusesTheFinalStage() {
        CacheConfig max = multiStage("v1", "go build -o /out/app", "v1", true).config();
        CacheConfig min = multiStage("v1", "go build -o /out/app", "v1", false).config();
        assertTrue(min.layers().size() < max.layers().size(), "min carries fewer layers");

        ExportComparison c = ExportComparison.compare(max, min);

        assertEquals(0, c.rebuilt());
        assertEquals(List.of(), c.rootCauses());
        // golang's record has neither inputs nor results in mode=min: it reads as a content key.
        assertEquals(6, c.stepCount());
        assertEquals(7, ExportComparison.compare(null, max).stepCount());
    }

    @Test
    void aModeMinExportBlamesABuilderStepItCarriesNoLayerFor() {
        CacheConfig before = multiStage("v1", "go build -o /out/app", "v1", false).config();
        CacheConfig after = multiStage("v1", "go build -race -o /out/app", "v1", false).config();

        ExportComparison c = ExportComparison.compare(before, after);

        assertEquals(1, c.rootCauses().size());
        Step build = c.rootCauses().get(0);
        assertEquals(ExportComparison.compare(before, after).rootCauses(), c.rootCauses(), "deterministic");
        assertEquals(key("exec go build -race -o /out/app"), build.cacheKey());
        assertNull(build.instruction(), "mode=min exports no layer for it, so no description");
        assertEquals("record " + build.record(), build.name());
        assertEquals(Reason.INSTRUCTION, build.reason());
        assertEquals(2, c.cascadeOf(build), "COPY --from and RUN ./test");
        assertEquals(Outcome.REUSED, step(c, "[stage-1 2/4] COPY app.txt /app/").outcome());
    }

    @Test
    void aChainOfFiftyThousandStepsNeedsNoStackAndLittleTime() {
        int n = 50_000;
        BuildKitExport before = chain(n, "v1");
        BuildKitExport after = chain(n, "v2");
        CacheConfig a = before.config();
        CacheConfig b = after.config();

        long start = System.nanoTime();
        ExportComparison c = ExportComparison.compare(a, b);
        Duration took = Duration.ofNanos(System.nanoTime() - start);

        assertEquals(n, c.stepCount());
        assertEquals(List.of("step 10"), names(c.rootCauses()));
        assertEquals(Reason.INSTRUCTION, c.rootCauses().get(0).reason());
        assertEquals(10, c.reused());
        assertEquals(n - 11, c.cascadeOf(c.rootCauses().get(0)));
        assertEquals("step 0", c.steps().get(0).name());
        assertEquals("step " + (n - 1), c.steps().get(n - 1).name());
        assertTrue(took.toSeconds() < 10, "took " + took + " (about 1.5 s here, for both exports)");
    }

    /** Steps 0..n-1, each on the one before; step 10's command depends on {@code version}. */
    private static BuildKitExport chain(int n, String version) {
        BuildKitExport e = new BuildKitExport();
        for (int i = 0; i < n; i++) {
            String def = "exec step " + i + (i == 10 ? " " + version : "");
            if (i == 0) {
                e.step("s0", def, "step 0");
            } else {
                e.step("s" + i, def, "step " + i, List.of(link("s" + (i - 1))));
            }
        }
        return e;
    }
}
