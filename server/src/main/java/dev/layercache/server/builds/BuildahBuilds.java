package dev.layercache.server.builds;

import dev.layercache.server.builds.ExportComparison.Outcome;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Groups buildah's per-step cache lookups and pushes on a cache repository into builds: which
 * steps each build reused, which it rebuilt, and the first step it rebuilt (the root cause).
 * Pure: no I/O, no metrics, no clock of its own (every event carries its time, and the caller
 * runs {@link #closeIdle} periodically); thread-safe; bounded.
 *
 * <h2>What buildah sends</h2>
 * With {@code --layers --cache-from REPO}, buildah computes a cache key per step (a digest of the
 * instruction, its parent and its inputs) and asks for the tag {@code REPO:<64-hex key>}
 * ({@code GET /v2/REPO/manifests/<key>}): an answer is a {@link Kind#HIT}, a 404 a
 * {@link Kind#MISS}. It asks step by step in build order and, within a stage, stops asking at the
 * first miss: the chain is broken, no later key can match ({@code checkForLayers = false} in its
 * stage executor). With {@code --cache-to REPO} it pushes, for each step it built, a manifest
 * tagged with that step's key ({@link Kind#PUSHED}), whose image config history names the
 * instruction. So one build of one stage reads {@code HIT* (MISS? PUSHED*)}: reused steps, then
 * the step that broke the chain, then the steps built after it. A later stage of the same build
 * starts asking again, so a hit after a push does not by itself mean a new build.
 *
 * <p>A step buildah finds in its own storage asks nothing, and with {@code --cache-to} it is
 * pushed all the same (only a step pulled from the cache is not pushed back). A builder that kept
 * its storage from an earlier build therefore sends, after changing one input,
 * {@code PUSHED(local hit)* MISS PUSHED*} (seen from buildah 1.28 on a real build). Since buildah
 * stops asking after the first miss of a stage, a step that was only pushed and is followed by a
 * lookup of a later step, with no miss before it in the build, was a hit in the builder's storage:
 * it counts as {@link Outcome#REUSED}, and the root cause is the first step rebuilt after it.
 * Pushes that no lookup follows (a build with {@code --cache-to} alone, or a stage after a miss)
 * cannot be told apart from built steps and count as rebuilt.
 *
 * <h2>The grouping rule (a contract)</h2>
 * Only tags of exactly 64 lowercase hex digits count ({@link #isStepKey}); other events are
 * ignored. An event belongs to the open build of the same repository and the same {@code who}
 * (the identity name, or the client address for anonymous clients) unless:
 * <ol>
 *   <li>it comes more than the gap (default {@link #DEFAULT_GAP}) after that build's last event:
 *       the build is closed and the event opens a new one; or</li>
 *   <li>its step key is already in the open build, and either it is not the build's latest step,
 *       or it is a lookup of a step the build has pushed: buildah asks for each step at most once
 *       per build and never asks for a step after building it, so this is the same builder
 *       starting its chain again. The open build is closed and the event opens a new one.</li>
 * </ol>
 * Otherwise an event for the build's latest step is folded into it (a {@code HEAD} and a
 * {@code GET} of one lookup, a retried request, the push after the miss): a step is
 * {@link Outcome#REBUILT} once any of its events is a miss or a push, {@link Outcome#REUSED} when
 * all are hits or when it was a hit in the builder's own storage (only pushed, then a later step
 * looked up with no miss before: see above). A build closes when it has been idle for longer than the gap
 * ({@link #closeIdle}), when rule 1 or 2 closes it, or when more than the bound of open builds
 * are open (the least recently active is closed first).
 *
 * <h2>What a build says, and what it cannot</h2>
 * Steps are listed in the order the server first saw them. The {@link Build#rootCause()} is the
 * first rebuilt step, named by the instruction of the manifest the build pushed for it when it
 * pushed one. What the server does not see it does not count: steps buildah found in its local
 * storage ask nothing, and without {@code --cache-to} the steps after the first miss are built
 * silently, so such a build shows its reused steps and the one that broke the chain. Two stages
 * with the same step (the same key) look like two builds (rule 2).
 *
 * <h2>Bounds</h2>
 * At most {@code maxOpen} builds are open at once and at most {@code maxSteps} steps are kept per
 * build; the steps beyond are still counted in {@link Build#reused()} and {@link Build#rebuilt()}
 * but not listed, and {@link Build#truncated()} says so; such a step is not remembered either, so
 * rule 2 does not see it asked again (the gap still closes the build). Closed builds are handed
 * to the sink and forgotten; the sink is called outside this object's lock, in the thread that
 * closed the build, so a slow sink never holds up other requests' events.
 */
public final class BuildahBuilds {
    /** The builder named in every {@link Build}. */
    public static final String BUILDER = "buildah";
    /** How long a build may be silent before it is closed. */
    public static final Duration DEFAULT_GAP = Duration.ofMinutes(2);
    /** Open builds at most, by default. */
    public static final int DEFAULT_MAX_OPEN = 1024;
    /** Steps kept per build at most, by default. */
    public static final int DEFAULT_MAX_STEPS = 1000;

    /** What the server saw for one step key. */
    public enum Kind {
        /** A lookup of the key's tag that was answered: the step was reused. */
        HIT,
        /** A lookup of the key's tag answered 404: the step will be built. */
        MISS,
        /** A manifest pushed under the key's tag: the step was built. */
        PUSHED
    }

    /**
     * One request on a cache repository.
     *
     * @param at          when it came
     * @param repository  the cache repository
     * @param who         the identity name, or the client's address when anonymous
     * @param tag         the tag asked for or pushed (only step keys count)
     * @param kind        what happened
     * @param instruction for {@link Kind#PUSHED}, the instruction the pushed manifest's image
     *                    config history names, when known; null otherwise
     */
    public record StepEvent(Instant at, String repository, String who, String tag, Kind kind, String instruction) {
        public StepEvent {
            Objects.requireNonNull(at, "at");
            Objects.requireNonNull(repository, "repository");
            Objects.requireNonNull(who, "who");
            Objects.requireNonNull(tag, "tag");
            Objects.requireNonNull(kind, "kind");
        }

        /** A lookup that was answered. */
        public static StepEvent hit(Instant at, String repository, String who, String tag) {
            return new StepEvent(at, repository, who, tag, Kind.HIT, null);
        }

        /** A lookup answered 404. */
        public static StepEvent miss(Instant at, String repository, String who, String tag) {
            return new StepEvent(at, repository, who, tag, Kind.MISS, null);
        }

        /** A manifest pushed under a step key, with its instruction or null. */
        public static StepEvent pushed(Instant at, String repository, String who, String tag, String instruction) {
            return new StepEvent(at, repository, who, tag, Kind.PUSHED, instruction);
        }
    }

    /**
     * One step of a build.
     *
     * @param key         buildah's cache key of the step (the tag)
     * @param outcome     reused or rebuilt
     * @param instruction the instruction of the manifest the build pushed for it, or null
     */
    public record Step(String key, Outcome outcome, String instruction) {
        /** The instruction, or {@code step <first 12 digits of the key>} when unknown. */
        public String name() {
            return instruction != null ? instruction : "step " + key.substring(0, 12);
        }
    }

    /**
     * A closed build.
     *
     * @param builder    always {@value #BUILDER}
     * @param repository the cache repository
     * @param who        the identity name or client address
     * @param start      its first event
     * @param end        its last event
     * @param steps      its steps in the order first seen (at most the bound)
     * @param reused     steps reused, listed or not
     * @param rebuilt    steps rebuilt, listed or not
     * @param rootCause  the first rebuilt step, or null when every step was reused
     * @param truncated  true when steps beyond the bound were counted but not listed
     */
    public record Build(String builder, String repository, String who, Instant start, Instant end, List<Step> steps,
                        int reused, int rebuilt, Step rootCause, boolean truncated) {
        /** Every step seen, listed or not. */
        public int stepCount() {
            return reused + rebuilt;
        }
    }

    private record Key(String repository, String who) { }

    /** A build being collected; guarded by the lock of the enclosing object. */
    private static final class Open {
        final Key key;
        final Instant start;
        Instant last;
        /** The listed steps (at most maxSteps), their outcomes and pushed instructions. */
        final List<String> order = new ArrayList<>();
        final Map<String, Outcome> outcomes = new HashMap<>();
        final Map<String, String> instructions = new HashMap<>();
        /** The step of the last event, listed or not, and what is known of it. */
        String latest;
        Outcome latestOutcome;
        boolean latestPushed;
        String firstRebuilt;
        String firstRebuiltInstruction;
        int reused;
        int rebuilt;
        boolean truncated;
        /** A lookup of this build missed (or a hit was built anyway): from then on a push is a built step. */
        boolean chainBroken;
        /**
         * Steps only pushed so far, before any miss: local hits if a lookup of a later step follows
         * (see the class comment). The listed ones by key; the count includes those past the bound.
         */
        final List<String> onlyPushed = new ArrayList<>();
        int onlyPushedCount;

        Open(Key key, Instant start) {
            this.key = key;
            this.start = start;
            this.last = start;
        }
    }

    private final Duration gap;
    private final int maxOpen;
    private final int maxSteps;
    private final Consumer<Build> sink;
    /** Open builds, least recently active first (an event moves its build to the end). */
    private final LinkedHashMap<Key, Open> open = new LinkedHashMap<>();

    /** A grouper with the default gap and bounds. */
    public BuildahBuilds(Consumer<Build> sink) {
        this(DEFAULT_GAP, DEFAULT_MAX_OPEN, DEFAULT_MAX_STEPS, sink);
    }

    /**
     * @param gap      how long a build may be silent before it closes (positive)
     * @param maxOpen  open builds at most (at least 1)
     * @param maxSteps steps listed per build at most (at least 1)
     * @param sink     receives each closed build
     */
    public BuildahBuilds(Duration gap, int maxOpen, int maxSteps, Consumer<Build> sink) {
        Objects.requireNonNull(gap, "gap");
        if (gap.isNegative() || gap.isZero()) {
            throw new IllegalArgumentException("gap must be positive: " + gap);
        }
        if (maxOpen < 1 || maxSteps < 1) {
            throw new IllegalArgumentException("maxOpen and maxSteps must be at least 1: " + maxOpen + ", " + maxSteps);
        }
        this.gap = gap;
        this.maxOpen = maxOpen;
        this.maxSteps = maxSteps;
        this.sink = Objects.requireNonNull(sink, "sink");
    }

    /** True for a tag of exactly 64 lowercase hex digits, the shape of buildah's step keys. */
    public static boolean isStepKey(String tag) {
        if (tag == null || tag.length() != 64) {
            return false;
        }
        for (int i = 0; i < 64; i++) {
            char c = tag.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
                return false;
            }
        }
        return true;
    }

    /** Takes one event; ignored unless its tag is a step key (see the class comment for the rule). */
    public void accept(StepEvent event) {
        Objects.requireNonNull(event, "event");
        if (!isStepKey(event.tag())) {
            return;
        }
        List<Build> closed = new ArrayList<>(2);
        synchronized (this) {
            Key key = new Key(event.repository(), event.who());
            Open build = open.remove(key);
            if (build != null && startsNewBuild(build, event)) {
                closed.add(close(build));
                build = null;
            }
            if (build == null) {
                build = new Open(key, event.at());
                while (open.size() >= maxOpen) {
                    Iterator<Open> oldest = open.values().iterator();
                    closed.add(close(oldest.next()));
                    oldest.remove();
                }
            }
            add(build, event);
            open.put(key, build);
        }
        closed.forEach(sink);
    }

    /** Closes every build silent for longer than the gap at {@code now}, handing each to the sink. */
    public void closeIdle(Instant now) {
        Objects.requireNonNull(now, "now");
        List<Build> closed = new ArrayList<>();
        synchronized (this) {
            // Least recently active first: stop at the first build still active.
            Iterator<Open> it = open.values().iterator();
            while (it.hasNext()) {
                Open build = it.next();
                if (!idle(build, now)) {
                    break;
                }
                closed.add(close(build));
                it.remove();
            }
        }
        closed.forEach(sink);
    }

    /** Closes every open build (at shutdown), handing each to the sink. */
    public void closeAll() {
        List<Build> closed = new ArrayList<>();
        synchronized (this) {
            open.values().forEach(b -> closed.add(close(b)));
            open.clear();
        }
        closed.forEach(sink);
    }

    /** How many builds are open. */
    public synchronized int openBuilds() {
        return open.size();
    }

    private boolean idle(Open build, Instant now) {
        return Duration.between(build.last, now).compareTo(gap) > 0;
    }

    /** Rules 1 and 2 of the class comment. */
    private boolean startsNewBuild(Open build, StepEvent event) {
        if (idle(build, event.at())) {
            return true;
        }
        String k = event.tag();
        if (!k.equals(build.latest)) {
            return build.outcomes.containsKey(k);
        }
        return event.kind() != Kind.PUSHED && build.latestPushed;
    }

    private void add(Open build, StepEvent event) {
        if (event.at().isAfter(build.last)) {
            build.last = event.at();
        }
        String k = event.tag();
        Outcome outcome = event.kind() == Kind.HIT ? Outcome.REUSED : Outcome.REBUILT;
        boolean newStep = !k.equals(build.latest);
        if (newStep && event.kind() != Kind.PUSHED && !build.chainBroken) {
            reuseLocalHits(build);
        }
        boolean builtAfterHit = event.kind() == Kind.PUSHED && !newStep && build.latestOutcome == Outcome.REUSED;
        if (event.kind() == Kind.MISS || builtAfterHit) {
            build.chainBroken = true; // a miss, or a step pulled that was built all the same
        }
        if (newStep) {
            build.latest = k;
            build.latestOutcome = outcome;
            build.latestPushed = false;
            if (outcome == Outcome.REUSED) {
                build.reused++;
            } else {
                build.rebuilt++;
            }
            // Past the bound a step is counted but not kept, so memory stays bounded per build.
            boolean listed = build.order.size() < maxSteps;
            if (listed) {
                build.order.add(k);
                build.outcomes.put(k, outcome);
            } else {
                build.truncated = true;
            }
            if (event.kind() == Kind.PUSHED && !build.chainBroken) {
                build.onlyPushedCount++;
                if (listed) {
                    build.onlyPushed.add(k);
                }
            }
        } else if (build.latestOutcome == Outcome.REUSED && outcome == Outcome.REBUILT) {
            build.latestOutcome = outcome;
            build.reused--;
            build.rebuilt++;
            build.outcomes.computeIfPresent(k, (key, o) -> outcome);
        }
        if (outcome == Outcome.REBUILT && build.firstRebuilt == null) {
            build.firstRebuilt = k;
        }
        if (event.kind() == Kind.PUSHED) {
            build.latestPushed = true;
            if (event.instruction() != null) {
                if (build.outcomes.containsKey(k)) {
                    build.instructions.put(k, event.instruction());
                }
                if (k.equals(build.firstRebuilt)) {
                    build.firstRebuiltInstruction = event.instruction();
                }
            }
        }
    }

    /**
     * A lookup of a new step with no miss before it: the steps only pushed so far were hits in the
     * builder's storage. With no miss, every rebuilt step so far is one of them, so the build has
     * no root cause yet.
     */
    private static void reuseLocalHits(Open build) {
        if (build.onlyPushedCount == 0) {
            return;
        }
        for (String k : build.onlyPushed) {
            build.outcomes.put(k, Outcome.REUSED);
        }
        build.reused += build.onlyPushedCount;
        build.rebuilt -= build.onlyPushedCount;
        build.onlyPushed.clear();
        build.onlyPushedCount = 0;
        build.firstRebuilt = null;
        build.firstRebuiltInstruction = null;
        if (build.latestOutcome == Outcome.REBUILT) {
            build.latestOutcome = Outcome.REUSED;
        }
    }

    private static Build close(Open build) {
        List<Step> steps = new ArrayList<>(build.order.size());
        for (String k : build.order) {
            steps.add(step(build, k));
        }
        Step root = build.firstRebuilt == null ? null
                : new Step(build.firstRebuilt, Outcome.REBUILT, build.firstRebuiltInstruction);
        return new Build(BUILDER, build.key.repository(), build.key.who(), build.start, build.last, List.copyOf(steps),
                build.reused, build.rebuilt, root, build.truncated);
    }

    private static Step step(Open build, String k) {
        return new Step(k, build.outcomes.get(k), build.instructions.get(k));
    }
}
