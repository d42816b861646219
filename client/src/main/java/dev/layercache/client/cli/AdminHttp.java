package dev.layercache.client.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import picocli.CommandLine.Option;

/**
 * The server's HTTP administration API ({@code /api/v1/...} on the OCI port), for the commands
 * that look after the store rather than the cache: {@code store}, {@code gc}, {@code purge}, {@code analyze},
 * {@code sharing} and {@code builds}.
 */
final class AdminHttp {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--http", paramLabel = "URL", defaultValue = "${env:LAYERCACHE_HTTP:-http://127.0.0.1:5000}",
            description = "The server's HTTP (OCI) address (default: ${DEFAULT-VALUE}, or $LAYERCACHE_HTTP).")
    String http;

    @Option(names = "--token", paramLabel = "TOKEN", defaultValue = "${env:LAYERCACHE_TOKEN}",
            description = "Bearer token sent with the request (default: $LAYERCACHE_TOKEN).")
    String token;

    JsonNode get(String path) {
        return send(HttpRequest.newBuilder(uri(path)).GET());
    }

    JsonNode post(String path) {
        return send(HttpRequest.newBuilder(uri(path)).POST(HttpRequest.BodyPublishers.noBody()));
    }

    JsonNode delete(String path) {
        return send(HttpRequest.newBuilder(uri(path)).DELETE());
    }

    private URI uri(String path) {
        try {
            URI base = URI.create(http.endsWith("/") ? http.substring(0, http.length() - 1) : http);
            if (base.getScheme() == null || base.getHost() == null) {
                throw new IllegalArgumentException("not an http(s) URL");
            }
            return URI.create(base + path);
        } catch (IllegalArgumentException e) {
            throw new CliException(ExitCodes.INVALID, "--http " + http + ": " + e.getMessage());
        }
    }

    private JsonNode send(HttpRequest.Builder request) {
        if (token != null && !token.isEmpty()) {
            request.header("Authorization", "Bearer " + token);
        }
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        HttpResponse<byte[]> r;
        try {
            r = client.send(request.timeout(Duration.ofMinutes(30)).build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (ConnectException | HttpTimeoutException e) {
            throw new CliException(ExitCodes.UNREACHABLE, "cannot reach " + http + ": " + e.getMessage());
        } catch (IOException e) {
            throw new CliException(ExitCodes.UNREACHABLE, "cannot talk to " + http + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException(ExitCodes.SERVER, "interrupted");
        }
        if (r.statusCode() != 200) {
            String body = new String(r.body(), java.nio.charset.StandardCharsets.UTF_8).trim();
            try {
                // An OCI error body: its message says it best.
                JsonNode err = JSON.readTree(r.body()).path("errors").path(0);
                if (err.has("message")) {
                    body = err.path("code").asText() + ": " + err.path("message").asText();
                }
            } catch (IOException notJson) {
                // keep the body as it is
            }
            if (r.statusCode() == 401) {
                body += token == null || token.isEmpty()
                        ? " (give credentials with --token TOKEN or $LAYERCACHE_TOKEN)"
                        : " (the server refused the token of --token or $LAYERCACHE_TOKEN)";
            }
            // 400 is the server saying the request was wrong (a malformed name, a bad parameter):
            // invalid input, as INVALID_ARGUMENT is over gRPC.
            int exit = switch (r.statusCode()) {
                case 400 -> ExitCodes.INVALID;
                case 404 -> ExitCodes.NOT_FOUND;
                default -> ExitCodes.SERVER;
            };
            throw new CliException(exit, http + " answered " + r.statusCode() + ": " + body);
        }
        try {
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new CliException(ExitCodes.SERVER, http + " answered something other than JSON");
        }
    }

    static String json(JsonNode node) {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(node);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** 1536 -> "1.5 KiB". */
    static String bytes(long n) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? n + " B" : String.format(java.util.Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
