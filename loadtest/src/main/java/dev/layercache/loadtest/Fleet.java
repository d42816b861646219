package dev.layercache.loadtest;

import dev.layercache.loadtest.FleetWorkload.BuildPlan;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * Runs a fleet of simulated builders against a cache in one protocol. Each builder is a thread
 * with its own connections, as if on its own machine, looping: pick a project at random, maybe
 * make a new commit of it, run a build of its steps.
 * Builders stop starting builds at the deadline (or after {@code --builds} builds) and finish
 * the one they are in; builds started during the warm-up count in separate figures.
 *
 * <p>With one builder the run is deterministic for a seed: the same builds, keys and layers, so
 * every protocol sees the same hits and misses.
 */
final class Fleet {
    private Fleet() {
    }

    /**
     * What a run measured.
     *
     * @param run the run's shared state: its workload, what it published
     * @param measured the figures of the builds started after the warm-up
     * @param warmup the figures of the builds started during the warm-up
     * @param measuredSeconds from the end of the warm-up to the end of the last measured build
     */
    record Result(FleetRun run, FleetStats measured, FleetStats warmup, double measuredSeconds) {
    }

    /**
     * Runs the fleet; with {@code progress}, draws one updating status line there.
     *
     * @throws IOException when a builder cannot reach the cache at all (then no build ran)
     */
    static Result run(FleetConfig config, Protocol protocol, PrintStream progress)
            throws IOException, InterruptedException {
        return run(new FleetRun(config, protocol), new FleetStats(config.evicting), new FleetStats(config.evicting),
                progress);
    }

    /**
     * Runs the fleet of {@code run}, adding to {@code measured} and {@code warmup}, which a
     * caller may read while it runs (the soak samples them).
     *
     * @throws IOException when a builder cannot reach the cache at all (then no build ran)
     */
    static Result run(FleetRun run, FleetStats measured, FleetStats warmup, PrintStream progress)
            throws IOException, InterruptedException {
        FleetConfig config = run.config;
        Protocol protocol = run.protocol;
        AtomicInteger threadNumber = new AtomicInteger();
        ExecutorService threads = Executors.newFixedThreadPool(config.builders,
                r -> new Thread(r, "fleet-" + protocol.cliName() + "-" + threadNumber.incrementAndGet()));
        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "fleet-progress");
            t.setDaemon(true);
            return t;
        });
        List<SimulatedBuilder> builders = new ArrayList<>();
        try {
            connect(factory(run), builders, threads, config.builders);
            // The clock starts once every builder is connected: a cold client (class loading, the
            // first connection) on a busy machine would otherwise eat the warm-up.
            long start = System.nanoTime();
            long warmupEnd = start + config.warmup.toNanos();
            long deadline = start + config.duration.toNanos();
            AtomicLong lastMeasuredEnd = new AtomicLong(warmupEnd);
            AtomicLong buildsStarted = new AtomicLong();
            if (progress != null) {
                ticker.scheduleAtFixedRate(() -> progress.print("\r" + status(protocol, start, config,
                        System.nanoTime() < warmupEnd ? warmup : measured, System.nanoTime() < warmupEnd)),
                        1, 1, TimeUnit.SECONDS);
            }
            // Each builder draws from its own stream, split in order from the seed: reproducible.
            SplittableRandom seeds = new SplittableRandom(config.seed);
            List<Future<?>> running = new ArrayList<>();
            for (SimulatedBuilder builder : builders) {
                SplittableRandom random = seeds.split();
                running.add(threads.submit(() -> {
                    while (true) {
                        long now = System.nanoTime();
                        if (now >= deadline || (config.maxBuilds > 0
                                && buildsStarted.getAndIncrement() >= config.maxBuilds)) {
                            return null;
                        }
                        int project = random.nextInt(config.projects);
                        boolean commit = random.nextDouble() < config.commitProbability;
                        BuildPlan plan = run.workload.plan(project, commit, random);
                        boolean warmingUp = now < warmupEnd;
                        FleetStats stats = warmingUp ? warmup : measured;
                        long t0 = System.nanoTime();
                        try {
                            builder.build(plan, stats);
                            stats.buildDone((System.nanoTime() - t0) / 1000);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            return null;
                        } catch (Exception e) {
                            stats.buildFailed(e);
                        }
                        if (!warmingUp) {
                            lastMeasuredEnd.accumulateAndGet(System.nanoTime(), Math::max);
                        }
                        long pause = Math.min(config.pause.toNanos(), deadline - System.nanoTime());
                        if (pause > 0) {
                            try {
                                TimeUnit.NANOSECONDS.sleep(pause); // a builder between two jobs
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                                return null;
                            }
                        }
                    }
                }));
            }
            for (Future<?> f : running) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    measured.buildFailed(e.getCause()); // a fault of the simulator itself: still reported
                }
            }
            if (progress != null) {
                ticker.shutdownNow();
                progress.print("\r" + status(protocol, start, config, measured, false) + "\n");
            }
            double seconds = Math.max(1e-9, (lastMeasuredEnd.get() - warmupEnd) / 1e9);
            return new Result(run, measured, warmup, seconds);
        } finally {
            threads.shutdownNow();
            ticker.shutdownNow();
            threads.awaitTermination(30, TimeUnit.SECONDS);
            builders.forEach(SimulatedBuilder::close);
        }
    }

    /** Makes {@code count} builders into {@code builders} and connects them, in parallel. */
    private static void connect(Supplier<SimulatedBuilder> factory, List<SimulatedBuilder> builders,
                                ExecutorService threads, int count) throws IOException, InterruptedException {
        List<Future<SimulatedBuilder>> connecting = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            connecting.add(threads.submit(() -> {
                SimulatedBuilder b = factory.get();
                try {
                    b.connect();
                    return b;
                } catch (Exception e) {
                    b.close();
                    throw e;
                }
            }));
        }
        IOException failed = null;
        for (Future<SimulatedBuilder> f : connecting) {
            try {
                builders.add(f.get());
            } catch (ExecutionException e) {
                if (failed == null) {
                    failed = new IOException("cannot reach the cache: " + e.getCause(), e.getCause());
                }
            }
        }
        if (failed != null) {
            throw failed;
        }
    }

    private static Supplier<SimulatedBuilder> factory(FleetRun run) {
        return switch (run.protocol) {
            case GRPC -> GrpcBuilder.factory(run);
            case OCI_BUILDAH -> BuildahBuilder.factory(run);
            case OCI_BUILDKIT -> BuildKitBuilder.factory(run);
        };
    }

    private static String status(Protocol protocol, long start, FleetConfig config, FleetStats s, boolean warmingUp) {
        return String.format(Locale.ROOT,
                "fleet %-12s %4.0f/%d s %-9s builds %5d  hit %5.1f%% (expected %5.1f%%)  up %8.1f MiB  "
                        + "down %8.1f MiB  errors %d ",
                protocol.cliName(), (System.nanoTime() - start) / 1e9, config.duration.toSeconds(),
                warmingUp ? "warm-up" : "measured", s.builds.sum(), s.hitRateObserved(), s.hitRateExpected(),
                s.bytesUploaded.sum() / 1048576.0, s.bytesDownloaded.sum() / 1048576.0, s.errors.sum());
    }
}
