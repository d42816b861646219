package dev.layercache.server.builds;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.builds.ExportComparison.Cause;
import dev.layercache.server.builds.ExportComparison.Kind;
import dev.layercache.server.builds.ExportComparison.Outcome;
import dev.layercache.server.builds.ExportComparison.Reason;
import dev.layercache.server.builds.ExportComparison.Step;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.manifest.CacheConfig;
import dev.layercache.server.core.manifest.ImageManifest;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link ExportComparison} on inline caches that dockerd 20.10.24's BuildKit really pushed
 * (resources {@code dockerd-20.10/}, captured from a layercache server), for the
 * {@code Dockerfile} beside them: {@code FROM} the test base, {@code RUN}, {@code COPY in.txt},
 * a {@code RUN} that reads it, {@code COPY late.txt}, a {@code RUN}, and a {@code CMD}.
 * <ul>
 *   <li>{@code first}: the first build, with {@code BUILDKIT_INLINE_CACHE=1};</li>
 *   <li>{@code unchanged}: after {@code docker rmi} and {@code docker builder prune -af}, the same
 *       context built with {@code --cache-from} (every step {@code CACHED}) and pushed: byte for
 *       byte the first manifest and config;</li>
 *   <li>{@code changed}: the same after {@code in.txt} changed: {@code [2/6]} {@code CACHED}, the
 *       rest rebuilt.</li>
 * </ul>
 * What the real export holds, and the fixtures of {@link InlineCacheComparisonTest} do not: the
 * base image has no record with a result (only two result-less keys, alternatives of the first
 * RUN's input), no input carries a selector, and in {@code changed} the reused first RUN has no
 * result at all (its layer is only in the chain of the COPY built on it).
 */
class DockerdInlineCacheTest {
    private static final String RUN_2 = "RUN /bin/sh -c echo \"r2:$(cat /proc/sys/kernel/random/uuid)\" > /r2 # buildkit";
    private static final String COPY_IN = "COPY in.txt /in.txt # buildkit";
    private static final String RUN_4 =
            "RUN /bin/sh -c echo \"r4:$(cat /proc/sys/kernel/random/uuid):$(cat /in.txt)\" > /r4 # buildkit";
    private static final String COPY_LATE = "COPY late.txt /late.txt # buildkit";
    private static final String RUN_6 = "RUN /bin/sh -c echo \"r6:$(cat /proc/sys/kernel/random/uuid)\" > /r6 # buildkit";

    private static byte[] resource(String name) {
        try (InputStream in = DockerdInlineCacheTest.class.getResourceAsStream("dockerd-20.10/" + name)) {
            assertNotNull(in, "test resource dockerd-20.10/" + name);
            return in.readAllBytes();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static CacheConfig cache(String build) {
        ImageManifest manifest = (ImageManifest) BuildKitExport.PARSER.parse(MediaTypes.DOCKER_MANIFEST,
                resource(build + ".manifest.json"));
        return BuildKitExport.PARSER.parseInlineCache(resource(build + ".config.json"), manifest).orElseThrow();
    }

    /** What the server keeps of an export for the next comparison, read back as it reads it. */
    private static CacheConfig kept(CacheConfig export) {
        return BuildKitExport.PARSER.parseCacheConfig(CacheConfigJson.write(new ObjectMapper(), export, Map.of()));
    }

    private static List<Step> steps(ExportComparison c) {
        return c.steps().stream().filter(s -> s.kind() == Kind.STEP).toList();
    }

    @Test
    void theFirstExportHasFiveStepsNamedFromHistoryAndNoneForTheBaseImage() {
        CacheConfig first = cache("first");
        assertEquals(6, first.layers().size(), "the base layer and one per RUN and COPY");
        assertEquals(9, first.records().size());
        assertTrue(first.records().stream().flatMap(r -> r.inputs().stream()).flatMap(List::stream)
                .allMatch(link -> link.selector() == null), "dockerd 20.10 writes no selectors");

        ExportComparison c = ExportComparison.compare(null, first);

        assertTrue(c.firstExport());
        assertEquals(5, c.stepCount(), "the base image is only keys without results: not a step");
        assertEquals(List.of(RUN_2, COPY_IN, RUN_4, COPY_LATE, RUN_6), steps(c).stream().map(Step::name).toList());
        assertTrue(steps(c).stream().allMatch(s -> s.cause() == Cause.FIRST_EXPORT));
    }

    @Test
    void anUnchangedRebuildPushesTheSameBytesAndReusesEveryStep() {
        assertArrayEquals(resource("first.manifest.json"), resource("unchanged.manifest.json"));
        assertArrayEquals(resource("first.config.json"), resource("unchanged.config.json"));

        ExportComparison c = ExportComparison.compare(cache("first"), cache("unchanged"));

        assertEquals(5, c.stepCount());
        assertEquals(5, c.reused());
        assertEquals(0, c.rebuilt());
        assertEquals(List.of(), c.rootCauses());
    }

    @Test
    void aChangedInputOfTheEarlyCopyIsTheRootCauseAndTheThreeStepsAfterItCascade() {
        check(ExportComparison.compare(cache("unchanged"), cache("changed")));
    }

    @Test
    void theExportTheServerKeepsGivesTheSameAnswerAndNames() {
        check(ExportComparison.compare(kept(cache("unchanged")), cache("changed")));
    }

    private static void check(ExportComparison c) {
        assertFalse(c.firstExport());
        assertEquals(5, c.stepCount());
        assertEquals(1, c.reused());
        assertEquals(4, c.rebuilt());
        assertEquals(1, c.rootCauses().size());
        Step root = c.rootCauses().get(0);
        assertEquals(COPY_IN, root.name());
        assertEquals(Reason.CONTENT, root.reason(), "same COPY, the checksum of in.txt it reads changed");
        assertEquals(3, c.cascadeOf(root));
        List<Step> steps = steps(c);
        assertEquals(List.of(RUN_2, COPY_IN, RUN_4, COPY_LATE, RUN_6), steps.stream().map(Step::name).toList(),
                "the reused RUN has no result in this export: named from the previous export's record");
        assertEquals(List.of(Outcome.REUSED, Outcome.REBUILT, Outcome.REBUILT, Outcome.REBUILT, Outcome.REBUILT),
                steps.stream().map(Step::outcome).toList());
        assertEquals(List.of(Cause.NONE, Cause.ROOT_CAUSE, Cause.CASCADE, Cause.CASCADE, Cause.CASCADE),
                steps.stream().map(Step::cause).toList());
        CacheConfig changed = cache("changed");
        assertTrue(changed.records().get(steps.get(0).record()).results().isEmpty(),
                "dockerd exported the reused RUN without its result (what the naming from the previous export is for)");
    }
}
