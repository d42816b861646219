package dev.layercache.server.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Debian's Prometheus in a process of its own, scraping {@code targets} every second as job
 * {@code layercache} and evaluating a rule file every second, with its HTTP API on a free
 * loopback port. Its log and data stay in the folder it was given.
 */
public final class PrometheusProcess implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Process process;
    private final Path dir;
    private final String base;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private PrometheusProcess(Process process, Path dir, String base) {
        this.process = process;
        this.dir = dir;
        this.base = base;
    }

    /** Starts {@code prometheus} (the binary) and returns once it is ready. */
    public static PrometheusProcess start(Path prometheus, Path dir, Path rules, List<String> targets)
            throws Exception {
        Files.createDirectories(dir);
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Path config = dir.resolve("prometheus.yml");
        Files.writeString(config, """
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                rule_files:
                  - %s
                scrape_configs:
                  - job_name: layercache
                    static_configs:
                      - targets: [%s]
                """.formatted(rules, String.join(", ", targets.stream().map(t -> "'" + t + "'").toList())));
        Process process = new ProcessBuilder(prometheus.toString(), "--config.file=" + config,
                "--storage.tsdb.path=" + dir.resolve("tsdb"), "--web.listen-address=127.0.0.1:" + port)
                .redirectErrorStream(true).redirectOutput(dir.resolve("prometheus.log").toFile()).start();
        PrometheusProcess started = new PrometheusProcess(process, dir, "http://127.0.0.1:" + port);
        try {
            started.awaitReady();
            return started;
        } catch (Exception | Error e) {
            started.close();
            throw e;
        }
    }

    private void awaitReady() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new AssertionError("prometheus exited: " + log());
            }
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/-/ready"))
                        .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // still starting
            }
            Thread.sleep(200);
        }
        throw new AssertionError("prometheus not ready in 60 s: " + log());
    }

    /** The API's answer to an instant query of {@code expr}. */
    public JsonNode query(String expr) throws Exception {
        return get("/api/v1/query?query=" + URLEncoder.encode(expr, StandardCharsets.UTF_8));
    }

    /** The API's answer at {@code path} ({@code /api/v1/rules}, say). */
    public JsonNode get(String path) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        return JSON.readTree(r.body());
    }

    /** Waits until {@code expr} (one sample) is at least {@code min}, for up to 60 s. */
    public double awaitAtLeast(String expr, double min) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        double last = Double.NaN;
        while (System.nanoTime() < deadline) {
            JsonNode samples = query(expr).path("data").path("result");
            if (samples.size() == 1) {
                last = Double.parseDouble(samples.get(0).path("value").get(1).asText());
                if (last >= min) {
                    return last;
                }
            }
            Thread.sleep(250);
        }
        throw new AssertionError(expr + " is " + last + " in Prometheus, not at least " + min);
    }

    public String log() throws IOException {
        return Files.readString(dir.resolve("prometheus.log"));
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
    }
}
