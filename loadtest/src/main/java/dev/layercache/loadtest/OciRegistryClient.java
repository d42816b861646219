package dev.layercache.loadtest;

import dev.layercache.client.BlobSource;
import dev.layercache.client.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublisher;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * The requests of the OCI Distribution API that registry clients make for a build cache, over
 * {@link HttpClient} (HTTP/1.1, kept-alive connections shared by the builders). Layer bodies
 * stream both ways and are never held in memory: uploads read a {@link BlobSource}, downloads are
 * hashed as they arrive and dropped. Manifests and configs are small and read whole.
 *
 * <p>Any answer other than the one the specification gives for success (or 404 where that
 * means "absent") is an {@link OciException}, with the status and the start of the error body.
 */
final class OciRegistryClient {
    /** Small requests (manifests, HEAD, starting an upload) must answer within this. */
    private static final Duration SMALL_REQUEST_TIMEOUT = Duration.ofSeconds(60);
    private static final int ERROR_BODY_CHARS = 300;

    /** How a client uploads one blob. */
    enum UploadStyle {
        /**
         * {@code POST}, one {@code PATCH} with the whole blob in chunked transfer encoding, then
         * {@code PUT ?digest=} with no body: what docker, buildah and skopeo send.
         */
        POST_PATCH_PUT,
        /** {@code POST}, then one {@code PUT ?digest=} with the whole blob: what BuildKit's pusher sends. */
        POST_PUT
    }

    private final URI base;
    private final HttpClient http;

    OciRegistryClient(URI base) {
        String b = base.toString();
        this.base = URI.create(b.endsWith("/") ? b : b + "/");
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).followRedirects(HttpClient.Redirect.NORMAL).build();
    }

    /** A manifest as the registry served it. */
    record Manifest(String digest, String mediaType, byte[] body) {
    }

    /** {@code GET /v2/}, the version check every client makes first. */
    void checkApi() throws IOException, InterruptedException {
        HttpResponse<byte[]> r = send(HttpRequest.newBuilder(base.resolve("v2/")).timeout(SMALL_REQUEST_TIMEOUT).GET(),
                BodyHandlers.ofByteArray());
        expect(r, 200, "GET " + base + "v2/ (the simulator sends no credentials)", r.body());
    }

    /**
     * {@code HEAD /v2/REPO/manifests/REF} with one comma-joined {@code Accept} line (as
     * containerd resolves a tag): the manifest's digest, or empty when absent.
     */
    Optional<String> headManifest(String repository, String reference, String accept)
            throws IOException, InterruptedException {
        HttpResponse<Void> r = send(request(repository, "manifests/" + reference).header("Accept", accept)
                .method("HEAD", BodyPublishers.noBody()), BodyHandlers.discarding());
        if (r.statusCode() == 404) {
            return Optional.empty();
        }
        expect(r, 200, "HEAD manifest " + repository + ":" + reference, null);
        return Optional.of(r.headers().firstValue("Docker-Content-Digest").orElse(""));
    }

    /**
     * {@code GET /v2/REPO/manifests/REF} with one {@code Accept} line per media type (as buildah
     * and skopeo send them): the manifest, or empty when absent (a build cache's miss).
     */
    Optional<Manifest> getManifest(String repository, String reference, List<String> acceptLines)
            throws IOException, InterruptedException {
        HttpRequest.Builder b = request(repository, "manifests/" + reference).GET();
        acceptLines.forEach(a -> b.header("Accept", a));
        HttpResponse<byte[]> r = send(b, BodyHandlers.ofByteArray());
        if (r.statusCode() == 404) {
            return Optional.empty();
        }
        expect(r, 200, "GET manifest " + repository + ":" + reference, r.body());
        String digest = r.headers().firstValue("Docker-Content-Digest")
                .orElseGet(() -> Digest.sha256(r.body()).toString());
        return Optional.of(new Manifest(digest, r.headers().firstValue("Content-Type").orElse(""), r.body()));
    }

    /** {@code PUT /v2/REPO/manifests/REF}. */
    void putManifest(String repository, String reference, String mediaType, byte[] body)
            throws IOException, InterruptedException {
        HttpResponse<byte[]> r = send(request(repository, "manifests/" + reference).header("Content-Type", mediaType)
                .PUT(BodyPublishers.ofByteArray(body)), BodyHandlers.ofByteArray());
        expect(r, 201, "PUT manifest " + repository + ":" + reference, r.body());
    }

    /** {@code HEAD /v2/REPO/blobs/DIGEST}: whether the repository has the blob (every client asks before pushing). */
    boolean blobExists(String repository, Digest digest) throws IOException, InterruptedException {
        HttpResponse<Void> r = send(request(repository, "blobs/" + digest).method("HEAD", BodyPublishers.noBody()),
                BodyHandlers.discarding());
        if (r.statusCode() == 404) {
            return false;
        }
        expect(r, 200, "HEAD blob " + digest, null);
        return true;
    }

    /** Uploads a blob of {@code size} bytes read from {@code source}, in {@code style}. */
    void pushBlob(String repository, Digest digest, long size, BlobSource source, UploadStyle style)
            throws IOException, InterruptedException {
        HttpResponse<byte[]> started = send(request(repository, "blobs/uploads/").POST(BodyPublishers.noBody()),
                BodyHandlers.ofByteArray());
        expect(started, 202, "POST upload in " + repository, started.body());
        URI location = location(started);
        BodyPublisher blob = BodyPublishers.ofInputStream(() -> open(source));
        if (style == UploadStyle.POST_PATCH_PUT) {
            // No length: HttpClient sends the body chunked, as docker and buildah do.
            HttpResponse<byte[]> patched = send(HttpRequest.newBuilder(location)
                    .header("Content-Type", "application/octet-stream").method("PATCH", blob), BodyHandlers.ofByteArray());
            expect(patched, 202, "PATCH upload of " + digest, patched.body());
            location = location(patched);
            blob = BodyPublishers.noBody();
        } else {
            blob = BodyPublishers.fromPublisher(blob, size);
        }
        HttpResponse<byte[]> done = send(HttpRequest.newBuilder(withDigest(location, digest))
                .header("Content-Type", "application/octet-stream").PUT(blob), BodyHandlers.ofByteArray());
        expect(done, 201, "PUT upload of " + digest, done.body());
    }

    /**
     * {@code GET /v2/REPO/blobs/DIGEST}, hashing the body as it arrives and dropping it: returns
     * its size once it verified against {@code digest} and {@code size}.
     *
     * @throws IOException when the bytes do not verify
     */
    long fetchBlob(String repository, Digest digest, long size) throws IOException, InterruptedException {
        HttpResponse<InputStream> r = send(HttpRequest.newBuilder(blobUri(repository, digest)).GET(),
                BodyHandlers.ofInputStream());
        try (InputStream in = r.body()) {
            if (r.statusCode() != 200) {
                expect(r, 200, "GET blob " + digest, in.readNBytes(ERROR_BODY_CHARS));
            }
            MessageDigest sha = digest.algorithm().newMessageDigest();
            byte[] buffer = new byte[64 << 10];
            long total = 0;
            for (int n; (n = in.read(buffer)) >= 0; ) {
                sha.update(buffer, 0, n);
                total += n;
            }
            Digest got = Digest.of(digest.algorithm(), sha.digest());
            if (total != size || !got.equals(digest)) {
                throw new IOException("GET blob " + digest + " gave " + total + " bytes hashing to " + got
                        + ", not " + size + " bytes");
            }
            return total;
        }
    }

    /** A small blob (a config) read whole, verified against {@code digest}. */
    byte[] getSmallBlob(String repository, Digest digest) throws IOException, InterruptedException {
        return findSmallBlob(repository, digest, false).orElseThrow();
    }

    /**
     * As {@link #getSmallBlob}; with {@code absentIsEmpty}, empty when the registry answers 404
     * (a registry that evicts may have let it go).
     */
    Optional<byte[]> findSmallBlob(String repository, Digest digest, boolean absentIsEmpty)
            throws IOException, InterruptedException {
        HttpResponse<byte[]> r = send(HttpRequest.newBuilder(blobUri(repository, digest)).timeout(SMALL_REQUEST_TIMEOUT)
                .GET(), BodyHandlers.ofByteArray());
        if (absentIsEmpty && r.statusCode() == 404) {
            return Optional.empty();
        }
        expect(r, 200, "GET blob " + digest, r.body());
        if (!Digest.sha256(r.body()).equals(digest)) {
            throw new IOException("GET blob " + digest + " gave bytes hashing to " + Digest.sha256(r.body()));
        }
        return Optional.of(r.body());
    }

    private HttpRequest.Builder request(String repository, String path) {
        return HttpRequest.newBuilder(base.resolve("v2/" + repository + "/" + path)).timeout(SMALL_REQUEST_TIMEOUT);
    }

    private URI blobUri(String repository, Digest digest) {
        return base.resolve("v2/" + repository + "/blobs/" + digest);
    }

    private <T> HttpResponse<T> send(HttpRequest.Builder request, HttpResponse.BodyHandler<T> handler)
            throws IOException, InterruptedException {
        return http.send(request.build(), handler);
    }

    private URI location(HttpResponse<?> r) throws OciException {
        String location = r.headers().firstValue("Location")
                .orElseThrow(() -> new OciException(r.request().method() + " " + r.uri() + " answered "
                        + r.statusCode() + " without a Location"));
        return r.uri().resolve(location);
    }

    private static URI withDigest(URI location, Digest digest) {
        String l = location.toString();
        return URI.create(l + (l.contains("?") ? "&" : "?") + "digest=" + digest);
    }

    private static InputStream open(BlobSource source) {
        try {
            return source.open(0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void expect(HttpResponse<?> r, int status, String what, byte[] body) throws OciException {
        if (r.statusCode() != status) {
            String text = body == null ? "" : new String(body, 0, Math.min(body.length, ERROR_BODY_CHARS),
                    StandardCharsets.UTF_8);
            throw new OciException(what + ": HTTP " + r.statusCode() + " (expected " + status + ")"
                    + (text.isBlank() ? "" : ": " + text.strip()));
        }
    }

    /** The registry answered something a registry client would not accept. */
    static final class OciException extends IOException {
        private static final long serialVersionUID = 1L;

        OciException(String message) {
            super(message);
        }
    }
}
