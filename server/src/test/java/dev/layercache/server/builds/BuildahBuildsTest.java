package dev.layercache.server.builds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.builds.BuildahBuilds.Build;
import dev.layercache.server.builds.BuildahBuilds.StepEvent;
import dev.layercache.server.builds.ExportComparison.Outcome;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The grouping of buildah's per-step lookups and pushes into builds, fed the sequences buildah
 * really sends (see the class comment of {@link BuildahBuilds}): hits in build order, at most one
 * miss, then a push per built step. Time is the events' own; the sink is a list.
 */
class BuildahBuildsTest {
    private static final Instant T0 = Instant.parse("2026-12-06T10:00:00Z");
    private static final String REPO = "cache/app";
    private static final String A = "ci-a";
    private static final List<String> INSTRUCTIONS = List.of(
            "/bin/sh -c #(nop) COPY dir:1 in /",
            "/bin/sh -c echo one > /s2",
            "/bin/sh -c #(nop) COPY file:mid in /mid.txt",
            "/bin/sh -c cat /mid.txt > /s4",
            "/bin/sh -c echo five > /s5");

    private final List<Build> sink = Collections.synchronizedList(new ArrayList<>());
    private final BuildahBuilds builds = new BuildahBuilds(sink::add);

    /** A step key as buildah writes it: 64 lowercase hex digits. */
    private static String key(String name) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(name.getBytes(StandardCharsets.UTF_8)));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private static List<String> keys(String version, int n) {
        List<String> out = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            out.add(key(version + "-step-" + i));
        }
        return out;
    }

    private static Instant at(long seconds) {
        return T0.plusSeconds(seconds);
    }

    private Build onlyBuild() {
        assertEquals(1, sink.size(), "closed builds: " + sink);
        return sink.get(0);
    }

    @Test
    void firstBuildMissesTheFirstStepAndPushesEveryStep() {
        List<String> k = keys("v1", 5);
        builds.accept(StepEvent.miss(at(0), REPO, A, k.get(0)));
        for (int i = 0; i < 5; i++) {
            builds.accept(StepEvent.pushed(at(1 + i), REPO, A, k.get(i), INSTRUCTIONS.get(i)));
        }
        assertTrue(sink.isEmpty(), "still open within the gap");
        builds.closeIdle(at(5).plus(BuildahBuilds.DEFAULT_GAP));
        assertTrue(sink.isEmpty(), "exactly the gap is not longer than the gap");
        builds.closeIdle(at(5).plus(BuildahBuilds.DEFAULT_GAP).plusMillis(1));
        Build b = onlyBuild();
        assertEquals("buildah", b.builder());
        assertEquals(REPO, b.repository());
        assertEquals(A, b.who());
        assertEquals(at(0), b.start());
        assertEquals(at(5), b.end());
        assertEquals(5, b.stepCount());
        assertEquals(0, b.reused());
        assertEquals(5, b.rebuilt());
        assertEquals(k, b.steps().stream().map(BuildahBuilds.Step::key).toList());
        assertEquals(INSTRUCTIONS, b.steps().stream().map(BuildahBuilds.Step::name).toList());
        assertTrue(b.steps().stream().allMatch(s -> s.outcome() == Outcome.REBUILT));
        assertEquals(k.get(0), b.rootCause().key());
        assertEquals(INSTRUCTIONS.get(0), b.rootCause().instruction());
        assertFalse(b.truncated());
        assertEquals(0, builds.openBuilds());
    }

    @Test
    void cacheToOnlyBuildPushesWithoutLookingUp() {
        List<String> k = keys("v1", 3);
        for (int i = 0; i < 3; i++) {
            builds.accept(StepEvent.pushed(at(i), REPO, A, k.get(i), INSTRUCTIONS.get(i)));
        }
        builds.closeAll();
        Build b = onlyBuild();
        assertEquals(3, b.rebuilt());
        assertEquals(INSTRUCTIONS.get(0), b.rootCause().name());
    }

    @Test
    void unchangedRebuildReusesEveryStep() {
        List<String> k = keys("v1", 5);
        for (int i = 0; i < 5; i++) {
            builds.accept(StepEvent.hit(at(i), REPO, A, k.get(i)));
            builds.accept(StepEvent.hit(at(i), REPO, A, k.get(i))); // HEAD then GET of one lookup
        }
        builds.closeAll();
        Build b = onlyBuild();
        assertEquals(5, b.stepCount());
        assertEquals(5, b.reused());
        assertEquals(0, b.rebuilt());
        assertNull(b.rootCause());
        assertTrue(b.steps().stream().allMatch(s -> s.outcome() == Outcome.REUSED));
    }

    @Test
    void changeAtStepThreeReusesTwoAndRebuildsThreeNamingStepThree() {
        List<String> old = keys("v1", 5);
        List<String> k = new ArrayList<>(old.subList(0, 2));
        k.addAll(keys("v2", 5).subList(2, 5));
        builds.accept(StepEvent.hit(at(0), REPO, A, k.get(0)));
        builds.accept(StepEvent.hit(at(1), REPO, A, k.get(1)));
        builds.accept(StepEvent.miss(at(2), REPO, A, k.get(2)));
        builds.accept(StepEvent.pushed(at(10), REPO, A, k.get(2), INSTRUCTIONS.get(2)));
        builds.accept(StepEvent.pushed(at(20), REPO, A, k.get(3), INSTRUCTIONS.get(3)));
        builds.accept(StepEvent.pushed(at(30), REPO, A, k.get(4), INSTRUCTIONS.get(4)));
        builds.closeIdle(at(30 + 121));
        Build b = onlyBuild();
        assertEquals(5, b.stepCount());
        assertEquals(2, b.reused());
        assertEquals(3, b.rebuilt());
        assertEquals(List.of(Outcome.REUSED, Outcome.REUSED, Outcome.REBUILT, Outcome.REBUILT, Outcome.REBUILT),
                b.steps().stream().map(BuildahBuilds.Step::outcome).toList());
        assertEquals(k.get(2), b.rootCause().key());
        assertEquals("/bin/sh -c #(nop) COPY file:mid in /mid.txt", b.rootCause().name());
    }

    /**
     * What buildah 1.28 sent when a builder that kept its storage rebuilt after an input of step 2
     * (a COPY) changed, with {@code --cache-from} and {@code --cache-to}: step 1 was found in its
     * own storage, so it was not looked up but pushed back; step 2 was looked up, missed and was
     * pushed; the later steps were pushed without a lookup.
     */
    @Test
    void aStepFoundInTheBuildersOwnStorageIsPushedWithoutALookupAndCountsAsReused() {
        List<String> k = new ArrayList<>(keys("v1", 1));
        k.addAll(keys("v2", 5).subList(1, 5));
        builds.accept(StepEvent.pushed(at(0), REPO, A, k.get(0), INSTRUCTIONS.get(1)));
        builds.accept(StepEvent.miss(at(1), REPO, A, k.get(1)));
        builds.accept(StepEvent.pushed(at(2), REPO, A, k.get(1), INSTRUCTIONS.get(2)));
        builds.accept(StepEvent.pushed(at(3), REPO, A, k.get(2), INSTRUCTIONS.get(3)));
        builds.accept(StepEvent.pushed(at(4), REPO, A, k.get(3), INSTRUCTIONS.get(4)));
        builds.accept(StepEvent.pushed(at(5), REPO, A, k.get(4), INSTRUCTIONS.get(4)));
        builds.closeAll();
        Build b = onlyBuild();
        assertEquals(5, b.stepCount());
        assertEquals(1, b.reused(), "the step pushed before the first lookup was a local hit");
        assertEquals(4, b.rebuilt());
        assertEquals(List.of(Outcome.REUSED, Outcome.REBUILT, Outcome.REBUILT, Outcome.REBUILT, Outcome.REBUILT),
                b.steps().stream().map(BuildahBuilds.Step::outcome).toList());
        assertEquals(k.get(1), b.rootCause().key(), "the COPY that missed, not the step pushed before it");
        assertEquals(INSTRUCTIONS.get(2), b.rootCause().name());
    }

    @Test
    void localHitsThenRemoteHitsAreAllReused() {
        List<String> k = keys("v1", 4);
        builds.accept(StepEvent.pushed(at(0), REPO, A, k.get(0), INSTRUCTIONS.get(0)));
        builds.accept(StepEvent.pushed(at(1), REPO, A, k.get(1), INSTRUCTIONS.get(1)));
        builds.accept(StepEvent.hit(at(2), REPO, A, k.get(2)));
        builds.accept(StepEvent.hit(at(3), REPO, A, k.get(3)));
        builds.closeAll();
        Build b = onlyBuild();
        assertEquals(4, b.reused());
        assertEquals(0, b.rebuilt());
        assertNull(b.rootCause());
        assertTrue(b.steps().stream().allMatch(s -> s.outcome() == Outcome.REUSED));
    }

    @Test
    void aPulledStepBuiltAnywayBreaksTheChainSoLaterPushesStayRebuilt() {
        List<String> k = keys("v1", 4);
        builds.accept(StepEvent.hit(at(0), REPO, A, k.get(0)));
        builds.accept(StepEvent.pushed(at(1), REPO, A, k.get(0), INSTRUCTIONS.get(0))); // pulled, unusable, built
        builds.accept(StepEvent.pushed(at(2), REPO, A, k.get(1), INSTRUCTIONS.get(1)));
        builds.accept(StepEvent.hit(at(3), REPO, A, k.get(2))); // a later stage asks again
        builds.closeAll();
        Build b = onlyBuild();
        assertEquals(2, b.rebuilt());
        assertEquals(1, b.reused());
        assertEquals(k.get(0), b.rootCause().key());
    }

    @Test
    void localHitsPastTheBoundAreCountedAsReused() {
        BuildahBuilds bounded = new BuildahBuilds(Duration.ofMinutes(2), 10, 2, sink::add);
        List<String> k = keys("v1", 5);
        for (int i = 0; i < 4; i++) {
            bounded.accept(StepEvent.pushed(at(i), REPO, A, k.get(i), null));
        }
        bounded.accept(StepEvent.miss(at(4), REPO, A, k.get(4)));
        bounded.closeAll();
        Build b = onlyBuild();
        assertTrue(b.truncated());
        assertEquals(4, b.reused());
        assertEquals(1, b.rebuilt());
        assertEquals(k.get(4), b.rootCause().key());
        assertEquals(List.of(Outcome.REUSED, Outcome.REUSED), b.steps().stream().map(BuildahBuilds.Step::outcome).toList());
    }

    @Test
    void changeWithoutCacheToNamesTheBrokenStepByItsKey() {
        List<String> k = keys("v1", 5);
        builds.accept(StepEvent.hit(at(0), REPO, A, k.get(0)));
        builds.accept(StepEvent.hit(at(1), REPO, A, k.get(1)));
        builds.accept(StepEvent.miss(at(2), REPO, A, k.get(2)));
        builds.closeAll();
        Build b = onlyBuild();
        assertEquals(2, b.reused());
        assertEquals(1, b.rebuilt(), "the steps built after the miss are not seen without --cache-to");
        assertNull(b.rootCause().instruction());
        assertEquals("step " + k.get(2).substring(0, 12), b.rootCause().name());
    }

    @Test
    void twoBuildersOnOneRepositoryAtOnceAreKeptApartByWho() {
        List<String> k = keys("v1", 3);
        List<String> changed = new ArrayList<>(k.subList(0, 1));
        changed.addAll(keys("v2", 3).subList(1, 3));
        // interleaved: A reuses everything, B breaks at step 2 and pushes
        builds.accept(StepEvent.hit(at(0), REPO, "ci-a", k.get(0)));
        builds.accept(StepEvent.hit(at(0), REPO, "10.0.0.7", changed.get(0)));
        builds.accept(StepEvent.hit(at(1), REPO, "ci-a", k.get(1)));
        builds.accept(StepEvent.miss(at(1), REPO, "10.0.0.7", changed.get(1)));
        builds.accept(StepEvent.hit(at(2), REPO, "ci-a", k.get(2)));
        builds.accept(StepEvent.pushed(at(3), REPO, "10.0.0.7", changed.get(1), INSTRUCTIONS.get(1)));
        builds.accept(StepEvent.pushed(at(4), REPO, "10.0.0.7", changed.get(2), INSTRUCTIONS.get(2)));
        assertEquals(2, builds.openBuilds());
        builds.closeAll();
        assertEquals(2, sink.size());
        Build a = sink.stream().filter(b -> b.who().equals("ci-a")).findFirst().orElseThrow();
        Build b = sink.stream().filter(x -> x.who().equals("10.0.0.7")).findFirst().orElseThrow();
        assertEquals(3, a.reused());
        assertEquals(0, a.rebuilt());
        assertEquals(1, b.reused());
        assertEquals(2, b.rebuilt());
        assertEquals(INSTRUCTIONS.get(1), b.rootCause().name());
    }

    @Test
    void twoRepositoriesAreTwoBuilds() {
        List<String> k = keys("v1", 2);
        builds.accept(StepEvent.hit(at(0), "cache/app", A, k.get(0)));
        builds.accept(StepEvent.miss(at(1), "cache/other", A, k.get(0)));
        builds.accept(StepEvent.hit(at(2), "cache/app", A, k.get(1)));
        builds.closeAll();
        assertEquals(2, sink.size());
        Build app = sink.stream().filter(b -> b.repository().equals("cache/app")).findFirst().orElseThrow();
        Build other = sink.stream().filter(b -> b.repository().equals("cache/other")).findFirst().orElseThrow();
        assertEquals(2, app.reused());
        assertEquals(1, other.rebuilt());
        assertEquals(0, other.reused());
    }

    @Test
    void aLongerGapClosesTheBuildAndTheNextEventOpensAnother() {
        BuildahBuilds short30 = new BuildahBuilds(Duration.ofSeconds(30), 10, 10, sink::add);
        List<String> first = keys("v1", 2);
        List<String> second = keys("v2", 2);
        short30.accept(StepEvent.hit(at(0), REPO, A, first.get(0)));
        short30.accept(StepEvent.hit(at(30), REPO, A, first.get(1))); // exactly the gap: same build
        short30.closeIdle(at(45));
        assertTrue(sink.isEmpty());
        short30.accept(StepEvent.miss(at(61), REPO, A, second.get(0))); // 31 s after the last event
        Build closed = onlyBuild();
        assertEquals(2, closed.reused());
        assertEquals(at(30), closed.end());
        assertEquals(1, short30.openBuilds());
        short30.closeIdle(at(92));
        assertEquals(2, sink.size());
        assertEquals(1, sink.get(1).rebuilt());
        assertEquals(at(61), sink.get(1).start());
    }

    @Test
    void theSameBuilderStartingItsChainAgainIsANewBuildWithinTheGap() {
        List<String> k = keys("v1", 3);
        builds.accept(StepEvent.miss(at(0), REPO, A, k.get(0)));
        for (int i = 0; i < 3; i++) {
            builds.accept(StepEvent.pushed(at(1 + i), REPO, A, k.get(i), INSTRUCTIONS.get(i)));
        }
        // a second build 5 s later asks for step 1 again: it was pushed, so this is a new build
        for (int i = 0; i < 3; i++) {
            builds.accept(StepEvent.hit(at(10 + i), REPO, A, k.get(i)));
        }
        assertEquals(1, sink.size(), "the first build closed when its first step was asked again");
        assertEquals(3, sink.get(0).rebuilt());
        builds.closeAll();
        assertEquals(2, sink.size());
        assertEquals(3, sink.get(1).reused());
        assertEquals(0, sink.get(1).rebuilt());
    }

    @Test
    void aLookupOfTheLatestStepAfterPushingItStartsANewBuild() {
        String only = key("single-step");
        builds.accept(StepEvent.miss(at(0), REPO, A, only));
        builds.accept(StepEvent.pushed(at(1), REPO, A, only, INSTRUCTIONS.get(0)));
        builds.accept(StepEvent.hit(at(5), REPO, A, only));
        builds.closeAll();
        assertEquals(2, sink.size());
        assertEquals(1, sink.get(0).rebuilt());
        assertEquals(1, sink.get(0).stepCount(), "the miss and the push of one step are one step");
        assertEquals(1, sink.get(1).reused());
    }

    @Test
    void aLaterStageAskingAgainAfterAPushStaysInTheBuild() {
        List<String> stage1 = keys("stage1", 2);
        List<String> stage2 = keys("stage2", 2);
        builds.accept(StepEvent.miss(at(0), REPO, A, stage1.get(0)));
        builds.accept(StepEvent.pushed(at(1), REPO, A, stage1.get(0), INSTRUCTIONS.get(0)));
        builds.accept(StepEvent.pushed(at(2), REPO, A, stage1.get(1), INSTRUCTIONS.get(1)));
        builds.accept(StepEvent.hit(at(3), REPO, A, stage2.get(0)));
        builds.accept(StepEvent.hit(at(4), REPO, A, stage2.get(1)));
        builds.closeAll();
        Build b = onlyBuild();
        assertEquals(2, b.rebuilt());
        assertEquals(2, b.reused());
        assertEquals(INSTRUCTIONS.get(0), b.rootCause().name());
    }

    @Test
    void tagsThatAreNotStepKeysAreIgnored() {
        String upper = key("x").toUpperCase();
        for (String tag : List.of("latest", "v1.2", key("x").substring(1), key("x") + "0", upper,
                "sha256:" + key("x"), key("x").replace('a', 'g'))) {
            assertFalse(BuildahBuilds.isStepKey(tag), tag);
            builds.accept(StepEvent.hit(at(0), REPO, A, tag));
            builds.accept(StepEvent.miss(at(0), REPO, A, tag));
            builds.accept(StepEvent.pushed(at(0), REPO, A, tag, "RUN x"));
        }
        assertEquals(0, builds.openBuilds());
        builds.closeAll();
        assertTrue(sink.isEmpty());
        assertTrue(BuildahBuilds.isStepKey(key("x")));
    }

    @Test
    void manyWhosKeepAtMostTheBoundOpenClosingTheLeastRecentlyActive() {
        BuildahBuilds bounded = new BuildahBuilds(Duration.ofMinutes(2), 3, 10, sink::add);
        String k = key("step");
        for (int i = 0; i < 3; i++) {
            bounded.accept(StepEvent.hit(at(i), REPO, "who-" + i, k));
        }
        bounded.accept(StepEvent.hit(at(3), REPO, "who-0", key("step-2"))); // who-0 is active again
        assertTrue(sink.isEmpty());
        for (int i = 3; i < 100; i++) {
            bounded.accept(StepEvent.hit(at(i + 1), REPO, "who-" + i, k));
            assertEquals(3, bounded.openBuilds());
        }
        assertEquals(97, sink.size());
        assertEquals("who-1", sink.get(0).who(), "the least recently active closes first");
        assertEquals("who-2", sink.get(1).who());
        assertEquals("who-0", sink.get(2).who());
        assertEquals(2, sink.get(2).reused());
    }

    @Test
    void aVeryLongBuildListsAtMostTheBoundButCountsEveryStep() {
        BuildahBuilds bounded = new BuildahBuilds(Duration.ofMinutes(2), 10, 50, sink::add);
        List<String> k = keys("long", 10_000);
        for (int i = 0; i < 9_000; i++) {
            bounded.accept(StepEvent.hit(at(i / 100), REPO, A, k.get(i)));
        }
        bounded.accept(StepEvent.miss(at(100), REPO, A, k.get(9_000)));
        for (int i = 9_000; i < 10_000; i++) {
            bounded.accept(StepEvent.pushed(at(100), REPO, A, k.get(i), "RUN step " + (i + 1)));
        }
        bounded.closeAll();
        Build b = onlyBuild();
        assertTrue(b.truncated());
        assertEquals(50, b.steps().size());
        assertEquals(k.subList(0, 50), b.steps().stream().map(BuildahBuilds.Step::key).toList());
        assertEquals(10_000, b.stepCount());
        assertEquals(9_000, b.reused());
        assertEquals(1_000, b.rebuilt());
        assertEquals(k.get(9_000), b.rootCause().key());
        assertEquals("RUN step 9001", b.rootCause().name(), "the root cause is named even past the bound");
    }

    @Test
    void concurrentBuildersAreCountedExactly() throws Exception {
        int threads = 8;
        int steps = 500;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        CountDownLatch go = new CountDownLatch(1);
        try {
            for (int t = 0; t < threads; t++) {
                String who = "who-" + t;
                List<String> k = keys(who, steps);
                pool.submit(() -> {
                    go.await();
                    for (int i = 0; i < steps; i++) {
                        builds.accept(i < steps / 2 ? StepEvent.hit(at(i), REPO, who, k.get(i))
                                : StepEvent.pushed(at(i), REPO, who, k.get(i), null));
                    }
                    return null;
                });
            }
            go.countDown();
            pool.shutdown();
            assertTrue(pool.awaitTermination(30, TimeUnit.SECONDS));
        } finally {
            pool.shutdownNow();
        }
        builds.closeIdle(at(steps + 121));
        assertEquals(threads, sink.size());
        for (Build b : sink) {
            assertEquals(steps / 2, b.reused(), b.who());
            assertEquals(steps / 2, b.rebuilt(), b.who());
        }
    }

    @Test
    void rejectsBadBounds() {
        assertThrows(IllegalArgumentException.class, () -> new BuildahBuilds(Duration.ZERO, 1, 1, sink::add));
        assertThrows(IllegalArgumentException.class, () -> new BuildahBuilds(Duration.ofSeconds(1), 0, 1, sink::add));
        assertThrows(IllegalArgumentException.class, () -> new BuildahBuilds(Duration.ofSeconds(1), 1, 0, sink::add));
    }
}
