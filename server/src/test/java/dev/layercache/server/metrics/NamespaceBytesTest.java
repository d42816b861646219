package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.PrometheusText;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The per-namespace bytes are updated while Prometheus scrapes: no scrape fails, every value is the
 * last one set, and a namespace no longer counted drops its series.
 */
class NamespaceBytesTest {
    @Test
    void scrapesWhileTheValuesChangeNeverFailAndGoneNamespacesDropTheirSeries() throws Exception {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        NamespaceBytes bytes = new NamespaceBytes(registry);
        AtomicBoolean done = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        CompletableFuture<Void> scraper = CompletableFuture.runAsync(() -> {
            try {
                while (!done.get()) {
                    registry.scrape();
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        for (int round = 0; round < 2000 && failure.get() == null; round++) {
            Map<String, Long> counted = new LinkedHashMap<>();
            for (int i = 0; i < 50; i++) {
                counted.put("team" + i, (long) round * 1000 + i);
            }
            if (round % 2 == 0) {
                counted.put("sometimes", 7L);
            }
            bytes.update(counted);
        }
        done.set(true);
        scraper.get(30, TimeUnit.SECONDS);
        assertEquals(null, failure.get(), "a scrape failed while the values changed");

        bytes.update(Map.of("alpha", 10L, "beta", 20L));
        PrometheusText text = new PrometheusText(registry.scrape());
        assertEquals(10, text.value("layercache_namespace_store_bytes", "namespace", "alpha"));
        assertEquals(20, text.value("layercache_namespace_store_bytes", "namespace", "beta"));
        assertFalse(registry.scrape().contains("namespace=\"team3\""), "a namespace no longer counted drops its series");
        assertTrue(registry.scrape().contains("layercache_namespace_store_bytes"));
    }
}
