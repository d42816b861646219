package dev.layercache.loadtest;

import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.HdrHistogram.Histogram;

/**
 * A soak: fleets of simulated builders in every protocol at once ({@link Fleet}, one per
 * protocol, each on its own threads) against one node with a small budget, for a long time,
 * while the node is read every {@code sample-every} ({@link NodeProbe}): blob bytes against the
 * budget, files on disk, resident memory, descriptors, threads, evictions and collections, and
 * the latencies of lookups, layer uploads and downloads within each interval. What the series
 * say at the end is {@link SoakSummary}'s.
 *
 * <p>The fleets run with {@link FleetConfig#evicting}: a miss of something the node evicted is
 * a capacity miss, and the summary checks the OCI ones against the node's own count.
 */
final class Soak {
    private static final double MIB = 1 << 20;
    /** Latencies the soak follows, per protocol. */
    enum Kind {
        LOOKUP("lookup"),
        UPLOAD("upload"),
        DOWNLOAD("download");

        final String label;

        Kind(String label) {
            this.label = label;
        }
    }

    /**
     * What to run.
     *
     * @param fleets the configuration of each protocol's fleet (all with the soak's duration)
     * @param sampleEvery how often the node is read
     */
    record Settings(Map<Protocol, FleetConfig> fleets, Duration sampleEvery) {
        Duration duration() {
            return fleets.values().iterator().next().duration;
        }
    }

    /**
     * One reading, and the fleets' figures at that moment.
     *
     * @param seconds since the fleets started (the reading before them is at 0)
     * @param values named figures (see {@link SoakSummary#SERIES_NOTES}); NaN when unknown
     */
    record Sample(double seconds, Map<String, Double> values) {
        double get(String name) {
            return values.getOrDefault(name, Double.NaN);
        }
    }

    /**
     * What the soak saw.
     *
     * @param settings what ran
     * @param before the node before the fleets started
     * @param samples every reading, in order
     * @param runs the lifecycle runs seen (each once), with the blob bytes after each
     * @param fleets each protocol's result; absent when its fleet could not start
     * @param fleetFailures why a fleet could not start or stopped
     * @param windows per protocol and kind, the latencies of the first and last windows
     * @param stats each protocol's figures
     * @param nodeLost whether the node's process went away or stopped answering for good
     */
    record Result(Settings settings, NodeProbe.Reading before, List<Sample> samples, List<LifecycleRun> runs,
                  Map<Protocol, Fleet.Result> fleets, List<String> fleetFailures,
                  Map<Protocol, Map<Kind, Windows>> windows, Map<Protocol, FleetStats> stats, boolean nodeLost) {
    }

    /** A lifecycle run of the node, as {@code /api/v1/store} reported it. */
    record LifecycleRun(Instant at, double bytesAfter) {
    }

    /** The latencies of one kind in the run's first and last windows (merged, not averaged). */
    record Windows(Histogram first, Histogram last) {
    }

    private Soak() {
    }

    /**
     * Runs the soak; prints a header and one line per sample to {@code out}.
     *
     * @throws IOException when the node does not answer at the start
     */
    static Result run(Settings settings, NodeProbe probe, PrintStream out) throws IOException, InterruptedException {
        NodeProbe.Reading before = probe.read();
        if (!before.storeOk()) {
            throw new IOException("the node does not answer GET /api/v1/store");
        }
        if (!before.processAlive()) {
            throw new IOException("no process with the given --server-pid");
        }
        if (!(before.budgetBytes() > 0)) {
            throw new IOException("the node has no disk budget (budget.max_disk_bytes is " + before.budgetBytes()
                    + "): start it with --max-disk-size, or nothing is ever evicted");
        }
        Map<Protocol, FleetRun> runs = new EnumMap<>(Protocol.class);
        Map<Protocol, FleetStats> measured = new EnumMap<>(Protocol.class);
        Map<Protocol, FleetStats> warmup = new EnumMap<>(Protocol.class);
        settings.fleets().forEach((protocol, config) -> {
            runs.put(protocol, new FleetRun(config, protocol));
            measured.put(protocol, new FleetStats(config.evicting));
            warmup.put(protocol, new FleetStats(config.evicting));
        });
        Sampler sampler = new Sampler(settings, before, measured, warmup);
        out.println(sampler.header());
        AtomicInteger n = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(runs.size(), r -> {
            Thread t = new Thread(r, "soak-fleet-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        Map<Protocol, Future<Fleet.Result>> running = new EnumMap<>(Protocol.class);
        List<Sample> samples = new ArrayList<>();
        boolean nodeLost = false;
        try {
            long start = System.nanoTime();
            samples.add(sampler.sample(0, before));
            out.println(sampler.line(samples.get(0)));
            for (Protocol p : runs.keySet()) {
                running.put(p, pool.submit(() -> Fleet.run(runs.get(p), measured.get(p), warmup.get(p), null)));
            }
            long every = settings.sampleEvery().toNanos();
            int unanswered = 0;
            for (long k = 1; ; k++) {
                boolean done = awaitUntil(start + k * every, running.values());
                NodeProbe.Reading r = probe.read();
                Sample s = sampler.sample((System.nanoTime() - start) / 1e9, r);
                samples.add(s);
                out.println(sampler.line(s));
                unanswered = r.storeOk() ? 0 : unanswered + 1;
                if (!r.processAlive() || unanswered >= 6) {
                    nodeLost = true;
                    out.println(r.processAlive() ? "the node stopped answering: the soak stops"
                            : "the node's process is gone: the soak stops");
                    running.values().forEach(f -> f.cancel(true));
                    break;
                }
                if (done) {
                    break;
                }
            }
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(60, TimeUnit.SECONDS);
        }
        Map<Protocol, Fleet.Result> results = new EnumMap<>(Protocol.class);
        List<String> failures = new ArrayList<>();
        for (Map.Entry<Protocol, Future<Fleet.Result>> e : running.entrySet()) {
            try {
                results.put(e.getKey(), e.getValue().get());
            } catch (ExecutionException failed) {
                failures.add(e.getKey().cliName() + ": " + failed.getCause());
            } catch (java.util.concurrent.CancellationException cancelled) {
                failures.add(e.getKey().cliName() + ": stopped with the node");
            }
        }
        return new Result(settings, before, samples, sampler.runs(), results, failures, sampler.windows(), measured,
                nodeLost);
    }

    /** Waits until {@code deadline} (System.nanoTime) or until every fleet is done; returns whether they are. */
    private static boolean awaitUntil(long deadline, java.util.Collection<Future<Fleet.Result>> fleets)
            throws InterruptedException {
        while (true) {
            boolean done = fleets.stream().allMatch(Future::isDone);
            long left = deadline - System.nanoTime();
            if (done || left <= 0) {
                return done;
            }
            Thread.sleep(Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(left), 200)));
        }
    }

    /** Turns readings and the fleets' running figures into samples, and remembers what the summary needs. */
    private static final class Sampler {
        private static final String COLUMNS = "%7s %13s %7s %7s %7s %6s %5s %4s %7s %4s %7s %4s  %-20s  %-20s  %-20s";

        private final NodeProbe.Reading before;
        private final Map<Protocol, FleetStats> measured;
        private final Map<Protocol, FleetStats> warmup;
        private final Map<Protocol, Map<Kind, Interval>> latencies = new EnumMap<>(Protocol.class);
        private final Set<String> gcsSeen = new LinkedHashSet<>();
        private final Map<String, LifecycleRun> runsSeen = new LinkedHashMap<>();
        private double collectedBytes;
        private double evictedFromRuns;
        private final double window;
        private final double duration;

        Sampler(Settings settings, NodeProbe.Reading before, Map<Protocol, FleetStats> measured,
                Map<Protocol, FleetStats> warmup) {
            this.before = before;
            this.measured = measured;
            this.warmup = warmup;
            this.duration = settings.duration().toMillis() / 1000.0;
            this.window = Trend.window(duration);
            measured.forEach((p, s) -> {
                Map<Kind, Interval> byKind = new EnumMap<>(Kind.class);
                byKind.put(Kind.LOOKUP, new Interval(s.lookupMicros));
                byKind.put(Kind.UPLOAD, new Interval(s.uploadMicros));
                byKind.put(Kind.DOWNLOAD, new Interval(s.downloadMicros));
                latencies.put(p, byKind);
            });
        }

        Sample sample(double seconds, NodeProbe.Reading r) {
            if (r.lastGcAt() != null && !r.lastGcAt().equals(before.lastGcAt()) && gcsSeen.add(r.lastGcAt())) {
                collectedBytes += nan0(r.lastGcCollectedBytes());
            }
            if (r.lastRunAt() != null && !r.lastRunAt().equals(before.lastRunAt())
                    && !runsSeen.containsKey(r.lastRunAt())) {
                runsSeen.put(r.lastRunAt(), new LifecycleRun(Instant.parse(r.lastRunAt()), r.lastRunBytesAfter()));
                evictedFromRuns += nan0(r.lastRunEvicted());
            }
            Map<String, Double> v = new LinkedHashMap<>();
            v.put("budget_MiB", r.budgetBytes() / MIB);
            v.put("store_MiB", r.usageBytes() / MIB);
            v.put("blobs_dir_MiB", r.blobsDirBytes() / MIB);
            v.put("uploads_dir_MiB", r.uploadsDirBytes() / MIB);
            v.put("metadata_MiB", r.metadataBytes() / MIB);
            v.put("rss_MiB", r.rssBytes() / MIB);
            v.put("heap_live_MiB", r.heapLiveBytes() / MIB);
            v.put("direct_MiB", r.directBytes() / MIB);
            v.put("fds", r.fds());
            v.put("threads", r.threads());
            v.put("blobs", r.blobs());
            v.put("roots", r.roots());
            double evictions = r.evictions() - before.evictions();
            v.put("evictions", Double.isNaN(evictions) ? evictedFromRuns : evictions);
            v.put("collections", (double) gcsSeen.size());
            v.put("collected_MiB", collectedBytes / MIB);
            v.put("lifecycle_runs", (double) runsSeen.size());
            v.put("capacity_misses_oci", r.capacityMissesOci() - before.capacityMissesOci());
            v.put("capacity_misses_grpc", r.capacityMissesGrpc() - before.capacityMissesGrpc());
            long builds = 0;
            long errors = 0;
            long unexpected = 0;
            long uploaded = 0;
            long downloaded = 0;
            for (Protocol p : measured.keySet()) {
                FleetStats m = measured.get(p);
                FleetStats w = warmup.get(p);
                builds += m.builds.sum() + w.builds.sum();
                errors += m.errors.sum() + w.errors.sum();
                unexpected += m.unexpected() + w.unexpected();
                uploaded += m.bytesUploaded.sum() + w.bytesUploaded.sum();
                downloaded += m.bytesDownloaded.sum() + w.bytesDownloaded.sum();
            }
            v.put("builds", (double) builds);
            v.put("errors", (double) errors);
            v.put("unexpected", (double) unexpected);
            v.put("uploaded_MiB", uploaded / MIB);
            v.put("downloaded_MiB", downloaded / MIB);
            for (Protocol p : measured.keySet()) {
                v.put("builds." + p.cliName(), (double) (measured.get(p).builds.sum() + warmup.get(p).builds.sum()));
            }
            // Latencies of the interval that ends here; the reading at 0 has none.
            boolean inFirst = seconds <= window;
            boolean inLast = seconds > duration - window;
            for (Protocol p : measured.keySet()) {
                for (Kind k : Kind.values()) {
                    Histogram h = latencies.get(p).get(k).next(seconds > 0 && inFirst, seconds > 0 && inLast);
                    String suffix = "." + p.cliName();
                    boolean any = h != null && h.getTotalCount() > 0;
                    v.put(k.label + "_p50_ms" + suffix, any ? h.getValueAtPercentile(50) / 1000.0 : Double.NaN);
                    v.put(k.label + "_p99_ms" + suffix, any ? h.getValueAtPercentile(99) / 1000.0 : Double.NaN);
                }
            }
            return new Sample(seconds, v);
        }

        /** Two lines naming the columns of {@link #line}. */
        String header() {
            String order = String.join("/", measured.keySet().stream()
                    .map(p -> p.cliName().replace("oci-", "")).toList());
            return String.format(Locale.ROOT, COLUMNS, "time", "store/budget", "blobs/", "upl/", "meta/", "rss", "fds",
                    "thr", "evicted", "gcs", "builds", "err", "lookup p99 ms", "upload p99 ms", "download p99 ms")
                    + "\n" + String.format(Locale.ROOT, COLUMNS, "m:ss", "MiB", "MiB", "MiB", "MiB", "MiB", "", "",
                    "roots", "", "", "", order, order, order);
        }

        String line(Sample s) {
            StringBuilder lat = new StringBuilder();
            for (Kind k : Kind.values()) {
                List<String> parts = new ArrayList<>();
                for (Protocol p : measured.keySet()) {
                    parts.add(Stats.number(s.get(k.label + "_p99_ms." + p.cliName())));
                }
                lat.append(String.format(Locale.ROOT, "  %-20s", String.join("/", parts)));
            }
            long secs = Math.round(s.seconds());
            return String.format(Locale.ROOT, "%4d:%02d %13s %7s %7s %7s %6s %5s %4s %7s %4s %7s %4s", secs / 60,
                    secs % 60, whole(s.get("store_MiB")) + "/" + whole(s.get("budget_MiB")), whole(s.get("blobs_dir_MiB")),
                    whole(s.get("uploads_dir_MiB")), Stats.number(s.get("metadata_MiB")), whole(s.get("rss_MiB")),
                    whole(s.get("fds")), whole(s.get("threads")), whole(s.get("evictions")),
                    whole(s.get("collections")), whole(s.get("builds")), whole(s.get("errors")))
                    + lat.toString().stripTrailing();
        }

        List<LifecycleRun> runs() {
            return List.copyOf(runsSeen.values());
        }

        Map<Protocol, Map<Kind, Windows>> windows() {
            Map<Protocol, Map<Kind, Windows>> out = new EnumMap<>(Protocol.class);
            latencies.forEach((p, byKind) -> {
                Map<Kind, Windows> w = new EnumMap<>(Kind.class);
                byKind.forEach((k, i) -> w.put(k, new Windows(i.first, i.last)));
                out.put(p, w);
            });
            return out;
        }

        private static String whole(double v) {
            return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.0f", v);
        }

        private static double nan0(double v) {
            return Double.isNaN(v) ? 0 : v;
        }
    }

    /**
     * The latencies recorded since the last sample, from a histogram the builders add to all
     * along: a copy of it less the copy taken last time (its counts only grow).
     */
    private static final class Interval {
        private final Histogram source;
        private Histogram previous;
        final Histogram first = new Histogram(3);
        final Histogram last = new Histogram(3);

        Interval(Histogram source) {
            this.source = source;
            this.previous = source.copy();
        }

        /** This interval's latencies, added to the first or last window as said; null if they could not be had. */
        Histogram next(boolean inFirstWindow, boolean inLastWindow) {
            Histogram now = source.copy();
            Histogram interval = now.copy();
            try {
                interval.subtract(previous);
            } catch (RuntimeException inconsistentCopy) {
                // A copy taken while builders record is not a snapshot; should a count seem to
                // shrink, this interval goes unmeasured rather than wrong.
                interval = null;
            }
            previous = now;
            if (interval != null) {
                if (inFirstWindow) {
                    first.add(interval);
                }
                if (inLastWindow) {
                    last.add(interval);
                }
            }
            return interval;
        }
    }
}
