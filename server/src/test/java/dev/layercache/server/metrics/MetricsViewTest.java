package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.PrometheusText;
import java.time.Clock;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * A reader's view of the counters (issue 18), below HTTP: what a reader of {@code team} alone
 * gets of the evictions, the overflow label and the exposition. {@link MetricsAccessTest} does
 * the same through real requests and rules.
 */
class MetricsViewTest {
    /** A reader of team/* and of the repository solo. */
    static final MetricsView TEAM = new MetricsView() {
        @Override
        public boolean everything() {
            return false;
        }

        @Override
        public boolean namespace(String prefix) {
            return prefix.equals("team") || prefix.equals("solo");
        }

        @Override
        public boolean repository(String name) {
            return name.startsWith("team/") || name.equals("solo");
        }
    };

    @Test
    void aReaderSeesTheEvictionsCausesAndNamespacesOfWhatItMayRead() {
        try (CacheMetrics metrics = CacheMetrics.create(1, 3, Clock.systemUTC())) {
            for (String repo : List.of("team/app", "secret/app", "solo", "third/x", "fourth/x")) {
                metrics.lookup(Surface.OCI, LookupKind.TAG, repo, true); // fourth/x: over the cap, "other"
                metrics.evicted("tag", repo, repo + ":v1", 10);
                metrics.entryMiss(dev.layercache.api.v1.MissReason.NEW_STEP, repo, repo + "#1");
            }
            StatsSnapshot all = metrics.snapshot();
            assertEquals(Set.of("team", "secret", "solo", "other"), namespaces(all));
            assertEquals(5, all.recentEvictions().size());

            StatsSnapshot team = metrics.snapshot(TEAM);
            assertEquals(Set.of("team", "solo"), namespaces(team), "other mixes namespaces: only for all-readers");
            assertEquals(List.of("solo:v1", "team/app:v1"),
                    team.recentEvictions().stream().map(RecentEvictions.Eviction::reference).sorted().toList());
            assertEquals(List.of("solo", "team/app"),
                    team.rootCauses().stream().map(RootCauses.Step::namespace).sorted().toList());
            assertEquals(all.windows(), team.windows(), "the node's totals stay");

            for (String accept : new String[] {null, "application/openmetrics-text; version=1.0.0"}) {
                String text = metrics.scrape(accept, TEAM);
                Set<String> shown = new TreeSet<>();
                for (PrometheusText.Sample s : new PrometheusText(text).samples()) {
                    if (s.labels().containsKey("namespace")) {
                        shown.add(s.labels().get("namespace"));
                    }
                }
                assertEquals(Set.of("solo", "team"), shown, String.valueOf(accept));
                assertEquals(5, new PrometheusText(text).value("layercache_lookups_total", "result", "hit"));
                assertTrue(text.contains("# TYPE layercache_namespace_lookups"), "the family stays, with fewer samples");
            }
        }
    }

    @Test
    void theNamespaceLabelIsReadOffASampleLine() {
        assertEquals("team", label("layercache_namespace_lookups_total{kind=\"tag\",namespace=\"team\",result=\"hit\"} 1.0"));
        assertEquals("a/b", label("x{namespace=\"a/b\"} 1"));
        assertEquals("ns", label("x{other=\"a \\\" namespace=\\\"no\",namespace=\"ns\"} 1"), "quotes inside values");
        assertNull(label("x{kubernetes_namespace=\"team\"} 1"));
        assertNull(label("x 1 # {namespace=\"team\"} 1"), "an exemplar's labels are not the sample's");
        assertNull(label("x 1"));
    }

    private static String label(String line) {
        return VisibleSamples.labelValue(line + "\n", 0, line.length() + 1);
    }

    private static Set<String> namespaces(StatsSnapshot s) {
        Set<String> out = new TreeSet<>();
        s.namespaces().forEach(n -> out.add(n.namespace()));
        return out;
    }
}
