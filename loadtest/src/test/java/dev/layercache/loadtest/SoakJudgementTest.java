package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.client.MissReason;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.function.DoubleUnaryOperator;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

/**
 * The pure part of the soak: flat or growing from synthetic series, the checks from a synthetic
 * run, capacity misses in the fleet's model, and the small parsers.
 */
class SoakJudgementTest {
    private static final Trend.Tolerance RSS = new Trend.Tolerance(0.10, 32);

    /** A series sampled every 10 s for {@code seconds}. */
    private static double[][] series(int seconds, DoubleUnaryOperator value) {
        int n = seconds / 10 + 1;
        double[] t = new double[n];
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            t[i] = i * 10;
            v[i] = value.applyAsDouble(t[i]);
        }
        return new double[][] {t, v};
    }

    private static Trend judge(double[][] s) {
        double window = Trend.window(s[0][s[0].length - 1]);
        return Trend.of(s[0], s[1], window, RSS);
    }

    @Test
    void aSteadyClimbIsGrowingAndItsSlopeIsPerHour() {
        // 400 MiB plus 200 MiB an hour, noisy: a leak of a few MiB a minute.
        SplittableRandom random = new SplittableRandom(1);
        Trend t = judge(series(1800, s -> 400 + 200 * s / 3600 + random.nextDouble(-10, 10)));
        assertEquals(Trend.Verdict.GROWING, t.verdict(), t.toString());
        assertEquals(200, t.slopePerHour(), 15, t.toString());
        assertEquals(410, t.first(), 10, t.toString());
        assertEquals(490, t.last(), 10, t.toString());
    }

    @Test
    void noiseAroundALevelIsFlat() {
        SplittableRandom random = new SplittableRandom(2);
        for (int seed = 0; seed < 20; seed++) {
            Trend t = judge(series(1800, s -> 400 + random.nextDouble(-30, 30)));
            assertEquals(Trend.Verdict.FLAT, t.verdict(), t.toString());
        }
    }

    @Test
    void aWarmUpThatLevelsOffIsFlat() {
        // The JVM's heap and RocksDB's memtables fill in the first minutes, then hold.
        Trend t = judge(series(1800, s -> s < 150 ? 150 + 1.6 * s : 390 + (s % 20 == 0 ? 5 : -5)));
        assertEquals(Trend.Verdict.FLAT, t.verdict(), t.toString());
        assertTrue(t.last() > t.first() + 100, "the windows show the warm-up: " + t);
    }

    @Test
    void filesThatCompactionTakesBackFromAnEmptyStartAreFlat() {
        // RocksDB's open files in a soak: none at the start, then up by a flush's worth every
        // few minutes and back down at each compaction (15 minutes), as measured: 44 to 87 and back.
        Trend t = Trend.of(series(2100, s -> 44 + 11 * ((int) (s / 300) % 3) + (s >= 600 ? 11 : 0))[0],
                series(2100, s -> 44 + 11 * ((int) (s / 300) % 3) + (s >= 600 ? 11 : 0))[1], 210,
                new Trend.Tolerance(0.20, 16));
        assertEquals(Trend.Verdict.FLAT, t.verdict(), t.toString());
        // The same files never compacted away: a leak of descriptors.
        Trend leak = Trend.of(series(2100, s -> 44 + 11 * (int) (s / 300))[0],
                series(2100, s -> 44 + 11 * (int) (s / 300))[1], 210, new Trend.Tolerance(0.20, 16));
        assertEquals(Trend.Verdict.GROWING, leak.verdict(), leak.toString());
    }

    @Test
    void aSawtoothBetweenLifecycleRunsIsFlat() {
        // Blob bytes: up from the low watermark to past the budget, down again every 15 s.
        Trend t = Trend.of(series(1800, s -> 410 + 10 * (s % 15))[0], series(1800, s -> 410 + 10 * (s % 15))[1],
                180, new Trend.Tolerance(0, 128));
        assertEquals(Trend.Verdict.FLAT, t.verdict(), t.toString());
    }

    @Test
    void aSlowClimbWithinTheToleranceIsFlatAndOneBeyondItIsNot() {
        // 20 MiB over half an hour on 400 is within 10% (and 32 MiB); 120 MiB is not.
        assertEquals(Trend.Verdict.FLAT, judge(series(1800, s -> 400 + 40 * s / 3600)).verdict());
        assertEquals(Trend.Verdict.GROWING, judge(series(1800, s -> 400 + 240 * s / 3600)).verdict());
    }

    @Test
    void unreadableSamplesAreLeftOut() {
        double[][] s = series(600, v -> 100 + v);
        s[1][3] = Double.NaN;
        s[1][30] = Double.NaN;
        assertEquals(Trend.Verdict.GROWING, judge(s).verdict());
        double[] nothing = {Double.NaN, Double.NaN};
        assertEquals(Trend.Verdict.NO_DATA, Trend.of(new double[] {0, 10}, nothing, 60, RSS).verdict());
    }

    @Test
    void theWindowIsATenthOfTheRunAndAtMostFiveMinutes() {
        assertEquals(18, Trend.window(180), 1e-9);
        assertEquals(180, Trend.window(1800), 1e-9);
        assertEquals(300, Trend.window(7200), 1e-9);
    }

    @Test
    void durationsTakeAUnitAndABareNumberIsMinutes() {
        assertEquals(Duration.ofMinutes(30), SoakCommand.parseDuration("30"));
        assertEquals(Duration.ofMinutes(30), SoakCommand.parseDuration("30m"));
        assertEquals(Duration.ofSeconds(90), SoakCommand.parseDuration("90s"));
        assertEquals(Duration.ofMinutes(90), SoakCommand.parseDuration("1.5h"));
        assertEquals(Duration.ofMinutes(45), SoakCommand.parseDuration("45min"));
        assertThrows(IllegalArgumentException.class, () -> SoakCommand.parseDuration("soon"));
        assertThrows(IllegalArgumentException.class, () -> SoakCommand.parseDuration("0s"));
    }

    @Test
    void prometheusSamplesAreSummedByLabel() {
        String text = """
                # HELP layercache_evictions_total Roots removed
                # TYPE layercache_evictions_total counter
                layercache_evictions_total{kind="entry"} 3.0
                layercache_evictions_total{kind="tag"} 4.0
                layercache_evictions_total_created{kind="tag"} 1.7E9
                layercache_capacity_misses_total{kind="tag",surface="oci"} 2.0
                layercache_capacity_misses_total{kind="entry",surface="grpc"} 5.0 1733460000000
                jvm_gc_live_data_size_bytes 1048576.0
                """;
        assertEquals(7, NodeProbe.Prometheus.sum(text, "layercache_evictions_total", ""));
        assertEquals(2, NodeProbe.Prometheus.sum(text, "layercache_capacity_misses_total", "surface=\"oci\""));
        assertEquals(5, NodeProbe.Prometheus.sum(text, "layercache_capacity_misses_total", "surface=\"grpc\""));
        assertEquals(1048576, NodeProbe.Prometheus.sum(text, "jvm_gc_live_data_size_bytes", ""));
        assertTrue(Double.isNaN(NodeProbe.Prometheus.sum(text, "layercache_lookups_total", "")));
    }

    private static FleetStats.StepLookup lookup(Expectation expected, boolean hit, MissReason reason) {
        return new FleetStats.StepLookup("p0 step", 10, false, expected, true, hit, Optional.ofNullable(reason));
    }

    @Test
    void againstAnEvictingCacheAMissOfAPublishedKeyIsACapacityMissButAWrongHitIsStillAFault() {
        FleetStats strict = new FleetStats(false);
        strict.step(lookup(Expectation.HIT, false, null)); // OCI: no reason given
        assertEquals(1, strict.unexpectedMisses.sum());

        FleetStats evicting = new FleetStats(true);
        evicting.step(lookup(Expectation.HIT, false, null)); // OCI: a tag the node evicted
        evicting.step(lookup(Expectation.HIT, false, MissReason.EVICTED)); // gRPC, as the server says
        assertEquals(2, evicting.missesEvicted.sum());
        assertEquals(0, evicting.unexpected());
        // gRPC with another reason: the server does not claim an eviction, so it is unexplained.
        evicting.step(lookup(Expectation.HIT, false, MissReason.INPUTS_CHANGED));
        // A hit on a key nobody published cannot come from an eviction.
        evicting.step(lookup(Expectation.MISS, true, null));
        assertEquals(1, evicting.unexpectedMisses.sum());
        assertEquals(1, evicting.unexpectedHits.sum());
    }

    // ------------------------------------------------------------------ the checks of a synthetic run

    private static final double MIB = 1 << 20;

    /**
     * A soak of 30 min of every protocol, sampled every 10 s: resident memory and blob bytes as
     * given, a lifecycle run every 20 s ending at {@code bytesAfterRuns}, {@code errors} failed
     * builds, 5 capacity misses seen by each fleet against 12 (OCI) and 5 (gRPC) counted by the node.
     */
    private static Soak.Result run(DoubleUnaryOperator rss, DoubleUnaryOperator store, double bytesAfterRuns,
                                   long errors) {
        FleetConfig config = FleetConfig.builder().duration(Duration.ofMinutes(30)).warmup(Duration.ZERO)
                .evicting(true).registry(URI.create("http://127.0.0.1:1")).build();
        Map<Protocol, FleetConfig> fleets = new EnumMap<>(Protocol.class);
        Map<Protocol, FleetStats> stats = new EnumMap<>(Protocol.class);
        Map<Protocol, Map<Soak.Kind, Soak.Windows>> windows = new EnumMap<>(Protocol.class);
        for (Protocol p : Protocol.values()) {
            fleets.put(p, config);
            FleetStats s = new FleetStats(true);
            s.capacityMissLookups.add(5);
            stats.put(p, s);
            Map<Soak.Kind, Soak.Windows> byKind = new EnumMap<>(Soak.Kind.class);
            for (Soak.Kind k : Soak.Kind.values()) {
                Histogram first = new Histogram(3);
                Histogram last = new Histogram(3);
                first.recordValue(20_000);
                last.recordValue(21_000);
                byKind.put(k, new Soak.Windows(first, last));
            }
            windows.put(p, byKind);
        }
        List<Soak.Sample> samples = new ArrayList<>();
        List<Soak.LifecycleRun> runs = new ArrayList<>();
        for (int i = 0; i <= 180; i++) {
            double t = i * 10;
            Map<String, Double> v = new LinkedHashMap<>();
            v.put("rss_MiB", rss.applyAsDouble(t));
            v.put("fds", 60.0);
            v.put("threads", 40.0);
            v.put("metadata_MiB", 12.0);
            v.put("store_MiB", store.applyAsDouble(t));
            v.put("blobs_dir_MiB", store.applyAsDouble(t));
            v.put("evictions", t * 2);
            v.put("collections", t / 15);
            v.put("builds", t * 3);
            v.put("errors", (double) errors);
            v.put("unexpected", 0.0);
            v.put("uploaded_MiB", t * 10);
            v.put("capacity_misses_oci", 12.0);
            v.put("capacity_misses_grpc", 5.0);
            samples.add(new Soak.Sample(t, v));
            if (i % 2 == 1) {
                runs.add(new Soak.LifecycleRun(Instant.ofEpochSecond(1_000_000 + i * 10L), bytesAfterRuns));
            }
        }
        NodeProbe.Reading before = new NodeProbe.Reading(true, 512 * MIB, 0, 0, 0, null, Double.NaN, Double.NaN,
                null, Double.NaN, Double.NaN, 0, 0, 0, Double.NaN, Double.NaN, true, 100 * MIB, 40, 30, 0, 0, 0);
        Map<Protocol, Fleet.Result> results = new EnumMap<>(Protocol.class);
        stats.forEach((p, s) -> results.put(p, new Fleet.Result(new FleetRun(config, p), s, new FleetStats(true), 1800)));
        return new Soak.Result(new Soak.Settings(fleets, Duration.ofSeconds(10)), before, samples, runs, results,
                List.of(), windows, stats, false);
    }

    private static SoakSummary.Check check(SoakSummary summary, String prefix) {
        return summary.checks().stream().filter(c -> c.name().startsWith(prefix)).findFirst().orElseThrow();
    }

    @Test
    void aGoodRunPassesAndALeakFailsOnlyWhenAskedTo() {
        Soak.Result flat = run(t -> 400, t -> 410 + (t % 20), 400 * MIB, 0);
        SoakSummary good = SoakSummary.of(flat, true, Double.NaN);
        assertTrue(good.growing().isEmpty(), good.markdown());
        assertTrue(check(good, "builds").ok(), good.markdown());
        assertTrue(check(good, "evictions").ok(), good.markdown());
        assertTrue(check(good, "capacity misses, OCI").ok(), good.markdown());
        assertTrue(check(good, "capacity misses, gRPC").ok(), good.markdown());
        assertTrue(check(good, "blob bytes after").ok(), good.markdown());
        assertTrue(check(good, "longest time").ok(), good.markdown());
        assertTrue(good.markdown().contains("| resident memory (MiB) | 400 | 400 | 0.00 | flat |"), good.markdown());
        assertTrue(good.markdown().contains("| grpc lookup p99 (ms) | 20.0 | 21.0 |"), good.markdown());
        assertEquals(0, good.exitCode(), good.markdown());

        Soak.Result leaking = run(t -> 300 + t / 6, t -> 410, 400 * MIB, 0);
        SoakSummary judged = SoakSummary.of(leaking, false, Double.NaN);
        assertEquals(List.of("resident memory (MiB)"), judged.growing());
        assertTrue(check(judged, "resources growing").ok(), "reported, not failing, without --fail-on-growth");
        assertTrue(judged.markdown().contains("**growing**"), judged.markdown());
        assertEquals(0, judged.exitCode());
        SoakSummary failing = SoakSummary.of(leaking, true, Double.NaN);
        assertFalse(check(failing, "resources growing").ok());
        assertEquals(3, failing.exitCode());
    }

    @Test
    void blobBytesThatStayAboveTheBudgetFailTheRun() {
        Soak.Result over = run(t -> 400, t -> 4000, 3000 * MIB, 0);
        SoakSummary summary = SoakSummary.of(over, false, 100);
        assertFalse(check(summary, "blob bytes after").ok(), summary.markdown());
        assertFalse(check(summary, "longest time").ok(), summary.markdown());
        assertEquals(1, summary.exitCode());
    }

    @Test
    void moreCapacityMissesThanTheNodeCountedIsUnexplained() {
        Soak.Result r = run(t -> 400, t -> 410, 400 * MIB, 0);
        r.stats().get(Protocol.OCI_BUILDAH).capacityMissLookups.add(100); // 110 seen in OCI, 12 counted
        SoakSummary summary = SoakSummary.of(r, false, Double.NaN);
        assertFalse(check(summary, "capacity misses, OCI").ok(), summary.markdown());
        assertTrue(check(summary, "capacity misses, gRPC").ok(), summary.markdown());
        assertEquals(1, summary.exitCode());
        assertFalse(check(SoakSummary.of(run(t -> 400, t -> 410, 400 * MIB, 2), false, Double.NaN), "builds").ok());
    }
}
