package dev.layercache.server.builds;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.manifest.BuildKitCache;
import dev.layercache.server.core.manifest.CacheConfig;
import dev.layercache.server.core.manifest.CacheConfig.CacheInput;
import dev.layercache.server.core.manifest.CacheConfig.CacheRecord;
import dev.layercache.server.core.manifest.Descriptor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Which steps of a BuildKit build were reused from the cache it was given and which it rebuilt,
 * and why: the comparison of a cache export ({@link CacheConfig}) with the previous export of the
 * same reference. Pure: no I/O, deterministic, linear in the size of both exports (at most 32
 * previous records are tried per record, see {@link ExportGraph}) and without recursion, so a
 * chain of 50,000 steps costs no stack.
 *
 * <h2>What a record is, and when it was reused</h2>
 * A record's {@code digest} is not the whole identity of a step. BuildKit computes it from the
 * step's own definition (the command of a {@code RUN}, the paths of a {@code COPY}, an output
 * index), <em>not</em> from its inputs: the inputs are the record's links, each with a selector
 * (what of the input the step reads). BuildKit itself names a cache key by the digest together
 * with its inputs' keys and selectors, recursively, and finds a step in an imported cache only
 * through a link from a key it already matched, with the same selector. So does this class:
 * <ul>
 *   <li>the <b>identity</b> of a record is a hash of its digest and, for each input in order, the
 *       set of (selector, identity of the linked record) of its alternatives;</li>
 *   <li>a record of the new export is {@link Outcome#REUSED} when a record of the previous export
 *       has the same identity, or the same digest and, input by input, at least one alternative
 *       (selector and linked record) in common, since one is enough for BuildKit to find it
 *       ({@link ExportGraph}); {@link Outcome#REBUILT} otherwise (every record, when there is no
 *       previous export: {@link #firstExport()}).</li>
 * </ul>
 * Comparing digests alone would call every step after a changed {@code COPY} reused: their
 * definitions did not change, only what they were built on.
 *
 * <h2>Content keys</h2>
 * A record with neither inputs nor results is not a step that made a layer: BuildKit writes such
 * records for the checksum of the files a step reads (its content-based "slow" key, linked from
 * the step's input with no selector) and for sources whose output it does not export (the local
 * build context, whose key is the client's session and so new in every build). They are listed
 * as {@link Kind#CONTENT_KEY}, never counted as steps and never blamed: a changed one shows as
 * the {@link Reason#CONTENT} of the step that reads it. The data cannot tell them from a source
 * whose layers the export leaves out ({@code mode=min} leaves out those of other stages): such a
 * source is a content key too, and a new base image there shows as a change of content of the
 * step built on it.
 *
 * <h2>Root causes and cascade</h2>
 * A rebuilt step is a {@link Cause#ROOT_CAUSE} when none of its inputs links to a rebuilt step
 * (all its inputs were reused, or it has none), and a {@link Cause#CASCADE} when one does: it
 * rebuilt only because something it is built on did. A cascade step names, in
 * {@link Step#causedBy()}, the root cause it descends from that comes first in build order.
 * The {@link Reason} of a root cause:
 * <ul>
 *   <li>{@link Reason#CONTENT}, "the content it reads changed": the previous export has a record
 *       with the same digest whose inputs link to the same steps, input by input, once selectors
 *       and content keys are set aside. What differs is then only what the step reads of its
 *       inputs (a selector, a content checksum).</li>
 *   <li>{@link Reason#INSTRUCTION}, "its instruction changed": otherwise. The digest is new (the
 *       command, paths or options changed), or the same definition is now applied to other
 *       inputs ({@code COPY --from} another stage), or a source with no inputs is new (a base
 *       image pinned to another digest, another git commit: the source's definition).</li>
 * </ul>
 * A root cause found in a {@code mode=min} export after a {@code mode=max} one (or the other way)
 * follows the same rule: only the records of the new export are judged, each against every record
 * of the previous one.
 *
 * <h2>Names</h2>
 * A step is named by its instruction when the cache carries it: the {@code buildkit/description}
 * annotation of the top layer of its first result, from the layer's annotations in the cache
 * config or from the descriptor of that blob in the manifest ({@link #descriptions}). A reused
 * record that carries no result takes the name of the record of the previous export it matched:
 * dockerd 20.10's inline cache exports a step reused from the imported cache without its result
 * when a later step rebuilt (seen on a real build), though the previous export named it.
 * Otherwise {@link Step#name()} is {@code record N} (its index in the new export).
 */
public final class ExportComparison {
    /**
     * The annotation BuildKit gives a layer with the step that made it, e.g. {@code [2/4] COPY
     * app.txt /app/} (one definition, {@link CacheConfig#DESCRIPTION}).
     */
    public static final String DESCRIPTION = CacheConfig.DESCRIPTION;

    /** Whether a record of the new export was in the previous one. */
    public enum Outcome { REUSED, REBUILT }

    /** What a record is: a build step, or a key BuildKit links steps to (see the class comment). */
    public enum Kind { STEP, CONTENT_KEY }

    /** Why a step has its outcome. */
    public enum Cause {
        /** Reused, or a content key. */
        NONE,
        /** Rebuilt, and there is no previous export to compare with. */
        FIRST_EXPORT,
        /** Rebuilt though no step it is built on was. */
        ROOT_CAUSE,
        /** Rebuilt because a step it is built on was. */
        CASCADE
    }

    /** Why a root cause rebuilt (see the class comment for the rule). */
    public enum Reason { CONTENT, INSTRUCTION }

    /**
     * One record of the new export.
     *
     * @param record      its index in the new export's records
     * @param cacheKey    its digest (BuildKit's cache key of the step's definition)
     * @param instruction what the cache says the step was, or null when it does not say
     * @param kind        a step or a content key
     * @param outcome     reused or rebuilt
     * @param cause       why, for a rebuilt step; {@link Cause#NONE} otherwise
     * @param reason      for a root cause, why it rebuilt; null otherwise
     * @param causedBy    for a cascade, the record index of its root cause; -1 otherwise
     */
    public record Step(int record, String cacheKey, String instruction, Kind kind, Outcome outcome, Cause cause,
                       Reason reason, int causedBy) {
        /** The instruction, or {@code record N} when the cache does not carry it. */
        public String name() {
            return instruction != null ? instruction : "record " + record;
        }
    }

    private final boolean firstExport;
    private final List<Step> steps;
    private final List<Step> rootCauses;
    private final Map<Integer, Integer> cascadeCounts;
    private final int reused;
    private final int rebuilt;

    private ExportComparison(boolean firstExport, List<Step> steps) {
        this.firstExport = firstExport;
        this.steps = List.copyOf(steps);
        List<Step> roots = new ArrayList<>();
        Map<Integer, Integer> cascades = new LinkedHashMap<>();
        int r = 0;
        int b = 0;
        for (Step s : steps) {
            if (s.kind() != Kind.STEP) {
                continue;
            }
            if (s.outcome() == Outcome.REUSED) {
                r++;
            } else {
                b++;
            }
            if (s.cause() == Cause.ROOT_CAUSE) {
                roots.add(s);
                cascades.putIfAbsent(s.record(), 0);
            } else if (s.cause() == Cause.CASCADE) {
                cascades.merge(s.causedBy(), 1, Integer::sum);
            }
        }
        this.rootCauses = List.copyOf(roots);
        this.cascadeCounts = Collections.unmodifiableMap(cascades);
        this.reused = r;
        this.rebuilt = b;
    }

    /** Compares an export with the previous one, naming steps from the cache config alone. */
    public static ExportComparison compare(CacheConfig previous, CacheConfig current) {
        return compare(previous, current, Map.of());
    }

    /**
     * Compares an export with the previous one of the same reference.
     *
     * @param previous     the previous export, or null when this is the first
     * @param current      the new export
     * @param descriptions step names by layer blob, for names the cache config's own layer
     *                     annotations do not carry (see {@link #descriptions})
     */
    public static ExportComparison compare(CacheConfig previous, CacheConfig current,
                                           Map<Digest, String> descriptions) {
        Objects.requireNonNull(current, "current");
        Objects.requireNonNull(descriptions, "descriptions");
        ExportGraph before = previous == null ? null : new ExportGraph(previous, null);
        ExportGraph now = new ExportGraph(current, before);
        Set<String> previousShapes = new HashSet<>();
        if (before != null) {
            for (int r = 0; r < before.ids.length; r++) {
                if (!before.contentKey[r]) {
                    previousShapes.add(before.shapes[r]);
                }
            }
        }
        int n = current.records().size();
        boolean[] rebuiltStep = new boolean[n];
        int[] rootOf = new int[n]; // the root cause a rebuilt step descends from, earliest in build order
        int[] position = new int[n];
        for (int i = 0; i < n; i++) {
            position[now.order[i]] = i;
        }
        List<Step> steps = new ArrayList<>(n);
        for (int r : now.order) {
            CacheRecord record = current.records().get(r);
            Kind kind = now.contentKey[r] ? Kind.CONTENT_KEY : Kind.STEP;
            Outcome outcome = now.reused[r] ? Outcome.REUSED : Outcome.REBUILT;
            Cause cause = Cause.NONE;
            Reason reason = null;
            int causedBy = -1;
            if (kind == Kind.STEP && outcome == Outcome.REBUILT) {
                rebuiltStep[r] = true;
                if (previous == null) {
                    cause = Cause.FIRST_EXPORT;
                } else {
                    int earliest = -1;
                    for (List<CacheInput> input : record.inputs()) {
                        for (CacheInput link : input) {
                            int root = rebuiltStep[link.link()] ? rootOf[link.link()] : -1;
                            if (root >= 0 && (earliest < 0 || position[root] < position[earliest])) {
                                earliest = root;
                            }
                        }
                    }
                    if (earliest < 0) {
                        cause = Cause.ROOT_CAUSE;
                        reason = previousShapes.contains(now.shapes[r]) ? Reason.CONTENT : Reason.INSTRUCTION;
                        rootOf[r] = r;
                    } else {
                        cause = Cause.CASCADE;
                        causedBy = earliest;
                        rootOf[r] = earliest;
                    }
                }
            }
            String instruction = instruction(current, record, descriptions);
            if (instruction == null && now.matched[r] >= 0) {
                instruction = instruction(previous, previous.records().get(now.matched[r]), Map.of());
            }
            steps.add(new Step(r, record.digest(), instruction, kind, outcome, cause, reason, causedBy));
        }
        return new ExportComparison(previous == null, steps);
    }

    /** Step names by layer blob from a cache manifest's descriptors ({@value #DESCRIPTION}). */
    public static Map<Digest, String> descriptions(BuildKitCache cache) {
        Map<Digest, String> out = new LinkedHashMap<>();
        for (Descriptor d : cache.layers()) {
            String description = d.annotations().get(DESCRIPTION);
            if (description != null && !description.isEmpty()) {
                out.putIfAbsent(d.digest(), description);
            }
        }
        return out;
    }

    /** True when there was no previous export: every step rebuilt, nothing to blame. */
    public boolean firstExport() {
        return firstExport;
    }

    /** Every record of the new export in build order (a record after the records it takes inputs from). */
    public List<Step> steps() {
        return steps;
    }

    /** The rebuilt steps no rebuilt step led to, in build order; empty for a first export. */
    public List<Step> rootCauses() {
        return rootCauses;
    }

    /** How many steps rebuilt because of a root cause (whose {@link Step#causedBy()} is it). */
    public int cascadeOf(Step rootCause) {
        return cascadeCounts.getOrDefault(rootCause.record(), 0);
    }

    /** The steps (content keys left out) of the new export. */
    public int stepCount() {
        return reused + rebuilt;
    }

    /** The steps that were in the previous export. */
    public int reused() {
        return reused;
    }

    /** The steps that were not. */
    public int rebuilt() {
        return rebuilt;
    }

    private static String instruction(CacheConfig config, CacheRecord record, Map<Digest, String> descriptions) {
        int top;
        if (!record.results().isEmpty()) {
            top = record.results().get(0).layer();
        } else if (!record.chains().isEmpty() && !record.chains().get(0).layers().isEmpty()) {
            List<Integer> chain = record.chains().get(0).layers();
            top = chain.get(chain.size() - 1);
        } else {
            return null;
        }
        CacheConfig.CacheLayer layer = config.layers().get(top);
        if (layer.annotations() != null) {
            String d = layer.annotations().additional().get(DESCRIPTION);
            if (d != null && !d.isEmpty()) {
                return d;
            }
        }
        return descriptions.get(layer.blob());
    }
}
