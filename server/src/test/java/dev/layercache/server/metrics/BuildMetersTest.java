package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The build counters as Prometheus reads them. */
class BuildMetersTest {

    @Test
    void droppedAnalysesStayCountedAfterGarbageCollection() throws Exception {
        try (CacheMetrics metrics = CacheMetrics.create(1, 10, Clock.systemUTC())) {
            AtomicLong dropped = new AtomicLong(7);
            // A bound method reference, as the node wires it: nothing but the registry holds it.
            metrics.watchBuildAnalyses(dropped::get);
            for (int i = 0; i < 5; i++) {
                System.gc();
                Thread.sleep(20);
            }
            dropped.incrementAndGet();
            String text = metrics.scrape(null);
            assertTrue(text.contains("layercache_build_analyses_dropped_total 8.0"), text);
        }
    }

    @Test
    void stepsBuildsAndWarningsAreCountedByBuilderWithBoundedLabels() {
        try (CacheMetrics metrics = CacheMetrics.create(1, 10, Clock.systemUTC())) {
            metrics.build(new BuildSeen("buildkit", "team/app", "cache", Instant.now(), "compared", 3, 5, null, null,
                    List.of("cache_config_too_large")));
            metrics.build(new BuildSeen("somebuilder", "team/app", "cache", Instant.now(), "weird", 1, 0, null, null,
                    List.of("nonsense")));
            String text = metrics.scrape(null);
            assertTrue(text.contains("layercache_build_steps_total{builder=\"buildkit\",result=\"reused\"} 3.0"), text);
            assertTrue(text.contains("layercache_build_steps_total{builder=\"buildkit\",result=\"rebuilt\"} 5.0"), text);
            assertTrue(text.contains("layercache_builds_total{builder=\"buildkit\",status=\"compared\"} 1.0"), text);
            assertTrue(text.contains("layercache_build_warnings_total{builder=\"buildkit\",warning=\"cache_config_too_large\"} 1.0"),
                    text);
            assertTrue(text.contains("layercache_build_steps_total{builder=\"other\",result=\"reused\"} 1.0"), text);
            assertTrue(text.contains("layercache_builds_total{builder=\"other\",status=\"other\"} 1.0"), text);
            assertTrue(text.contains("layercache_build_warnings_total{builder=\"other\",warning=\"other\"} 1.0"), text);
        }
    }
}
