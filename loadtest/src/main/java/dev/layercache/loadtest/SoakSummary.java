package dev.layercache.loadtest;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * What a soak's series say at the end: each series' first and last windows, its slope per
 * hour and whether it is flat ({@link Trend}), then the checks that decide the exit code.
 *
 * <p>The series, and how each is judged:
 *
 * <ul>
 *   <li><b>resources</b> (resident memory, live heap, direct buffers, descriptors, threads,
 *       {@code metadata/}, {@code blobs/} and {@code uploads/} on disk) must not grow steadily:
 *       growth is a leak;</li>
 *   <li><b>the store</b> (blob bytes the node counts) must stay within the budget, give or take
 *       what arrives between two lifecycle runs;</li>
 *   <li><b>counts and latencies</b> (blobs, roots, p99 of lookups, layer uploads and downloads per
 *       protocol) are reported with a verdict, and decide nothing: latency on a shared machine
 *       is not a pass mark.</li>
 * </ul>
 *
 * The checks: every fleet ran and no build failed; no answer the simulator cannot explain; the
 * node evicted and collected; the capacity misses the simulator saw are within what the node
 * counted; the blob bytes did not stay above the budget; the node answered to the end. With
 * {@code failOnGrowth}, a growing resource fails the run too (exit code 3).
 */
final class SoakSummary {
    /** How a series is judged. */
    enum Role {
        RESOURCE,
        /**
         * Shown, not judged: G1's old generation after its last collection counts the garbage
         * that only a mixed collection takes (a soak saw it at 90 MiB with 13 MiB live after a
         * full collection); {@code soak.sh} measures the live heap at the end instead.
         */
        INFO,
        STORE,
        COUNT,
        LATENCY
    }

    /**
     * A series of the samples.
     *
     * @param name its key in the samples
     * @param label what the tables call it
     * @param role how it is judged
     * @param tolerance how much it may grow and still be flat
     */
    record Series(String name, String label, Role role, Trend.Tolerance tolerance) {
    }

    /** A series with its trend. */
    record Judged(Series series, Trend trend) {
    }

    /**
     * One check of the run.
     *
     * @param name what is checked
     * @param value what was found
     * @param ok whether it passed
     */
    record Check(String name, String value, boolean ok) {
    }

    private final Soak.Result result;
    private final List<Judged> judged;
    private final List<Check> checks;
    private final List<String> growing;
    private final int exitCode;
    private final double window;

    private SoakSummary(Soak.Result result, List<Judged> judged, List<Check> checks, List<String> growing,
                        int exitCode, double window) {
        this.result = result;
        this.judged = judged;
        this.checks = checks;
        this.growing = growing;
        this.exitCode = exitCode;
        this.window = window;
    }

    /** The series a soak judges, for a node with a budget of {@code budgetMiB}, in table order. */
    static List<Series> series(double budgetMiB, Collection<Protocol> protocols) {
        double storeSlack = Math.max(0.25 * (Double.isNaN(budgetMiB) ? 0 : budgetMiB), 16);
        List<Series> out = new ArrayList<>(List.of(
                new Series("rss_MiB", "resident memory (MiB)", Role.RESOURCE, new Trend.Tolerance(0.10, 32)),
                new Series("heap_live_MiB", "old generation after its last GC (MiB; not judged)", Role.INFO,
                        new Trend.Tolerance(0.25, 16)),
                new Series("direct_MiB", "direct buffers (MiB)", Role.RESOURCE, new Trend.Tolerance(0.25, 16)),
                new Series("fds", "open file descriptors", Role.RESOURCE, new Trend.Tolerance(0.20, 16)),
                new Series("threads", "threads", Role.RESOURCE, new Trend.Tolerance(0.10, 8)),
                new Series("metadata_MiB", "metadata/ on disk (MiB)", Role.RESOURCE, new Trend.Tolerance(0.25, 8)),
                new Series("blobs_dir_MiB", "blobs/ on disk (MiB)", Role.RESOURCE, new Trend.Tolerance(0, storeSlack)),
                new Series("uploads_dir_MiB", "uploads/ on disk (MiB)", Role.RESOURCE, new Trend.Tolerance(0, 64)),
                new Series("store_MiB", "blob bytes counted (MiB)", Role.STORE, new Trend.Tolerance(0, storeSlack)),
                new Series("blobs", "blobs", Role.COUNT, new Trend.Tolerance(0.5, 100)),
                new Series("roots", "roots (tags, manifests, entries)", Role.COUNT, new Trend.Tolerance(0.5, 100))));
        for (Soak.Kind k : Soak.Kind.values()) {
            for (Protocol p : protocols) {
                out.add(new Series(k.label + "_p99_ms." + p.cliName(), p.cliName() + " " + k.label + " p99 (ms)",
                        Role.LATENCY, new Trend.Tolerance(0.5, 5)));
            }
        }
        return out;
    }

    /**
     * Judges a soak.
     *
     * @param failOnGrowth whether a growing resource fails the run (exit code 3)
     * @param diskMarginMiB how far above the budget the blob bytes may be between two lifecycle
     *     runs; NaN: twice what the fleets uploaded per lifecycle interval
     */
    static SoakSummary of(Soak.Result result, boolean failOnGrowth, double diskMarginMiB) {
        List<Soak.Sample> samples = result.samples();
        double[] t = samples.stream().mapToDouble(Soak.Sample::seconds).toArray();
        double end = t.length == 0 ? 0 : t[t.length - 1];
        double window = Trend.window(Math.max(end, result.settings().duration().toSeconds()));
        double budgetMiB = result.before().budgetBytes() / (1 << 20);
        List<Judged> judged = new ArrayList<>();
        List<String> growing = new ArrayList<>();
        for (Series s : series(budgetMiB, result.settings().fleets().keySet())) {
            double[] v = samples.stream().mapToDouble(x -> x.get(s.name())).toArray();
            Trend trend = Trend.of(t, v, window, s.tolerance());
            if (s.role() == Role.LATENCY) {
                trend = withWindows(trend, s, result);
            }
            judged.add(new Judged(s, trend));
            if (s.role() == Role.RESOURCE && trend.verdict() == Trend.Verdict.GROWING) {
                growing.add(s.label());
            }
        }

        List<Check> checks = new ArrayList<>();
        Soak.Sample last = samples.get(samples.size() - 1);
        int protocols = result.settings().fleets().size();
        checks.add(new Check("fleets", result.fleets().size() + " of " + protocols + " ran to the end"
                + (result.fleetFailures().isEmpty() ? "" : ": " + String.join("; ", result.fleetFailures())),
                result.fleetFailures().isEmpty() && result.fleets().size() == protocols));
        long builds = (long) last.get("builds");
        long errors = (long) last.get("errors");
        checks.add(new Check("builds", String.format(Locale.ROOT, "%,d, %,d failed", builds, errors),
                builds > 0 && errors == 0));
        long unexpected = (long) last.get("unexpected");
        checks.add(new Check("answers the simulator cannot explain", Long.toString(unexpected), unexpected == 0));
        double evictions = last.get("evictions");
        double collections = last.get("collections");
        checks.add(new Check("evictions and collections", String.format(Locale.ROOT,
                "%s roots evicted, %s collections seen (%s MiB collected)", count(evictions),
                count(collections), Stats.number(last.get("collected_MiB"))),
                evictions > 0 && collections > 0));
        long simOci = 0;
        long simGrpc = 0;
        for (Map.Entry<Protocol, FleetStats> e : result.stats().entrySet()) {
            long n = e.getValue().capacityMissLookups.sum();
            if (e.getKey().isOci()) {
                simOci += n;
            } else {
                simGrpc += n;
            }
        }
        checks.add(capacityCheck("OCI", simOci, last.get("capacity_misses_oci")));
        checks.add(capacityCheck("gRPC", simGrpc, last.get("capacity_misses_grpc")));
        checks.addAll(diskChecks(result, diskMarginMiB));
        checks.add(new Check("node", result.nodeLost() ? "went away during the run" : "answered to the end",
                !result.nodeLost()));
        checks.add(new Check("resources growing", growing.isEmpty() ? "none" : String.join(", ", growing)
                + (failOnGrowth ? "" : " (not failing the run without --fail-on-growth)"),
                growing.isEmpty() || !failOnGrowth));

        boolean failed = checks.stream().filter(c -> !c.name().equals("resources growing")).anyMatch(c -> !c.ok());
        int exit = failed ? 1 : (failOnGrowth && !growing.isEmpty() ? 3 : 0);
        return new SoakSummary(result, judged, checks, growing, exit, window);
    }

    private static Check capacityCheck(String surface, long simulator, double node) {
        String name = "capacity misses, " + surface + " (simulator ≤ node)";
        if (Double.isNaN(node)) {
            return new Check(name, simulator + " / node without metrics", true);
        }
        return new Check(name, simulator + " ≤ " + Math.round(node), simulator <= node);
    }

    /**
     * Whether the blob bytes stayed above the budget: two lifecycle runs in a row that ended
     * above it, or samples above the budget plus the margin for longer than three lifecycle
     * intervals (and three samples).
     */
    private static List<Check> diskChecks(Soak.Result result, double marginMiB) {
        double budgetMiB = result.before().budgetBytes() / (1 << 20);
        if (!(budgetMiB > 0)) {
            return List.of(new Check("budget", "the node has no budget (max_disk_bytes 0): nothing to keep", false));
        }
        List<Soak.LifecycleRun> runs = result.runs();
        int over = 0;
        int inARow = 0;
        int mostInARow = 0;
        double maxAfter = 0;
        for (Soak.LifecycleRun r : runs) {
            double after = r.bytesAfter() / (1 << 20);
            maxAfter = Math.max(maxAfter, Double.isNaN(after) ? 0 : after);
            if (after > budgetMiB) {
                over++;
                inARow++;
                mostInARow = Math.max(mostInARow, inARow);
            } else {
                inARow = 0;
            }
        }
        double interval = lifecycleInterval(runs);
        List<Soak.Sample> samples = result.samples();
        Soak.Sample last = samples.get(samples.size() - 1);
        double uploadRate = last.seconds() > 0 ? last.get("uploaded_MiB") / last.seconds() : 0;
        double margin = Double.isNaN(marginMiB) ? 2 * uploadRate * interval : marginMiB;
        double sampleEvery = result.settings().sampleEvery().toMillis() / 1000.0;
        double longest = 0;
        double stretchStart = Double.NaN;
        double peak = 0;
        for (Soak.Sample s : samples) {
            double store = s.get("store_MiB");
            peak = Math.max(peak, Double.isNaN(store) ? 0 : store);
            if (store > budgetMiB + margin) {
                if (Double.isNaN(stretchStart)) {
                    stretchStart = s.seconds();
                }
                longest = Math.max(longest, s.seconds() - stretchStart + sampleEvery);
            } else {
                stretchStart = Double.NaN;
            }
        }
        double limit = Math.max(3 * interval, 3 * sampleEvery);
        return List.of(
                new Check("blob bytes after each lifecycle run", String.format(Locale.ROOT,
                        "%d runs seen, %d ended above the budget (at most %d in a row); largest %s MiB of %s",
                        runs.size(), over, mostInARow, Stats.number(maxAfter), Stats.number(budgetMiB)),
                        mostInARow < 2),
                new Check("longest time above budget + margin", String.format(Locale.ROOT,
                        "%s s (limit %s s; margin %s MiB; lifecycle every ~%s s; peak %s MiB)", Stats.number(longest),
                        Stats.number(limit), Stats.number(margin), Stats.number(interval), Stats.number(peak)),
                        longest <= limit));
    }

    /** The median time between the lifecycle runs seen; 60 s (the node's default) with fewer than two. */
    static double lifecycleInterval(List<Soak.LifecycleRun> runs) {
        List<Double> gaps = new ArrayList<>();
        for (int i = 1; i < runs.size(); i++) {
            double gap = (runs.get(i).at().toEpochMilli() - runs.get(i - 1).at().toEpochMilli()) / 1000.0;
            if (gap > 0) {
                gaps.add(gap);
            }
        }
        return gaps.isEmpty() ? 60 : Stats.of(gaps).median();
    }

    /** A latency series' first and last values from the windows' merged histograms. */
    private static Trend withWindows(Trend trend, Series s, Soak.Result result) {
        String[] parts = s.name().split("\\.", 2);
        Protocol protocol = Protocol.parse(parts[1]);
        Soak.Kind kind = Soak.Kind.valueOf(parts[0].substring(0, parts[0].indexOf('_')).toUpperCase(Locale.ROOT));
        Soak.Windows w = result.windows().get(protocol).get(kind);
        return new Trend(p99(w.first()), p99(w.last()), trend.slopePerHour(), trend.verdict());
    }

    private static double p99(Histogram h) {
        return h.getTotalCount() == 0 ? Double.NaN : h.getValueAtPercentile(99) / 1000.0;
    }

    int exitCode() {
        return exitCode;
    }

    List<Judged> judged() {
        return judged;
    }

    List<Check> checks() {
        return checks;
    }

    List<String> growing() {
        return growing;
    }

    /** The summary as Markdown: a settings line, the series, the checks. */
    String markdown() {
        Soak.Settings settings = result.settings();
        FleetConfig c = settings.fleets().values().iterator().next();
        String windowText = window < 120 ? Stats.number(window) + " s" : Stats.number(window / 60) + " min";
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "### Soak: %s min, %d builders each of %s, budget %s MiB%n%n",
                Stats.number(result.samples().get(result.samples().size() - 1).seconds() / 60), c.builders,
                String.join(", ", settings.fleets().keySet().stream().map(Protocol::cliName).toList()),
                Stats.number(result.before().budgetBytes() / (1 << 20))));
        sb.append(String.format(Locale.ROOT, "%d projects of %d steps per protocol, layers `%s`, change rate %s %s, "
                        + "commit probability %s; the node read every %d s; run `%s`.%n%n", c.projects, c.steps,
                c.sizeMix, Stats.plain(c.changeRate), c.changeProfile.name().toLowerCase(Locale.ROOT),
                Stats.plain(c.commitProbability), settings.sampleEvery().toSeconds(), c.runId));
        sb.append("| series | first ").append(windowText).append(" | last ").append(windowText)
                .append(" | slope per hour | verdict |\n|---|--:|--:|--:|---|\n");
        for (Judged j : judged) {
            Trend t = j.trend();
            String verdict = t.verdict().label();
            if (t.verdict() == Trend.Verdict.GROWING && j.series().role() == Role.RESOURCE) {
                verdict = "**growing**";
            }
            sb.append("| ").append(j.series().label()).append(" | ").append(Stats.number(t.first())).append(" | ")
                    .append(Stats.number(t.last())).append(" | ").append(signed(t.slopePerHour())).append(" | ")
                    .append(verdict).append(" |\n");
        }
        sb.append("\n| check | result | |\n|---|---|---|\n");
        for (Check check : checks) {
            sb.append("| ").append(check.name()).append(" | ").append(check.value()).append(" | ")
                    .append(check.ok() ? "ok" : "**failed**").append(" |\n");
        }
        return sb.toString();
    }

    /** Everything as one JSON tree: settings, every sample, the series' trends, the checks, the fleets' figures. */
    Map<String, Object> json() {
        Soak.Settings settings = result.settings();
        FleetConfig c = settings.fleets().values().iterator().next();
        Map<String, Object> out = new LinkedHashMap<>();
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("duration_s", settings.duration().toSeconds());
        s.put("sample_every_s", settings.sampleEvery().toSeconds());
        s.put("protocols", settings.fleets().keySet().stream().map(Protocol::cliName).toList());
        s.put("builders_per_protocol", c.builders);
        s.put("projects", c.projects);
        s.put("steps", c.steps);
        s.put("size_mix", c.sizeMix.toString());
        s.put("change_rate", c.changeRate);
        s.put("change_profile", c.changeProfile.name().toLowerCase(Locale.ROOT));
        s.put("commit_probability", c.commitProbability);
        s.put("seeds", settings.fleets().entrySet().stream()
                .collect(LinkedHashMap::new, (m, e) -> m.put(e.getKey().cliName(), e.getValue().seed), Map::putAll));
        s.put("run_id", c.runId);
        s.put("registry", c.registry.toString());
        s.put("grpc_target", c.grpcTarget);
        s.put("budget_bytes", number(result.before().budgetBytes()));
        s.put("window_s", window);
        out.put("settings", s);
        List<Map<String, Object>> samples = new ArrayList<>();
        for (Soak.Sample sample : result.samples()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("t_s", Math.round(sample.seconds() * 10) / 10.0);
            sample.values().forEach((k, v) -> m.put(k, number(v)));
            samples.add(m);
        }
        out.put("samples", samples);
        out.put("lifecycle_runs", result.runs().stream().map(r -> Map.of("at", r.at().toString(),
                "bytes_after", number(r.bytesAfter()))).toList());
        List<Map<String, Object>> series = new ArrayList<>();
        for (Judged j : judged) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("series", j.series().name());
            m.put("label", j.series().label());
            m.put("role", j.series().role().name().toLowerCase(Locale.ROOT));
            m.put("first", number(j.trend().first()));
            m.put("last", number(j.trend().last()));
            m.put("slope_per_hour", number(j.trend().slopePerHour()));
            m.put("verdict", j.trend().verdict().label());
            series.add(m);
        }
        out.put("series", series);
        out.put("checks", checks.stream().map(k -> Map.of("check", k.name(), "result", k.value(), "ok", k.ok()))
                .toList());
        Report fleets = new Report("soak fleets");
        result.fleets().values().forEach(r -> FleetCommand.addRow(fleets, r));
        out.put("fleets", fleets.rows());
        out.put("exit_code", exitCode);
        return out;
    }

    private static String count(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%,.0f", v);
    }

    /** NaN and infinities as JSON null. */
    private static Object number(double v) {
        return Double.isNaN(v) || Double.isInfinite(v) ? null : v;
    }

    private static String signed(double v) {
        if (Double.isNaN(v)) {
            return "n/a";
        }
        return (v > 0 ? "+" : v < 0 ? "−" : "") + Stats.number(Math.abs(v));
    }
}
