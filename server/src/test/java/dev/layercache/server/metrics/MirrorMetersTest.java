package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.TestClock;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The mirror's meters below HTTP: none on a node that mirrors nothing, only the configured
 * upstreams as label values, and the mirror's lookups kept out of the build cache's windows.
 */
class MirrorMetersTest {
    private final TestClock clock = new TestClock();

    @Test
    void aNodeThatMirrorsNothingShowsNoSeriesOfTheMirror() {
        try (CacheMetrics metrics = CacheMetrics.create(1, 10, clock)) {
            metrics.mirrors(List.of());
            String scrape = metrics.scrape(null);
            assertFalse(scrape.contains("surface=\"mirror\""), scrape);
            assertFalse(scrape.contains("layercache_mirror_stale"), scrape);
            assertFalse(scrape.contains("layercache_upstream_"), scrape);
            assertEquals(null, metrics.snapshot().mirror());
            // Reports from a mirror that is not there count nothing and break nothing.
            metrics.mirrorLookup("docker.io", LookupKind.TAG, "docker.io/library/busybox", true);
            metrics.upstreamRequest("docker.io", "get_manifest", "ok", 1);
            assertFalse(metrics.scrape(null).contains("surface=\"mirror\""));
        }
    }

    @Test
    void theMirrorsLookupsAreItsOwnNotTheBuildCachesHeadline() {
        try (CacheMetrics metrics = CacheMetrics.create(1, 10, clock)) {
            metrics.mirrors(List.of("docker.io", "ghcr.io"));
            PrometheusText fresh = new PrometheusText(metrics.scrape(null));
            assertEquals(6, fresh.samples().stream().filter(s -> s.name().equals("layercache_lookups_total")
                    && "mirror".equals(s.labels().get("surface"))).count());
            assertTrue(fresh.has("layercache_mirror_stale_total"), "stale counters exist from the start, at 0");
            assertFalse(fresh.samples().stream().anyMatch(s -> "mirror".equals(s.labels().get("surface"))
                    && !s.name().equals("layercache_lookups_total") && !s.name().equals("layercache_served_bytes_total")));

            metrics.mirrorLookup("docker.io", LookupKind.TAG, "docker.io/library/busybox", true);
            metrics.mirrorLookup("docker.io", LookupKind.BLOB, "docker.io/library/busybox", false);
            metrics.mirrorStale("ghcr.io");
            metrics.mirrorServed("docker.io", 1000);
            metrics.upstreamRequest("docker.io", "get_blob", "ok", 1_000_000);
            metrics.upstreamRequest("ghcr.io", "head_manifest", "rate_limited", 1_000_000);
            metrics.upstreamRequest("ghcr.io", "get_manifest", "not_found", 1_000_000);

            PrometheusText m = new PrometheusText(metrics.scrape(null));
            assertEquals(1, m.value("layercache_lookups_total", "surface", "mirror", "kind", "tag", "result", "hit"));
            assertEquals(1, m.value("layercache_lookups_total", "surface", "mirror", "kind", "blob", "result", "miss"));
            assertEquals(1, m.value("layercache_namespace_lookups_total", "namespace", "docker.io", "surface", "mirror",
                    "kind", "tag", "result", "hit"));
            assertEquals(1, m.value("layercache_mirror_stale_total", "upstream", "ghcr.io"));
            assertEquals(0, m.value("layercache_mirror_stale_total", "upstream", "docker.io"));
            assertEquals(1000, m.value("layercache_served_bytes_total", "surface", "mirror"));
            assertEquals(1, m.value("layercache_upstream_requests_total", "upstream", "ghcr.io",
                    "operation", "head_manifest", "outcome", "rate_limited"));
            assertEquals(3, m.value("layercache_upstream_request_duration_seconds_count"));

            StatsSnapshot stats = metrics.snapshot();
            assertEquals(0, stats.windows().get("24h").lookups(), "the headline counts the build cache only");
            assertEquals(0, stats.windows().get("24h").servedBytes());
            StatsSnapshot.MirrorWindow all = stats.mirror().windows().get("5m");
            assertEquals(2, all.lookups());
            assertEquals(0.5, all.hitRate());
            assertEquals(1, all.stale());
            assertEquals(1000, all.servedBytes());
            assertEquals(3, all.upstreamRequests());
            assertEquals(1, all.upstreamErrors(), "429 is an error, a 404 an answer");
            assertEquals(List.of("docker.io", "ghcr.io"),
                    stats.mirror().upstreams().stream().map(StatsSnapshot.UpstreamStats::upstream).toList());
            assertEquals(1, stats.mirror().upstreams().get(1).windows().get("1h").stale());
        }
    }

    @Test
    void labelsTakeTheConfiguredUpstreamsOnlyAndTheMirrorHasNoBuildCacheMeters() {
        try (CacheMetrics metrics = CacheMetrics.create(1, 10, clock)) {
            metrics.mirrors(List.of("docker.io"));
            metrics.mirrors(List.of("docker.io")); // wired again with the same names: nothing changes
            assertThrows(IllegalStateException.class, () -> metrics.mirrors(List.of("ghcr.io")));
            assertThrows(IllegalArgumentException.class, () -> metrics.upstreamRequest("evil.example", "get_blob", "ok", 1));
            assertThrows(IllegalArgumentException.class, () -> metrics.mirrorStale("evil.example"));
            assertThrows(IllegalArgumentException.class,
                    () -> metrics.mirrorLookup("docker.io", LookupKind.ENTRY, "docker.io/x", true));
            assertThrows(IllegalArgumentException.class, () -> metrics.existenceCheck(Surface.MIRROR, "docker.io/x", true));
            assertThrows(IllegalArgumentException.class, () -> metrics.upload(Surface.MIRROR, UploadOutcome.COMMITTED));
            assertThrows(IllegalArgumentException.class, () -> metrics.lookup(Surface.MIRROR, LookupKind.TAG, "docker.io/x", true),
                    "the mirror's lookups go through mirrorLookup, never into the namespaces' windows");
        }
    }
}
