package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class MetricsDisabledTest {
    /** With metrics off ({@code metrics-enabled: false}), nothing is counted and the paths are gone. */
    @RegisterExtension
    final TestServer off = new TestServer(c -> c.withMetrics(new ServerConfig.Metrics(false, 1, 100)));

    @Test
    void metricsPathsAnswer404() throws Exception {
        Registry r = new Registry(off.port());
        assertEquals(404, r.get("/metrics").statusCode());
        assertEquals(404, r.get("/api/v1/stats").statusCode());
        assertEquals(404, r.get("/ui/").statusCode());
        assertEquals(404, r.head("/v2/team/app/manifests/v1"));
        assertFalse(off.server().metrics().enabled());
    }
}
