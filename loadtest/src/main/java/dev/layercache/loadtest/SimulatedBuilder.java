package dev.layercache.loadtest;

import dev.layercache.loadtest.FleetWorkload.BuildPlan;

/**
 * How a simulated builder runs one build against the cache, in one protocol: looks its steps
 * up, fetches (or only references) the layers of the steps that hit, runs the steps that missed
 * and publishes their layers. One instance serves every builder thread.
 *
 * <p>Implementations report each step's lookup to the run's {@link FleetStats}, with what the
 * model of the cache expected of it, and throw on any error: the build then counts as failed.
 */
interface SimulatedBuilder extends AutoCloseable {
    /**
     * Opens the builder's connection with the request its kind of client makes first, before
     * the run's clock starts; fails when the cache cannot be reached.
     */
    void connect() throws Exception;

    /** Runs one build, recording its figures in {@code stats}. */
    void build(BuildPlan plan, FleetStats stats) throws Exception;

    /** Releases connections. */
    @Override
    void close();
}
