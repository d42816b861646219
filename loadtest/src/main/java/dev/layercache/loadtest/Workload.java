package dev.layercache.loadtest;

import java.util.Map;

/**
 * One thing the {@code http} benchmark measures, run against one target at a time so that rounds
 * can interleave the targets. Figures are named with their unit ({@code requests_per_s},
 * {@code server_cpu_s_per_GiB}); a few strings (a digest) may ride along.
 */
interface Workload {
    /** The name {@code --workloads} selects it by, e.g. {@code head-blob}. */
    String name();

    /** What it does, in a line of the report. */
    String description();

    /** The figure that compares targets; higher is better. */
    String primary();

    /** Whether it runs against this target: most need an OCI registry, a few a plain web server. */
    boolean appliesTo(HttpBenchmark.Target target);

    /** Untimed set-up on a target, once, before any run. */
    default void prepare(HttpBenchmark.Target target) throws Exception {
    }

    /** One run; a warm-up run (JIT on both sides) may be shorter and is not reported. */
    Map<String, Object> run(HttpBenchmark.Target target, boolean warmUp) throws Exception;

    /** A server's CPU per unit of work between two readings, or nothing without its pid. */
    static void serverCpu(Map<String, Object> figures, String name, HttpBenchmark.Target target, double before,
                          double units) throws java.io.IOException {
        if (target.pid() != null && units > 0) {
            figures.put(name, (ServerCpu.seconds(target.pid()) - before) / units);
        }
    }

    double GIB = 1L << 30;
}
