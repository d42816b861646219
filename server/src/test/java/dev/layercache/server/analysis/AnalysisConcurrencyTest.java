package dev.layercache.server.analysis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Concurrent requests: the same manifest is computed once and shared; more distinct computations
 * than {@link AnalysisService#MAX_RUNNING} at once are refused with 429 and Retry-After.
 */
class AnalysisConcurrencyTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int IMAGES = 5;

    @RegisterExtension
    static TestServer server = new TestServer();

    @Test
    void oneComputationPerManifestAndABoundOnComputationsAtOnce() throws Exception {
        Registry r = new Registry(server.port());
        // One layer for every image, long to walk (512 MiB of zeros, ~0.5 MiB compressed), so that each
        // computation lasts far longer than the spread of requests sent at once, even on a busy
        // machine; distinct configs make distinct manifests, which are analysed separately.
        byte[] layer = zeros("data/blob", 512L << 20);
        for (int i = 0; i < IMAGES; i++) {
            byte[] config = ("{\"os\":\"linux\",\"image\":" + i + "}").getBytes();
            String repo = "busy/app" + i;
            assertEquals(201, r.pushBlob(repo, config));
            assertEquals(201, r.pushBlob(repo, layer));
            assertEquals(201, r.pushManifest(repo, "v1", "application/vnd.oci.image.manifest.v1+json",
                    Registry.imageManifest(config, layer)));
        }
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

        // The same manifest three times at once: one computation, the others wait for it.
        List<HttpResponse<byte[]>> same = all(http, List.of("busy/app0", "busy/app0", "busy/app0"));
        int computed = 0;
        for (HttpResponse<byte[]> res : same) {
            assertEquals(200, res.statusCode(), new String(res.body()));
            computed += JSON.readTree(res.body()).get("cached").asBoolean() ? 0 : 1;
        }
        assertEquals(1, computed, "one computation shared by concurrent requests");

        // Four distinct manifests at once: at most MAX_RUNNING computed, the rest told to come back.
        List<String> repos = new ArrayList<>();
        for (int i = 1; i < IMAGES; i++) {
            repos.add("busy/app" + i);
        }
        List<HttpResponse<byte[]>> distinct = all(http, repos);
        int ok = 0;
        int busy = 0;
        for (HttpResponse<byte[]> res : distinct) {
            if (res.statusCode() == 200) {
                ok++;
            } else {
                assertEquals(429, res.statusCode(), new String(res.body()));
                assertEquals("5", res.headers().firstValue("Retry-After").orElse(null));
                assertTrue(new String(res.body()).contains("analyses are running"), new String(res.body()));
                busy++;
            }
        }
        assertTrue(ok >= 1 && ok <= AnalysisService.MAX_RUNNING, ok + " computed at once");
        assertEquals(IMAGES - 1, ok + busy);
        // Refused ones succeed once the node is free again.
        for (String repo : repos) {
            assertEquals(200, r.get("/api/v1/analysis/" + repo + "/v1").statusCode());
        }
    }

    private List<HttpResponse<byte[]>> all(HttpClient http, List<String> repos) {
        List<CompletableFuture<HttpResponse<byte[]>>> futures = new ArrayList<>();
        for (String repo : repos) {
            futures.add(http.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                    + "/api/v1/analysis/" + repo + "/v1")).build(), HttpResponse.BodyHandlers.ofByteArray()));
        }
        return futures.stream().map(CompletableFuture::join).toList();
    }

    /** A gzip layer with one file of {@code size} zero bytes: small to push, slow enough to walk. */
    private static byte[] zeros(String name, long size) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bytes, 1 << 16) {
            {
                def.setLevel(Deflater.BEST_SPEED);
            }
        }; TarArchiveOutputStream tar = new TarArchiveOutputStream(gz)) {
            TarArchiveEntry e = new TarArchiveEntry(name);
            e.setSize(size);
            tar.putArchiveEntry(e);
            byte[] chunk = new byte[1 << 16];
            for (long left = size; left > 0; left -= chunk.length) {
                tar.write(chunk, 0, (int) Math.min(chunk.length, left));
            }
            tar.closeArchiveEntry();
            tar.finish();
        }
        return bytes.toByteArray();
    }
}
