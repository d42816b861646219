package dev.layercache.server.metrics;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * {@code layercache_build_recent}: one gauge per build among the newest {@link #KEPT} this node
 * recorded, labelled with what a dashboard's table lists (builder, namespace, repository,
 * reference, status, root cause and its reason), valued at the build's time in epoch seconds.
 * Prometheus has no list type; a bounded family of series whose labels carry the row is how a
 * Grafana table gets the recent builds without a second data source.
 *
 * <p><b>Bounded.</b> A gauge is removed from the registry when {@link #KEPT} newer builds came
 * after it, so the family never holds more than {@link #KEPT} series, and Prometheus sees the
 * older ones go stale. The labels that come from clients (repository, reference, root cause) are
 * unbounded in their values but not in their number; the root cause is cut to
 * {@link #MAX_ROOT_CAUSE_CHARS} and its whitespace folded, so one long {@code RUN} does not make a
 * scrape heavy. Two builds with the same labels (an unchanged rebuild of a tag) are one series,
 * which takes the newer time.
 *
 * <p>The {@code namespace} label is resolved like a lookup's that may have missed (a buildah
 * build can consist of misses only), so a build never gives a namespace that does not exist a
 * slot of {@code metrics-max-namespaces}; restricted readers of {@code /metrics} see the series of
 * their namespaces only ({@link VisibleSamples}).
 */
final class RecentBuildSeries {
    /** Builds shown at most. */
    static final int KEPT = 20;
    /** Characters of a root cause's instruction kept in its label. */
    static final int MAX_ROOT_CAUSE_CHARS = 120;

    private final MeterRegistry registry;
    private final Function<String, String> namespaceOf;
    /** The series shown, by their labels; guarded by {@code this}. */
    private final Map<Tags, Series> shown = new HashMap<>();

    /** One series: its gauge and the time it shows (epoch milliseconds, so the gauge's value is exact). */
    private record Series(Gauge gauge, AtomicLong atMillis) {
    }

    /** {@code namespaceOf} gives the namespace label of a repository, or null for an invalid name. */
    RecentBuildSeries(MeterRegistry registry, Function<String, String> namespaceOf) {
        this.registry = registry;
        this.namespaceOf = namespaceOf;
    }

    /**
     * Shows {@code build} unless {@link #KEPT} newer builds are shown already (builds are told in
     * the order they end, nearly: a buildah build is told when it has been quiet a while).
     */
    void add(BuildSeen build) {
        // Outside the lock: it may ask the store whether the namespace holds repositories.
        String namespace = namespaceOf.apply(build.repository());
        Tags tags = Tags.of(
                "builder", BuildMeters.BUILDERS.contains(build.builder()) ? build.builder() : "other",
                "namespace", namespace == null ? Namespaces.OTHER : namespace,
                "repository", build.repository(),
                "reference", build.reference() == null ? "" : build.reference(),
                "status", BuildMeters.STATUSES.contains(build.status()) ? build.status() : "other",
                "root_cause", label(build.rootCause()),
                "reason", build.reason() == null ? "" : build.reason());
        long at = build.at().toEpochMilli();
        synchronized (this) {
            show(tags, at);
        }
    }

    private void show(Tags tags, long at) {
        Series same = shown.get(tags);
        if (same != null) {
            same.atMillis().accumulateAndGet(at, Math::max);
            return;
        }
        if (shown.size() >= KEPT) {
            Map.Entry<Tags, Series> oldest = null;
            for (Map.Entry<Tags, Series> e : shown.entrySet()) {
                if (oldest == null || e.getValue().atMillis().get() < oldest.getValue().atMillis().get()) {
                    oldest = e;
                }
            }
            if (oldest.getValue().atMillis().get() > at) {
                return; // older than everything shown: it would be the one to go
            }
            registry.remove(oldest.getValue().gauge());
            shown.remove(oldest.getKey());
        }
        AtomicLong value = new AtomicLong(at);
        // A strong reference: the registry must not let the gauge fall back to NaN when the map
        // is the only other holder of its value.
        Gauge gauge = Gauge.builder("layercache.build.recent", value, v -> v.get() / 1000.0)
                .description("The newest builds of stock builders this node recorded (at most " + KEPT
                        + "), one series each, valued at the build's time in epoch seconds")
                .tags(tags).strongReference(true).register(registry);
        shown.put(tags, new Series(gauge, value));
    }

    /** The root cause as a label value: whitespace folded to single spaces, cut, empty for none. */
    static String label(String instruction) {
        if (instruction == null) {
            return "";
        }
        String folded = instruction.replaceAll("[\\s\\p{Cntrl}]+", " ").strip();
        if (folded.length() <= MAX_ROOT_CAUSE_CHARS) {
            return folded;
        }
        int cut = MAX_ROOT_CAUSE_CHARS - 1;
        if (Character.isHighSurrogate(folded.charAt(cut - 1))) {
            cut--; // never half a character
        }
        return folded.substring(0, cut) + "…";
    }
}
