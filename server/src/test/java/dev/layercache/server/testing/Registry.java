package dev.layercache.server.testing;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;

/** A few OCI client calls for tests that need content in a server, not to test the calls themselves. */
public final class Registry {
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private final String base;

    public Registry(int port) {
        this.base = "http://127.0.0.1:" + port;
    }

    public static String sha256(byte[] bytes) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Monolithic upload; returns the HTTP status. */
    public int pushBlob(String repo, byte[] content) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(URI.create(base + "/v2/" + repo + "/blobs/uploads/?digest=" + sha256(content)))
                .POST(HttpRequest.BodyPublishers.ofByteArray(content))
                .header("Content-Type", "application/octet-stream")).statusCode();
    }

    /** Pushes an OCI image manifest for {@code config} and {@code layers} (already pushed); returns its JSON. */
    public static String imageManifest(byte[] config, byte[]... layers) {
        StringBuilder sb = new StringBuilder();
        sb.append("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",")
                .append("\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"")
                .append(sha256(config)).append("\",\"size\":").append(config.length).append("},\"layers\":[");
        for (int i = 0; i < layers.length; i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"")
                    .append(sha256(layers[i])).append("\",\"size\":").append(layers[i].length).append('}');
        }
        return sb.append("]}").toString();
    }

    public int pushManifest(String repo, String reference, String mediaType, String json)
            throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(URI.create(base + "/v2/" + repo + "/manifests/" + reference))
                .PUT(HttpRequest.BodyPublishers.ofString(json)).header("Content-Type", mediaType)).statusCode();
    }

    /** The address of {@code path} on this registry. */
    public URI uri(String path) {
        return URI.create(base + path);
    }

    public HttpResponse<byte[]> get(String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).GET().build(),
                HttpResponse.BodyHandlers.ofByteArray());
    }

    public int head(String path) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(URI.create(base + path)).method("HEAD", HttpRequest.BodyPublishers.noBody()))
                .statusCode();
    }

    public HttpResponse<byte[]> send(HttpRequest.Builder request) throws IOException, InterruptedException {
        return http.send(request.timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    public static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
