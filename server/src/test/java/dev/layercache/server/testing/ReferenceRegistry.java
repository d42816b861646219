package dev.layercache.server.testing;

import at.favre.lib.crypto.bcrypt.BCrypt;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The reference registry, CNCF Distribution as Debian packages it ({@code docker-registry serve}),
 * run by a test on a free port of 127.0.0.1: anonymous, with htpasswd (Basic) auth, or with token
 * auth against a {@link TokenRealm}. The test is skipped (failed in CI) when it is not installed.
 *
 * <p>Its storage and access log stay in the folder given, so a test can stop it, restart it on the
 * same port with the same content, and count the requests it served ({@link #logText()}).
 */
public final class ReferenceRegistry implements AutoCloseable {
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

    private final Path binary;
    private final Path dir;
    private final Path config;
    private final Path log;
    private final int port;
    private Process process;

    /** An image pushed by {@link #push}: digests in wire form. */
    public record Image(String repository, String tag, String manifestDigest, byte[] manifest, String mediaType,
            byte[] config, List<byte[]> layers) {
        /** Every blob a pull of the image reads: the config, then the layers. */
        public List<byte[]> blobs() {
            List<byte[]> out = new java.util.ArrayList<>(layers);
            out.add(0, config);
            return out;
        }
    }

    private ReferenceRegistry(Path binary, Path dir, String auth) throws IOException {
        this.binary = binary;
        this.dir = Files.createDirectories(dir);
        this.port = freePort();
        this.config = dir.resolve("config.yml");
        this.log = dir.resolve("registry.log");
        Files.writeString(config, "version: 0.1\nlog:\n  level: info\n  formatter: text\n"
                + "storage:\n  filesystem:\n    rootdirectory: " + dir.resolve("storage") + "\n"
                + "  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n"
                + "http:\n  addr: 127.0.0.1:" + port + "\n" + auth);
    }

    /** Anonymous: anyone pulls and pushes. */
    public static ReferenceRegistry start(Path dir) throws IOException, InterruptedException {
        return started(new ReferenceRegistry(binary(), dir, ""));
    }

    /** Basic auth against these users and passwords (an htpasswd file of bcrypt hashes, as Distribution requires). */
    public static ReferenceRegistry startWithHtpasswd(Path dir, Map<String, String> users)
            throws IOException, InterruptedException {
        Path binary = binary();
        Files.createDirectories(dir);
        StringBuilder lines = new StringBuilder();
        for (Map.Entry<String, String> u : users.entrySet()) {
            lines.append(u.getKey()).append(':')
                    .append(BCrypt.with(BCrypt.Version.VERSION_2Y).hashToString(4, u.getValue().toCharArray()))
                    .append('\n');
        }
        Path htpasswd = Files.writeString(dir.resolve("htpasswd"), lines);
        return started(new ReferenceRegistry(binary, dir, "auth:\n  htpasswd:\n    realm: reference-registry\n"
                + "    path: " + htpasswd + "\n"));
    }

    /** Token auth: Distribution accepts only JWTs signed by {@code realm}'s key, for its service. */
    public static ReferenceRegistry startWithTokens(Path dir, TokenRealm realm) throws IOException, InterruptedException {
        return started(new ReferenceRegistry(binary(), dir, "auth:\n  token:\n    realm: " + realm.url() + "\n"
                + "    service: " + realm.service() + "\n    issuer: " + realm.issuer() + "\n"
                + "    rootcertbundle: " + realm.rootCertificates() + "\n"));
    }

    private static Path binary() {
        return RealTools.require("docker-registry", "CNCF Distribution is the reference upstream registry");
    }

    private static ReferenceRegistry started(ReferenceRegistry r) throws IOException, InterruptedException {
        r.restart();
        return r;
    }

    /** Starts it again (after {@link #stop()}) on the same port, with the same content. */
    public void restart() throws IOException, InterruptedException {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException("already running");
        }
        process = new ProcessBuilder(binary.toString(), "serve", config.toString()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            try {
                int status = HTTP.send(HttpRequest.newBuilder(url().resolve("/v2/")).timeout(Duration.ofSeconds(5))
                        .build(), HttpResponse.BodyHandlers.discarding()).statusCode();
                if (status == 200 || status == 401) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            if (!process.isAlive()) {
                throw new IllegalStateException("docker-registry exited: " + logText());
            }
            Thread.sleep(50);
        }
        stop();
        throw new IllegalStateException("docker-registry did not answer within 20 s: " + logText());
    }

    /** Stops it and waits until it has exited: its port refuses connections after. */
    public void stop() throws InterruptedException {
        if (process == null) {
            return;
        }
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        process = null;
    }

    @Override
    public void close() throws InterruptedException {
        stop();
    }

    /** {@code http://127.0.0.1:PORT}, without {@code /v2/}. */
    public URI url() {
        return URI.create("http://127.0.0.1:" + port);
    }

    public int port() {
        return port;
    }

    /** Its log so far, access log included (one line per request: {@code "GET /v2/... HTTP/1.1" 200}). */
    public String logText() {
        try {
            return Files.exists(log) ? Files.readString(log) : "";
        } catch (IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }

    /**
     * How many requests of {@code method} to paths starting with {@code pathPrefix} the access log
     * shows, once it has settled: Distribution writes a request's line after its answer, so a
     * client can be done a moment before the line is there. The log is read until two reads 50 ms
     * apart agree (at most 2 s).
     */
    public long requests(String method, String pathPrefix) {
        String needle = "\"" + method + " " + pathPrefix;
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(2);
        long count = logText().lines().filter(l -> l.contains(needle)).count();
        while (System.nanoTime() < deadline) {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            long again = logText().lines().filter(l -> l.contains(needle)).count();
            if (again == count) {
                break;
            }
            count = again;
        }
        return count;
    }

    /**
     * Pushes an OCI image of {@code config} and {@code layers} as {@code repository:tag} over the
     * registry API, each blob with {@code POST} then {@code PUT ?digest=}.
     *
     * @param authorization the {@code Authorization} value to send, or null
     */
    public Image push(String repository, String tag, String authorization, byte[] config, byte[]... layers)
            throws IOException, InterruptedException {
        pushBlob(repository, config, authorization);
        for (byte[] layer : layers) {
            pushBlob(repository, layer, authorization);
        }
        byte[] manifest = Registry.imageManifest(config, layers).getBytes(StandardCharsets.UTF_8);
        putManifest(repository, tag, OCI_MANIFEST, manifest, authorization);
        return new Image(repository, tag, Registry.sha256(manifest), manifest, OCI_MANIFEST, config, List.of(layers));
    }

    /** Puts {@code manifest} as {@code repository:reference}; fails unless Distribution answers 201. */
    public void putManifest(String repository, String reference, String mediaType, byte[] manifest,
            String authorization) throws IOException, InterruptedException {
        HttpResponse<String> put = send(HttpRequest.newBuilder(url().resolve("/v2/" + repository + "/manifests/" + reference))
                .PUT(HttpRequest.BodyPublishers.ofByteArray(manifest)).header("Content-Type", mediaType), authorization);
        expect(201, put, "PUT manifest");
    }

    /** Basic credentials as an {@code Authorization} value. */
    public static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    private void pushBlob(String repository, byte[] content, String authorization) throws IOException, InterruptedException {
        HttpResponse<String> post = send(HttpRequest.newBuilder(url().resolve("/v2/" + repository + "/blobs/uploads/"))
                .POST(HttpRequest.BodyPublishers.noBody()), authorization);
        expect(202, post, "POST upload");
        URI location = url().resolve(post.headers().firstValue("Location").orElseThrow());
        String sep = location.getRawQuery() == null ? "?" : "&";
        HttpResponse<String> put = send(HttpRequest.newBuilder(URI.create(location + sep + "digest=" + Registry.sha256(content)))
                .PUT(HttpRequest.BodyPublishers.ofByteArray(content)).header("Content-Type", "application/octet-stream"),
                authorization);
        expect(201, put, "PUT blob");
    }

    private static HttpResponse<String> send(HttpRequest.Builder request, String authorization)
            throws IOException, InterruptedException {
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return HTTP.send(request.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static void expect(int status, HttpResponse<String> r, String what) {
        if (r.statusCode() != status) {
            throw new IllegalStateException(what + " " + r.uri().getPath() + " answered " + r.statusCode() + ": " + r.body());
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
