package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.PrometheusText;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * {@code layercache_build_recent} below HTTP: the newest {@link RecentBuildSeries#KEPT} builds and
 * no more, their labels and time, and a restricted reader's view of them.
 * {@code BuildsDashboardTest} checks the same family through {@code /metrics} after real traffic.
 */
class RecentBuildSeriesTest {
    private static final Instant T0 = Instant.parse("2026-12-06T14:00:00Z");
    private static final String FAMILY = "layercache_build_recent";

    @Test
    void theFamilyHoldsTheNewestTwentyBuildsValuedAtTheirTime() {
        try (CacheMetrics metrics = CacheMetrics.create(1, 10, Clock.systemUTC())) {
            metrics.namespace("team/app"); // pushed to: the namespace exists and has its label
            for (int i = 0; i < 25; i++) {
                metrics.build(build("team/app" + i, "cache", T0.plusSeconds(i), "COPY in.txt /in.txt", "content"));
            }
            PrometheusText text = new PrometheusText(metrics.scrape(null));
            Set<String> shown = repositories(text);
            assertEquals(RecentBuildSeries.KEPT, shown.size(), shown.toString());
            for (int i = 0; i < 25; i++) {
                assertEquals(i >= 5, shown.contains("team/app" + i), "build " + i + " of " + shown);
            }
            assertEquals(T0.getEpochSecond() + 24, text.value(FAMILY, "repository", "team/app24"), 1e-3);
            PrometheusText.Sample one = text.samples().stream()
                    .filter(s -> s.name().equals(FAMILY) && s.labels().get("repository").equals("team/app7"))
                    .findFirst().orElseThrow();
            assertEquals("buildkit", one.labels().get("builder"));
            assertEquals("team", one.labels().get("namespace"));
            assertEquals("cache", one.labels().get("reference"));
            assertEquals("compared", one.labels().get("status"));
            assertEquals("COPY in.txt /in.txt", one.labels().get("root_cause"));
            assertEquals("content", one.labels().get("reason"));
            assertEquals(25 * 3.0, text.value("layercache_build_steps_total", "result", "reused"), 1e-9,
                    "the counters count every build, not the shown ones");

            // A build older than every one shown would be the first to go: it is not shown at all.
            metrics.build(build("team/late", "cache", T0, null, null));
            assertFalse(repositories(new PrometheusText(metrics.scrape(null))).contains("team/late"));
        }
    }

    @Test
    void theSameLabelsAreOneSeriesWithTheNewerTimeAndRootCausesAreFoldedAndCut() {
        try (CacheMetrics metrics = CacheMetrics.create(1, 10, Clock.systemUTC())) {
            metrics.build(build("team/app", "cache", T0, null, null));
            metrics.build(build("team/app", "cache", T0.plusSeconds(60), null, null));
            String longRun = "RUN apt-get update &&\n\tapt-get install -y " + "package ".repeat(40);
            metrics.build(build("team/web", "cache", T0.plusSeconds(61), longRun, "instruction"));
            PrometheusText text = new PrometheusText(metrics.scrape(null));
            List<PrometheusText.Sample> app = samples(text, "team/app");
            assertEquals(1, app.size(), "an unchanged rebuild of a tag is the same row: " + app);
            assertEquals(T0.getEpochSecond() + 60, app.get(0).value(), 1e-3);
            assertEquals("", app.get(0).labels().get("root_cause"), "no root cause: empty");
            assertEquals("", app.get(0).labels().get("reason"));
            String cut = samples(text, "team/web").get(0).labels().get("root_cause");
            assertEquals(RecentBuildSeries.MAX_ROOT_CAUSE_CHARS, cut.length(), cut);
            assertTrue(cut.startsWith("RUN apt-get update && apt-get install -y package"), cut);
            assertTrue(cut.endsWith("…"), cut);
        }
    }

    @Test
    void aRestrictedReaderSeesTheBuildsOfItsNamespacesOnlyAndLabelsStayBounded() {
        // At most two namespace labels: the third namespace counts under "other".
        try (CacheMetrics metrics = CacheMetrics.create(1, 2, Clock.systemUTC())) {
            metrics.namespace("team/app");
            metrics.namespace("secret/app");
            metrics.build(build("team/app", "cache", T0, "COPY \"a\\b\" /x", "content"));
            metrics.build(build("secret/app", "cache", T0.plusSeconds(1), null, null));
            metrics.build(build("third/app", "cache", T0.plusSeconds(2), null, null));
            metrics.build(new BuildSeen("kaniko", "team/other", null, T0.plusSeconds(3), "weird", 1, 0, null, null,
                    List.of()));
            PrometheusText all = new PrometheusText(metrics.scrape(null));
            assertEquals("other", samples(all, "third/app").get(0).labels().get("namespace"));
            PrometheusText.Sample odd = samples(all, "team/other").get(0);
            assertEquals("other", odd.labels().get("builder"), "builders outside the list: other");
            assertEquals("other", odd.labels().get("status"));
            assertEquals("", odd.labels().get("reference"));

            for (String accept : new String[] {null, "application/openmetrics-text; version=1.0.0"}) {
                PrometheusText team = new PrometheusText(metrics.scrape(accept, MetricsViewTest.TEAM));
                assertEquals(Set.of("team/app", "team/other"), repositories(team), "as " + accept);
                // Quotes and backslashes of an instruction are escaped and survive the view's filter.
                assertEquals("COPY \\\"a\\\\b\\\" /x", samples(team, "team/app").get(0).labels().get("root_cause"));
            }
        }
    }

    private static BuildSeen build(String repository, String reference, Instant at, String rootCause, String reason) {
        return new BuildSeen("buildkit", repository, reference, at, "compared", 3, 1, rootCause, reason, List.of());
    }

    private static Set<String> repositories(PrometheusText text) {
        return text.samples().stream().filter(s -> s.name().equals(FAMILY))
                .map(s -> s.labels().get("repository")).collect(Collectors.toCollection(TreeSet::new));
    }

    private static List<PrometheusText.Sample> samples(PrometheusText text, String repository) {
        return text.samples().stream()
                .filter(s -> s.name().equals(FAMILY) && s.labels().get("repository").equals(repository)).toList();
    }
}
