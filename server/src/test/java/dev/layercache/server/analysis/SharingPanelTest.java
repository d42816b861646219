package dev.layercache.server.analysis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.Chromium;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The dashboard's Sharing panel in a real browser shows what {@code /api/v1/sharing} says. */
class SharingPanelTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    final TestServer server = new TestServer();

    @Test
    void thePanelShowsLogicalPhysicalAndTheSharedLayerWithItsRepositories() throws Exception {
        Registry r = new Registry(server.port());
        byte[] base = new Layers().file("bin/busybox", 123_456).gzip();
        byte[] config = "{\"os\":\"linux\"}".getBytes();
        for (String repo : new String[] {"web/front", "web/back"}) {
            byte[] own = new Layers().file("srv/" + repo, 1000).gzip();
            assertEquals(201, r.pushBlob(repo, config));
            assertEquals(201, r.pushBlob(repo, base));
            assertEquals(201, r.pushBlob(repo, own));
            assertEquals(201, r.pushManifest(repo, "v1", "application/vnd.oci.image.manifest.v1+json",
                    Registry.imageManifest(config, base, own)));
        }
        JsonNode api = JSON.readTree(r.get("/api/v1/sharing").body());
        assertTrue(api.get("logical_bytes").asLong() > api.get("physical_bytes").asLong());
        try (Chromium browser = Chromium.start()) {
            browser.navigate("http://127.0.0.1:" + server.port() + "/ui/");
            browser.waitFor("Number(document.body.dataset.sharingRenders || 0) >= 1", Duration.ofSeconds(20));
            for (String field : new String[] {"logical_bytes", "physical_bytes", "saved_bytes", "manifests", "layers",
                    "shared_layers", "top_shared.0.size", "top_shared.0.references"}) {
                String shown = browser.evaluate("document.querySelector('[data-sharing=\"" + field
                        + "\"]').dataset.value").asText();
                JsonNode expected = field.startsWith("top_shared.0.")
                        ? api.get("top_shared").get(0).get(field.substring("top_shared.0.".length())) : api.get(field);
                assertEquals(expected.asText(), shown, field);
            }
            String row = browser.evaluate("document.querySelector('#sharing tr[data-layer=\""
                    + Registry.sha256(base) + "\"]').textContent").asText();
            assertTrue(row.contains("web/back, web/front"), row);
            assertTrue(browser.evaluate("document.querySelector('[data-sharing=\"logical_bytes\"]').textContent")
                    .asText().matches("[0-9.]+ (B|KiB|MiB)"), "a human number is shown");
            assertTrue(browser.uncaughtExceptions().isEmpty(), "page errors: " + browser.uncaughtExceptions());
            browser.evaluate("document.getElementById('sharing-title').scrollIntoView(), true");
            browser.screenshot(Path.of("target", "screenshots", "dashboard-sharing.png"));
        }
    }
}
