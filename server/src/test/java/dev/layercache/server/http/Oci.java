package dev.layercache.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.EmbeddedHttp;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.TestServer;
import dev.layercache.server.testing.TestServices;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublisher;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * A small OCI Distribution client for the HTTP tests: java.net.http where it can say what a test
 * needs, a raw socket where it cannot (HEAD responses are read to the end of the connection, so
 * every HEAD checks that no body follows the headers).
 *
 * <p>Over {@link TestServices} the same calls go, as the same bytes, through the node's HTTP
 * pipeline on an embedded channel ({@link EmbeddedHttp}) instead of a socket: a test of what the
 * API answers runs either way, and only one that needs a socket needs a whole node.
 */
final class Oci {
    static final ObjectMapper JSON = new ObjectMapper();

    static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
    static final String OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
    static final String OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
    static final String OCI_EMPTY = "application/vnd.oci.empty.v1+json";
    static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
    static final String DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
    static final String DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
    static final String DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    static final String BUILDKIT_CACHE_CONFIG = "application/vnd.buildkit.cacheconfig.v0";

    private static final HttpClient CLIENT = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .followRedirects(HttpClient.Redirect.NEVER)
            .build();

    /** A whole node, reached over sockets; null over {@link #services}. */
    private final TestServer server;
    /** A node's services, reached through the HTTP pipeline on embedded channels; null over {@link #server}. */
    private final TestServices services;

    Oci(TestServer server) {
        this.server = server;
        this.services = null;
    }

    Oci(TestServices services) {
        this.server = null;
        this.services = services;
    }

    /** A response: header names in lower case, each with all its values. */
    record Res(int status, Map<String, List<String>> headers, byte[] body) {
        String header(String name) {
            List<String> values = headers.get(name.toLowerCase(Locale.ROOT));
            return values == null || values.isEmpty() ? null : String.join(", ", values);
        }

        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }

        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("response body is not JSON: " + text(), e);
            }
        }

        @Override
        public String toString() {
            return status + " " + headers + " " + (body.length > 500 ? text().substring(0, 500) + "..." : text());
        }
    }

    /** A blob as a descriptor: what a manifest says about it. */
    record Blob(String mediaType, String digest, long size) {
        String descriptor() {
            return "{\"mediaType\":\"" + mediaType + "\",\"digest\":\"" + digest + "\",\"size\":" + size + "}";
        }
    }

    // ---- requests -------------------------------------------------------------------------

    Res send(String method, String path, BodyPublisher body, String... headers) {
        if (services != null) {
            return sendEmbedded(method, path, body, headers);
        }
        HttpRequest.Builder b = HttpRequest.newBuilder(server.uri(path))
                .timeout(Duration.ofSeconds(30))
                .method(method, body);
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        try {
            HttpResponse<byte[]> r = CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
            Map<String, List<String>> h = new LinkedHashMap<>();
            r.headers().map().forEach((k, v) -> h.put(k.toLowerCase(Locale.ROOT), v));
            return new Res(r.statusCode(), h, r.body());
        } catch (IOException e) {
            throw new UncheckedIOException(method + " " + path, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    Res get(String path, String... headers) {
        return send("GET", path, BodyPublishers.noBody(), headers);
    }

    Res delete(String path, String... headers) {
        return send("DELETE", path, BodyPublishers.noBody(), headers);
    }

    Res post(String path, byte[] body, String... headers) {
        return send("POST", path, body == null ? BodyPublishers.noBody() : BodyPublishers.ofByteArray(body), headers);
    }

    Res put(String path, byte[] body, String... headers) {
        return send("PUT", path, body == null ? BodyPublishers.noBody() : BodyPublishers.ofByteArray(body), headers);
    }

    Res patch(String path, byte[] body, String... headers) {
        return send("PATCH", path, BodyPublishers.ofByteArray(body), headers);
    }

    /** PATCH with {@code Transfer-Encoding: chunked} (the body's length is not announced) and no Content-Type. */
    Res patchChunked(String path, byte[] body, String... headers) {
        return send("PATCH", path, BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body)), headers);
    }

    /**
     * HEAD over a raw socket with {@code Connection: close}, reading everything until the server
     * closes: fails when any byte follows the headers.
     */
    Res head(String path, String... headerLines) {
        if (services != null) {
            StringBuilder req = new StringBuilder("HEAD ").append(path).append(" HTTP/1.1\r\nHost: embedded\r\n");
            for (String h : headerLines) {
                req.append(h).append("\r\n");
            }
            req.append("Connection: close\r\n\r\n");
            return headFrom(services.http().roundTrip(req.toString().getBytes(StandardCharsets.ISO_8859_1), true),
                    path);
        }
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(15_000);
            OutputStream out = s.getOutputStream();
            StringBuilder req = new StringBuilder("HEAD ").append(path).append(" HTTP/1.1\r\n")
                    .append("Host: ").append(server.hostPort()).append("\r\n");
            for (String h : headerLines) {
                req.append(h).append("\r\n");
            }
            req.append("Connection: close\r\n\r\n");
            out.write(req.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            return headFrom(s.getInputStream().readAllBytes(), path);
        } catch (IOException e) {
            throw new UncheckedIOException("HEAD " + path, e);
        }
    }

    /** The response to a HEAD, from every byte that came back: fails when any byte follows the headers. */
    private static Res headFrom(byte[] all, String path) {
        int end = indexOf(all, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        assertTrue(end > 0, "no complete response head: " + new String(all, StandardCharsets.ISO_8859_1));
        Res r = parseHead(new String(all, 0, end, StandardCharsets.ISO_8859_1));
        int trailing = all.length - end - 4;
        assertEquals(0, trailing, "HEAD " + path + " must have no body, got: "
                + new String(all, end + 4, trailing, StandardCharsets.ISO_8859_1));
        return r;
    }

    /**
     * {@link #send} through the embedded pipeline: the request java.net.http would write (a
     * {@code Content-Length}, or chunks when the body's length is unknown), read back as it would.
     */
    private Res sendEmbedded(String method, String path, BodyPublisher body, String... headers) {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < headers.length; i += 2) {
            lines.add(headers[i] + ": " + headers[i + 1]);
        }
        byte[] content = bytesOf(body);
        byte[] framed = content;
        if (body.contentLength() < 0) {
            lines.add("Transfer-Encoding: chunked");
            framed = content.length == 0 ? utf8("0\r\n\r\n") : concat(utf8(Integer.toHexString(content.length)
                    + "\r\n"), content, utf8("\r\n0\r\n\r\n"));
        } else if (content.length == 0 && (method.equals("GET") || method.equals("HEAD"))) {
            framed = null;
        }
        byte[] raw = services.http().roundTrip(EmbeddedHttp.request(method, path, lines, framed), method.equals("HEAD"));
        int end = indexOf(raw, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        assertTrue(end > 0, () -> method + " " + path + ": no complete response head: "
                + new String(raw, StandardCharsets.ISO_8859_1));
        Res head = parseHead(new String(raw, 0, end, StandardCharsets.ISO_8859_1));
        return new Res(head.status(), head.headers(), EmbeddedHttp.parse(raw, method.equals("HEAD")).body());
    }

    /** The bytes a java.net.http body publisher sends. */
    private static byte[] bytesOf(BodyPublisher body) {
        CompletableFuture<byte[]> all = new CompletableFuture<>();
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        body.subscribe(new java.util.concurrent.Flow.Subscriber<java.nio.ByteBuffer>() {
            @Override
            public void onSubscribe(java.util.concurrent.Flow.Subscription subscription) {
                subscription.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(java.nio.ByteBuffer item) {
                byte[] b = new byte[item.remaining()];
                item.get(b);
                out.writeBytes(b);
            }

            @Override
            public void onError(Throwable throwable) {
                all.completeExceptionally(throwable);
            }

            @Override
            public void onComplete() {
                all.complete(out.toByteArray());
            }
        });
        try {
            return all.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("reading a request body", e);
        }
    }

    private static byte[] concat(byte[]... parts) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    /**
     * Writes {@code head} and then {@code body} (in chunked encoding when asked) from another
     * thread while this one reads the response, as a client must when the server may answer
     * before it has read everything; a write failing after the answer is expected.
     */
    Res sendWhileReading(String head, byte[] body, boolean chunked) throws Exception {
        if (services != null) {
            throw new UnsupportedOperationException("a client writing while it reads needs a socket: use TestServer");
        }
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(15_000);
            OutputStream out = s.getOutputStream();
            out.write(head.getBytes(StandardCharsets.ISO_8859_1));
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    for (int off = 0; off < body.length; off += 65_536) {
                        int n = Math.min(65_536, body.length - off);
                        if (chunked) {
                            out.write((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
                        }
                        out.write(body, off, n);
                        if (chunked) {
                            out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
                        }
                    }
                    if (chunked) {
                        out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                    }
                    out.flush();
                } catch (IOException closedByServer) {
                    // expected once the server has answered
                }
            });
            Res r = fromReply(Http.read(s.getInputStream(), false));
            writer.get(15, TimeUnit.SECONDS);
            return r;
        }
    }

    /** One request on a new raw connection, via {@link Http#exchange}. */
    Res raw(String method, String path, List<String> headerLines, byte[] body) {
        if (services != null) {
            return fromReply(services.http().exchange(method, path, headerLines, body));
        }
        try {
            return fromReply(Http.exchange(server.port(), method, path, headerLines, body));
        } catch (IOException e) {
            throw new UncheckedIOException(method + " " + path, e);
        }
    }

    static Res fromReply(Http.Reply reply) {
        Map<String, List<String>> h = new LinkedHashMap<>();
        reply.headers().forEach((k, v) -> h.put(k, List.of(v)));
        return new Res(reply.status(), h, reply.body());
    }

    static Res parseHead(String head) {
        String[] lines = head.split("\r\n");
        int status = Integer.parseInt(lines[0].split(" ")[1]);
        Map<String, List<String>> h = new LinkedHashMap<>();
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            h.computeIfAbsent(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), k -> new ArrayList<>())
                    .add(lines[i].substring(colon + 1).trim());
        }
        return new Res(status, h, new byte[0]);
    }

    // ---- registry operations --------------------------------------------------------------

    /** Monolithic push ({@code POST ?digest=} with the body); returns the digest. */
    String pushBlob(String repo, byte[] content) {
        String digest = sha256(content);
        Res r = post("/v2/" + repo + "/blobs/uploads/?digest=" + digest, content,
                "Content-Type", "application/octet-stream");
        assertEquals(201, r.status(), () -> "pushing a blob to " + repo + ": " + r);
        return digest;
    }

    Blob pushBlob(String repo, String mediaType, byte[] content) {
        return new Blob(mediaType, pushBlob(repo, content), content.length);
    }

    /** Starts an upload session; returns its Location (a path). */
    String startUpload(String repo) {
        Res r = post("/v2/" + repo + "/blobs/uploads/", null);
        assertEquals(202, r.status(), () -> "starting an upload in " + repo + ": " + r);
        String location = r.header("Location");
        assertNotNull(location, "upload session without Location");
        return path(location);
    }

    Res putManifest(String repo, String reference, String mediaType, byte[] content) {
        return mediaType == null ? put("/v2/" + repo + "/manifests/" + reference, content)
                : put("/v2/" + repo + "/manifests/" + reference, content, "Content-Type", mediaType);
    }

    /** Pushes a manifest, asserting 201; returns its digest. */
    String pushManifest(String repo, String reference, String mediaType, byte[] content) {
        Res r = putManifest(repo, reference, mediaType, content);
        assertEquals(201, r.status(), () -> "pushing a manifest to " + repo + ":" + reference + ": " + r);
        assertEquals(sha256(content), r.header("Docker-Content-Digest"));
        return sha256(content);
    }

    /** Pushes a small OCI image (config + one layer) and its manifest under {@code tag}; returns the manifest. */
    byte[] pushImage(String repo, String tag, String seed) {
        Blob config = pushBlob(repo, OCI_CONFIG, utf8("{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\""
                + seed + "\"}"));
        Blob layer = pushBlob(repo, OCI_LAYER, utf8("layer of " + seed));
        byte[] manifest = imageManifest(OCI_MANIFEST, config, layer);
        pushManifest(repo, tag, OCI_MANIFEST, manifest);
        return manifest;
    }

    // ---- documents ------------------------------------------------------------------------

    static byte[] imageManifest(String mediaType, Blob config, Blob... layers) {
        StringBuilder s = new StringBuilder("{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"").append(mediaType)
                .append("\",\n  \"config\": ").append(config.descriptor()).append(",\n  \"layers\": [");
        for (int i = 0; i < layers.length; i++) {
            s.append(i == 0 ? "\n    " : ",\n    ").append(layers[i].descriptor());
        }
        return utf8(s.append("\n  ]\n}\n").toString());
    }

    static byte[] index(String mediaType, Blob... children) {
        StringBuilder s = new StringBuilder("{\"schemaVersion\":2,\"mediaType\":\"").append(mediaType)
                .append("\",\"manifests\":[");
        for (int i = 0; i < children.length; i++) {
            s.append(i == 0 ? "" : ",").append(children[i].descriptor());
        }
        return utf8(s.append("]}").toString());
    }

    // ---- assertions -----------------------------------------------------------------------

    /** The response is {@code status} with an OCI error body whose first code is {@code code}. */
    static void assertError(Res r, int status, String code) {
        assertEquals(status, r.status(), () -> "unexpected response: " + r);
        String type = r.header("Content-Type");
        assertTrue(type != null && type.startsWith("application/json"), () -> "error Content-Type: " + r);
        JsonNode errors = r.json().path("errors");
        assertTrue(errors.isArray() && !errors.isEmpty(), () -> "no errors array: " + r);
        assertEquals(code, errors.get(0).path("code").asText(), () -> "error code: " + r);
    }

    /** Like {@link #assertError} for statuses where the spec names no code: any non-empty code. */
    static void assertErrorBody(Res r, int status) {
        assertEquals(status, r.status(), () -> "unexpected response: " + r);
        JsonNode errors = r.json().path("errors");
        assertTrue(errors.isArray() && !errors.isEmpty() && !errors.get(0).path("code").asText().isEmpty(),
                () -> "no OCI error body: " + r);
    }

    // ---- bytes ----------------------------------------------------------------------------

    static String sha256(byte[] content) {
        return "sha256:" + hash("SHA-256", content);
    }

    static String sha512(byte[] content) {
        return "sha512:" + hash("SHA-512", content);
    }

    private static String hash(String algorithm, byte[] content) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance(algorithm).digest(content));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    static byte[] slice(byte[] b, int from, int to) {
        return Arrays.copyOfRange(b, from, to);
    }

    /** The path (and query) of a Location that may be absolute. */
    static String path(String location) {
        if (location.startsWith("http://") || location.startsWith("https://")) {
            URI u = URI.create(location);
            return u.getRawPath() + (u.getRawQuery() == null ? "" : "?" + u.getRawQuery());
        }
        return location;
    }

    /** Appends a query parameter to a path that may already have a query. */
    static String withQuery(String path, String param) {
        return path + (path.contains("?") ? "&" : "?") + param;
    }

    static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i <= haystack.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
