package dev.layercache.client.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;

/**
 * The server's HTTP administration API ({@code /api/v1/...} on the OCI port), for the commands
 * that look after the store rather than the cache: {@code store}, {@code gc}, {@code purge}, {@code analyze},
 * {@code sharing} and {@code builds}.
 */
final class AdminHttp {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The base URL, as given (for messages). */
    private final String http;
    private final String token;

    AdminHttp(String http, String token) {
        this.http = http;
        this.token = token;
    }

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
        return URI.create(base(http) + path);
    }

    /**
     * The base URL of {@code --http}: {@code http://} is assumed when there is no scheme, as people
     * write "127.0.0.1:5000" (which {@link URI} would read as the scheme "127.0.0.1").
     */
    static URI base(String http) {
        String s = http.trim();
        while (s.endsWith("/")) {
            s = s.substring(0, s.length() - 1);
        }
        if (!s.contains("://")) {
            s = "http://" + s;
        }
        try {
            URI base = new URI(s);
            if (!("http".equalsIgnoreCase(base.getScheme()) || "https".equalsIgnoreCase(base.getScheme()))
                    || base.getHost() == null) {
                throw new URISyntaxException(s, "not an http(s) URL");
            }
            return base;
        } catch (URISyntaxException e) {
            throw new CliException(ExitCodes.INVALID, "--http " + http + " is not a URL of the server's HTTP port"
                    + " (want http://HOST:PORT, such as " + GlobalOptions.DEFAULT_HTTP + ")");
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
            throw new CliException(ExitCodes.UNREACHABLE, "cannot reach " + base(http) + ": " + WrongPort.cause(e));
        } catch (IOException e) {
            // Not an HTTP/1.1 answer: most often the gRPC port, which answers with HTTP/2 frames.
            URI base = base(http);
            if (WrongPort.speaksHttp2(base)) {
                throw new CliException(ExitCodes.UNREACHABLE, base + " answered in HTTP/2 frames: is this the gRPC port?"
                        + " --http wants the node's HTTP port (--http-port, 5000 by default); the gRPC port goes to"
                        + " --target");
            }
            throw new CliException(ExitCodes.UNREACHABLE, "cannot talk HTTP to " + base + ": " + WrongPort.cause(e));
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
            throw new CliException(exit, base(http) + " answered " + r.statusCode() + ": " + body);
        }
        try {
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new CliException(ExitCodes.SERVER, base(http) + " answered something other than JSON"
                    + " (is it a layercache node's HTTP port?)");
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
