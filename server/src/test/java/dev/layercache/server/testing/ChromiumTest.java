package dev.layercache.server.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The dashboard page ({@code src/main/resources/ui/}) in a real headless Chromium, against canned
 * {@code /api/v1/stats} answers from a tiny HTTP server: every number the page shows must be the
 * number in the JSON, the page must update itself, and say so when the stats cannot be fetched.
 * This is also the self-test of the {@link Chromium} fixture. The test against the real server
 * reuses the fixture with live counters.
 */
class ChromiumTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The page fetches every 5 s; three periods leaves room for a slow machine. */
    private static final Duration REFRESH_WAIT = Duration.ofSeconds(15);
    private static final Path SCREENSHOTS = Path.of("target", "screenshots");

    /**
     * A realistic answer, following the schema in docs/metrics.md: two namespaces (one without lookups
     * in the last 5 minutes, so a null hit rate), a disk budget, evictions and root causes.
     * {@code history} is filled in by {@link #sampleStats()}.
     */
    private static final String SAMPLE = """
            {
              "generated_at": "2026-11-28T10:00:00Z",
              "uptime_seconds": 93784,
              "windows": {
                "5m":  {"lookups": 40, "hits": 30, "misses": 10, "hit_rate": 0.75, "capacity_misses": 1,
                        "served_bytes": 1572864, "received_bytes": 0, "saved_bytes": 524288,
                        "existence_checks": 12, "existence_check_hits": 9},
                "1h":  {"lookups": 600, "hits": 489, "misses": 111, "hit_rate": 0.815, "capacity_misses": 7,
                        "served_bytes": 734003200, "received_bytes": 52428800, "saved_bytes": 1288490188,
                        "existence_checks": 150, "existence_check_hits": 120},
                "24h": {"lookups": 9800, "hits": 8134, "misses": 1666, "hit_rate": 0.83, "capacity_misses": 42,
                        "served_bytes": 24696061952, "received_bytes": 3221225472, "saved_bytes": 40802189312,
                        "existence_checks": 2400, "existence_check_hits": 2100}
              },
              "namespaces": [
                {"namespace": "team", "windows": {
                  "5m":  {"lookups": 40, "hits": 30, "misses": 10, "hit_rate": 0.75, "capacity_misses": 1,
                          "served_bytes": 1572864, "received_bytes": 0, "saved_bytes": 524288,
                          "existence_checks": 12, "existence_check_hits": 9},
                  "1h":  {"lookups": 400, "hits": 330, "misses": 70, "hit_rate": 0.825, "capacity_misses": 5,
                          "served_bytes": 524288000, "received_bytes": 31457280, "saved_bytes": 943718400,
                          "existence_checks": 100, "existence_check_hits": 80},
                  "24h": {"lookups": 6800, "hits": 5712, "misses": 1088, "hit_rate": 0.84, "capacity_misses": 30,
                          "served_bytes": 18253611008, "received_bytes": 2147483648, "saved_bytes": 30064771072,
                          "existence_checks": 1600, "existence_check_hits": 1400}}},
                {"namespace": "ci", "windows": {
                  "5m":  {"lookups": 0, "hits": 0, "misses": 0, "hit_rate": null, "capacity_misses": 0,
                          "served_bytes": 0, "received_bytes": 0, "saved_bytes": 0,
                          "existence_checks": 0, "existence_check_hits": 0},
                  "1h":  {"lookups": 200, "hits": 159, "misses": 41, "hit_rate": 0.795, "capacity_misses": 2,
                          "served_bytes": 209715200, "received_bytes": 20971520, "saved_bytes": 344771788,
                          "existence_checks": 50, "existence_check_hits": 40},
                  "24h": {"lookups": 3000, "hits": 2422, "misses": 578, "hit_rate": 0.8073333333333333,
                          "capacity_misses": 12, "served_bytes": 6442450944, "received_bytes": 1073741824,
                          "saved_bytes": 10737418240,
                          "existence_checks": 800, "existence_check_hits": 700}}}
              ],
              "history": [],
              "entry_misses": {"new_step": 12, "inputs_changed": 31, "cascade": 58, "evicted": 4, "unknown": 1},
              "root_causes": [
                {"namespace": "team", "step": "team/app#3", "misses": 17},
                {"namespace": "team", "step": "team/app#1", "misses": 9},
                {"namespace": "ci", "step": "ci/runner#2", "misses": 5}
              ],
              "store": {"bytes": 123456789, "blobs": 4211, "budget_bytes": 10737418240,
                        "roots": {"tag": 312, "manifest": 340, "entry": 1893}},
              "recent_evictions": [
                {"at": "2026-11-28T09:59:00Z", "namespace": "team", "kind": "tag",
                 "reference": "team/app:step3", "bytes": 1024},
                {"at": "2026-11-28T09:41:12Z", "namespace": "ci", "kind": "entry",
                 "reference": "ci/runner#2@sha256:9f2c", "bytes": 73400320},
                {"at": "2026-11-28T08:15:40Z", "namespace": "team", "kind": "manifest",
                 "reference": "team/app@sha256:4be1", "bytes": 2048}
              ]
            }
            """;

    @Test
    void dashboardShowsTheStatsJsonAndUpdatesItself() throws Exception {
        ObjectNode first = sampleStats();
        ObjectNode second = fiveSecondsLater(first);
        AtomicReference<String> statsBody = new AtomicReference<>(JSON.writeValueAsString(first));
        AtomicInteger failWithStatus = new AtomicInteger(0);
        AtomicInteger statsRequests = new AtomicInteger();

        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/ui/", exchange -> serveUiFile(exchange));
        server.createContext("/api/v1/stats", exchange -> {
            statsRequests.incrementAndGet();
            int status = failWithStatus.get();
            if (status != 0) {
                respond(exchange, status, "text/plain", "stats are down for this test".getBytes(StandardCharsets.UTF_8));
            } else {
                respond(exchange, 200, "application/json", statsBody.get().getBytes(StandardCharsets.UTF_8));
            }
        });
        // The Sharing panel's own feed (its numbers carry data-sharing, not data-stat).
        String sharing = "{\"manifests\":3,\"repositories\":2,\"layers\":4,\"logical_bytes\":3145728,"
                + "\"physical_bytes\":2097152,\"saved_bytes\":1048576,\"sharing_ratio\":1.5,\"shared_layers\":1,"
                + "\"top_shared\":[{\"digest\":\"sha256:" + "ab".repeat(32) + "\",\"size\":1048576,"
                + "\"references\":2,\"saved_bytes\":1048576,\"repositories\":[\"team/a\",\"team/b\"]}],"
                + "\"by_repository\":[]}";
        server.createContext("/api/v1/sharing", exchange -> respond(exchange, 200, "application/json",
                sharing.getBytes(StandardCharsets.UTF_8)));
        server.start();
        try (Chromium browser = Chromium.start()) {
            browser.navigate("http://127.0.0.1:" + server.getAddress().getPort() + "/ui/");
            browser.waitFor("Number(document.body.dataset.sharingRenders || 0) >= 1", REFRESH_WAIT);
            assertEquals("3.0 MiB", text(browser, "[data-sharing='logical_bytes']"));
            assertEquals("2.0 MiB", text(browser, "[data-sharing='physical_bytes']"));
            assertEquals("1.50", text(browser, "[data-sharing='sharing_ratio']"));
            assertEquals("2", text(browser, "[data-sharing='top_shared.0.references']"));
            browser.waitFor("Number(document.body.dataset.renders) >= 1", REFRESH_WAIT);
            assertEquals("2026-11-28T10:00:00Z", browser.evaluate("document.body.dataset.generatedAt").asText());

            List<String[]> shown = DashboardStats.shownStats(browser);
            DashboardStats.assertShownMatch(first, shown);
            assertTrue(shown.size() >= 20, "only " + shown.size() + " numbers carry data-stat");
            assertEverythingShown(first, shown);

            // What an operator reads, not only the attributes.
            assertEquals("75.0%", text(browser, "#tiles [data-stat='windows.5m.hit_rate']"));
            assertEquals("83.0%", text(browser, "#tiles [data-stat='windows.24h.hit_rate']"));
            assertEquals("23.0 GiB", text(browser, "#tiles [data-stat='windows.24h.served_bytes']"));
            assertEquals("38.0 GiB", text(browser, "#tiles [data-stat='windows.24h.saved_bytes']"));
            assertEquals("1.5 MiB", text(browser, "#windows [data-stat='windows.5m.served_bytes']"));
            // Pushers' existence checks beside the hit rate, not in it: 2,100 of 2,400 present.
            assertEquals("2,400", text(browser, "#tiles [data-stat='windows.24h.existence_checks']"));
            assertTrue(text(browser, "#tiles .tile:has([data-stat='windows.24h.existence_checks']) .tile-detail")
                    .startsWith("2,100 present (87.5%)"));
            assertEquals("—", text(browser, "[data-stat='namespaces.ci.windows.5m.hit_rate']"));
            assertEquals("117.7 MiB", text(browser, "[data-stat='store.bytes']"));
            assertEquals("10.0 GiB", text(browser, "[data-stat='store.budget_bytes']"));
            assertEquals("team/app:step3", browser.evaluate(
                    "document.querySelector('#evictions tbody tr td.mono').textContent").asText());
            assertEquals(60, browser.evaluate("document.querySelectorAll('#chart rect.bar-hits').length").asInt());
            assertTrue(browser.evaluate("document.querySelector('#chart path.rate-line') !== null").asBoolean(),
                    "the hit-rate line is drawn");
            assertTrue(browser.evaluate("document.getElementById('error').hidden").asBoolean(), "no error banner");
            assertPngWritten(browser.screenshot(SCREENSHOTS.resolve("dashboard-sample.png")));

            // The page fetches again by itself and redraws from the new answer.
            statsBody.set(JSON.writeValueAsString(second));
            browser.waitFor("Number(document.body.dataset.renders) >= 2"
                    + " && document.body.dataset.generatedAt === '2026-11-28T10:00:05Z'", REFRESH_WAIT);
            shown = DashboardStats.shownStats(browser);
            DashboardStats.assertShownMatch(second, shown);
            assertEverythingShown(second, shown);
            assertEquals("73.3%", text(browser, "#tiles [data-stat='windows.5m.hit_rate']"));
            assertEquals("no budget", text(browser, "[data-stat='store.budget_bytes']"));
            assertEquals("none", browser.evaluate("document.getElementById('evictions').textContent.trim()").asText());
            assertPngWritten(browser.screenshot(SCREENSHOTS.resolve("dashboard-updated.png")));

            // A failing fetch shows the banner over the last good numbers; the next good one clears it.
            failWithStatus.set(503);
            browser.waitFor("!document.getElementById('error').hidden", REFRESH_WAIT);
            String banner = browser.evaluate("document.getElementById('error').textContent").asText();
            assertTrue(banner.contains("503"), banner);
            assertEquals("73.3%", text(browser, "#tiles [data-stat='windows.5m.hit_rate']"), "last numbers stay");
            failWithStatus.set(0);
            browser.waitFor("document.getElementById('error').hidden && Number(document.body.dataset.renders) >= 3",
                    REFRESH_WAIT);

            assertEquals(0, browser.evaluate("document.querySelectorAll('.section-error').length").asInt(),
                    "every section drew: " + browser.consoleMessages());
            assertEquals(List.of(), browser.uncaughtExceptions());
            assertTrue(statsRequests.get() >= 4, "stats fetched " + statsRequests.get() + " times");
        } finally {
            server.stop(0);
        }
    }

    // ---- what the page shows -----------------------------------------------------------------

    /** The page shows every number the brief asks for, not just consistent ones. */
    private static void assertEverythingShown(JsonNode stats, List<String[]> shown) {
        List<String> paths = shown.stream().map(stat -> stat[0]).toList();
        List<String> expected = new ArrayList<>(List.of("uptime_seconds", "store.bytes", "store.blobs",
                "store.budget_bytes"));
        for (String window : List.of("5m", "1h", "24h")) {
            for (String field : List.of("lookups", "hits", "misses", "hit_rate", "capacity_misses",
                    "served_bytes", "received_bytes", "saved_bytes", "existence_checks", "existence_check_hits")) {
                expected.add("windows." + window + "." + field);
            }
        }
        for (JsonNode namespace : stats.get("namespaces")) {
            String base = "namespaces." + namespace.get("namespace").asText() + ".windows.";
            expected.addAll(List.of(base + "24h.lookups", base + "5m.hit_rate", base + "1h.hit_rate",
                    base + "24h.hit_rate"));
        }
        stats.get("store").get("roots").fieldNames().forEachRemaining(kind -> expected.add("store.roots." + kind));
        stats.get("entry_misses").fieldNames().forEachRemaining(reason -> expected.add("entry_misses." + reason));
        for (int i = 0; i < stats.get("root_causes").size(); i++) {
            expected.add("root_causes." + i + ".misses");
        }
        for (int i = 0; i < stats.get("recent_evictions").size(); i++) {
            expected.add("recent_evictions." + i + ".bytes");
        }
        for (int i = 0; i < stats.get("history").size(); i++) {
            expected.add("history." + i + ".hits");
            expected.add("history." + i + ".misses");
        }
        List<String> missing = expected.stream().filter(path -> !paths.contains(path)).toList();
        assertTrue(missing.isEmpty(), "not shown on the page: " + missing);
    }

    private static String text(Chromium browser, String selector) {
        JsonNode text = browser.evaluate("(() => { const e = document.querySelector(" + JSON.valueToTree(selector)
                + "); return e ? e.textContent.trim() : null; })()");
        assertNotNull(text.textValue(), "nothing matches " + selector);
        return text.asText();
    }

    private static void assertPngWritten(Path png) throws IOException {
        long size = Files.size(png);
        assertTrue(size > 10 * 1024, png + " is only " + size + " bytes");
        byte[] header = new byte[8];
        try (InputStream in = Files.newInputStream(png)) {
            assertEquals(8, in.read(header));
        }
        assertEquals("\u0089PNG", new String(header, 0, 4, StandardCharsets.ISO_8859_1));
    }

    // ---- the canned answers ------------------------------------------------------------------

    /** {@link #SAMPLE} with one hour of per-minute history: steady traffic, a quiet gap, a burst of misses. */
    static ObjectNode sampleStats() throws IOException {
        ObjectNode stats = (ObjectNode) JSON.readTree(SAMPLE);
        ArrayNode history = stats.putArray("history");
        Instant firstMinute = Instant.parse("2026-11-28T09:00:00Z");
        for (int i = 0; i < 60; i++) {
            boolean quiet = i >= 20 && i <= 22;
            boolean purge = i == 41 || i == 42;
            int hits = quiet ? 0 : purge ? 2 : 6 + (i * 7) % 9;
            int misses = quiet ? 0 : purge ? 14 : (i * 3) % 4;
            history.addObject()
                    .put("minute", firstMinute.plus(i, ChronoUnit.MINUTES).toString())
                    .put("hits", hits)
                    .put("misses", misses);
        }
        return stats;
    }

    /** The next answer: time moved on, the 5-minute window changed, the budget was unset and evictions aged out. */
    private static ObjectNode fiveSecondsLater(ObjectNode first) {
        ObjectNode stats = first.deepCopy();
        stats.put("generated_at", "2026-11-28T10:00:05Z");
        stats.put("uptime_seconds", 93789);
        ((ObjectNode) stats.get("windows").get("5m"))
                .put("lookups", 45).put("hits", 33).put("misses", 12).put("hit_rate", 33.0 / 45);
        ObjectNode team5m = (ObjectNode) stats.get("namespaces").get(0).get("windows").get("5m");
        team5m.put("lookups", 45).put("hits", 33).put("misses", 12).put("hit_rate", 33.0 / 45);
        ((ObjectNode) stats.get("store")).put("budget_bytes", 0).put("bytes", 123460885);
        ((ObjectNode) stats.get("entry_misses")).put("cascade", 60);
        stats.putArray("recent_evictions");
        return stats;
    }

    // ---- the tiny server ---------------------------------------------------------------------

    private static final Map<String, String> UI_FILES = Map.of(
            "index.html", "text/html; charset=utf-8",
            "app.js", "text/javascript; charset=utf-8",
            "style.css", "text/css; charset=utf-8");

    /** Serves the page's files from the class path, where the server finds them too. */
    private static void serveUiFile(HttpExchange exchange) throws IOException {
        String name = exchange.getRequestURI().getPath().substring("/ui/".length());
        if (name.isEmpty()) {
            name = "index.html";
        }
        String contentType = UI_FILES.get(name);
        InputStream resource = contentType == null ? null
                : ChromiumTest.class.getClassLoader().getResourceAsStream("ui/" + name);
        if (resource == null) {
            respond(exchange, 404, "text/plain", ("no " + name).getBytes(StandardCharsets.UTF_8));
            return;
        }
        try (resource) {
            respond(exchange, 200, contentType, resource.readAllBytes());
        }
    }

    private static void respond(HttpExchange exchange, int status, String contentType, byte[] body)
            throws IOException {
        exchange.getResponseHeaders().set("Content-Type", contentType);
        exchange.getResponseHeaders().set("Cache-Control", "no-store");
        exchange.sendResponseHeaders(status, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }
}
