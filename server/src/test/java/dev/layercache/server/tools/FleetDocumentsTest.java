package dev.layercache.server.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.core.manifest.CacheConfig;
import dev.layercache.server.core.manifest.ManifestParser;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The simulated BuildKit's cache config reads back as BuildKit's own would. */
class FleetDocumentsTest {
    @Test
    void cacheConfigIsOneChainOfRecordsWithResults() {
        List<Layer> layers = List.of(layer('a'), layer('b'), layer('c'));

        CacheConfig config = new ManifestParser(new ObjectMapper()).parseCacheConfig(FleetDocuments.cacheConfig(layers));

        assertEquals(3, config.layers().size());
        assertEquals(CacheConfig.CacheLayer.NO_PARENT, config.layers().get(0).parent());
        assertEquals(0, config.layers().get(1).parent());
        assertEquals(1, config.layers().get(2).parent());
        for (int i = 0; i < 3; i++) {
            CacheConfig.CacheRecord r = config.records().get(i);
            assertEquals(i, r.results().get(0).layer(), "results are read from \"layers\"");
            assertEquals(i + 1, config.chain(r.results().get(0).layer()).size());
            assertEquals(i == 0, r.isRoot());
        }
    }

    private static Layer layer(char hex) {
        return Layer.of(String.valueOf(hex).repeat(64), 10, 20);
    }
}
