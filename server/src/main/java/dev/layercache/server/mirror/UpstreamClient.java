package dev.layercache.server.mirror;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.core.Digest;
import dev.layercache.server.mirror.UpstreamException.Kind;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.regex.Pattern;

/**
 * The mirror's only way to talk to an upstream registry: the three reads of the OCI Distribution
 * API a pull-through mirror needs ({@code HEAD} and {@code GET} of a manifest, {@code GET} of a
 * blob), signed in as the upstream asks ({@link UpstreamAuth}), with every failure turned into one
 * {@link UpstreamException} whose {@link Kind} tells the mirror whether to serve a stale copy.
 *
 * <p>Status mapping: 404 is {@link Kind#NOT_FOUND}, 429 {@link Kind#RATE_LIMITED}, 5xx
 * {@link Kind#SERVER_ERROR}, 401 or 403 after signing in {@link Kind#DENIED}, any other status
 * {@link Kind#INVALID}; no connection (refused, reset, DNS, TLS) is {@link Kind#UNREACHABLE}, no
 * answer within {@link Timeouts#answer()} is {@link Kind#TIMEOUT}. Messages name the upstream, the
 * method and the path, never a credential.
 *
 * <p>Redirects ({@code 301 302 303 307 308}, as Docker Hub sends blobs to a CDN) are followed up
 * to five times; the {@code Authorization} header goes only to the upstream's own origin (scheme,
 * host and port), so a CDN never sees the upstream's token or password.
 *
 * <p>Thread-safe; one instance per upstream, shared by all requests (it keeps the connections and
 * the tokens). It is the mirror service's {@link Upstream}; the four adapter methods put this file a
 * little over 400 lines, kept here rather than in a wrapper class that would only forward.
 */
public final class UpstreamClient implements Upstream {
    static final String USER_AGENT = "layercache-mirror";
    private static final int MAX_REDIRECTS = 5;
    /** Of an error answer, enough to read the registry's error code. */
    private static final int ERROR_BODY_LIMIT = 4096;
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Path components the client puts into URLs; the mirror validates names at its edge, this only guards the URL. */
    private static final Pattern REPOSITORY = Pattern.compile("[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*");
    private static final Pattern TAG = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]{0,127}");

    /**
     * How long the client waits.
     *
     * @param connect  for a connection (TCP and TLS)
     * @param answer   for the answer's status and headers, once the request is sent
     * @param idleBody for the next bytes of a body being read: a stalled read fails after this
     */
    public record Timeouts(Duration connect, Duration answer, Duration idleBody) {
        public static final Timeouts DEFAULTS =
                new Timeouts(Duration.ofSeconds(5), Duration.ofSeconds(15), Duration.ofSeconds(30));

        public Timeouts {
            Objects.requireNonNull(connect, "connect");
            Objects.requireNonNull(answer, "answer");
            Objects.requireNonNull(idleBody, "idleBody");
        }
    }

    /** What a {@code HEAD} of a manifest tells: its digest, media type and size ({@code -1} when not given). */
    public record ManifestHead(Digest digest, String mediaType, long size) {
    }

    /** A manifest read whole, its digest verified against its bytes. */
    public record FetchedManifest(Digest digest, String mediaType, byte[] content) {
    }

    /**
     * A blob's body, not yet read: the caller hashes it while reading and closes it. Reads throw
     * {@link SocketTimeoutException} when no byte comes for {@link Timeouts#idleBody()}, another
     * {@link IOException} when the connection breaks ({@link #failure} maps either to a kind).
     *
     * @param length the declared {@code Content-Length}, or -1
     */
    public record BlobBody(InputStream stream, long length) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            stream.close();
        }
    }

    private final UpstreamSettings upstream;
    private final String base;
    private final Timeouts timeouts;
    private final HttpClient http;
    private final UpstreamAuth auth;
    private final Clock clock;

    /** A client with {@link Timeouts#DEFAULTS}. */
    public UpstreamClient(UpstreamSettings upstream, Clock clock) {
        this(upstream, clock, Timeouts.DEFAULTS);
    }

    /** A client with its own {@link HttpClient} (HTTP/1.1: registries and CDNs speak it everywhere). */
    public UpstreamClient(UpstreamSettings upstream, Clock clock, Timeouts timeouts) {
        this.upstream = Objects.requireNonNull(upstream, "upstream");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.timeouts = Objects.requireNonNull(timeouts, "timeouts");
        String url = upstream.url().toString();
        this.base = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
        // Redirects are followed by hand: the JDK would carry Authorization to whatever host it is sent to.
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(timeouts.connect()).followRedirects(HttpClient.Redirect.NEVER).build();
        this.auth = new UpstreamAuth(upstream, http, timeouts, clock);
    }

    /** The upstream's name ({@code docker.io}). */
    @Override
    public String name() {
        return upstream.name();
    }

    @Override
    public Duration revalidate() {
        return upstream.revalidate();
    }

    @Override
    public Head head(String repository, String reference, List<String> accept) throws UpstreamException {
        ManifestHead h = headManifest(repository, reference, accept);
        return new Head(h.digest(), h.mediaType(), h.size());
    }

    @Override
    public Fetched get(String repository, String reference, List<String> accept, int maxBytes) throws UpstreamException {
        FetchedManifest f = getManifest(repository, reference, accept, maxBytes);
        return new Fetched(f.digest(), f.mediaType(), f.content());
    }

    @Override
    public Body blob(String repository, Digest digest) throws UpstreamException {
        BlobBody b = getBlob(repository, digest);
        return new Body(b.stream(), b.length());
    }

    /**
     * {@code HEAD /v2/<repository>/manifests/<reference>} with this {@code Accept} list: the
     * manifest's digest ({@code Docker-Content-Digest}, required), media type and size.
     */
    public ManifestHead headManifest(String repository, String reference, List<String> accept) throws UpstreamException {
        String path = manifestPath(repository, reference);
        HttpResponse<InputStream> r = exchange("HEAD", path, repository, accept);
        closeQuietly(r.body());
        String digest = r.headers().firstValue("Docker-Content-Digest").orElse(null);
        if (digest == null || !Digest.isValid(digest)) {
            throw new UpstreamException(Kind.INVALID, r.statusCode(), "upstream " + name() + ": HEAD " + path
                    + (digest == null ? " answered without Docker-Content-Digest" : " answered an invalid Docker-Content-Digest"));
        }
        return new ManifestHead(Digest.parse(digest), mediaType(r, null, path), length(r));
    }

    /** {@code HEAD /v2/<repository>/blobs/<digest>}: the blob's size, or -1 when the upstream does not say. */
    @Override
    public long blobSize(String repository, Digest digest) throws UpstreamException {
        String path = "/v2/" + checkRepository(repository) + "/blobs/" + digest;
        HttpResponse<InputStream> r = exchange("HEAD", path, repository, List.of());
        closeQuietly(r.body());
        return length(r);
    }

    /**
     * {@code GET /v2/<repository>/manifests/<reference>}: the manifest whole, at most
     * {@code maxBytes} ({@link Kind#INVALID} beyond). Its digest is checked against its bytes: against
     * {@code reference} when that is a digest, against {@code Docker-Content-Digest} when the upstream
     * sends one (either mismatch is {@link Kind#INVALID}); a manifest read by tag without that header
     * gets its SHA-256.
     */
    public FetchedManifest getManifest(String repository, String reference, List<String> accept, int maxBytes)
            throws UpstreamException {
        String path = manifestPath(repository, reference);
        HttpResponse<InputStream> r = exchange("GET", path, repository, accept);
        byte[] content;
        try (InputStream in = r.body()) {
            long declared = length(r);
            if (declared > maxBytes) {
                throw tooLarge(path, maxBytes);
            }
            content = in.readNBytes(maxBytes + 1);
        } catch (IOException e) {
            throw failure(name(), "GET " + path, e);
        }
        if (content.length > maxBytes) {
            throw tooLarge(path, maxBytes);
        }
        Digest expected = Digest.isValid(reference) ? Digest.parse(reference) : null;
        String header = r.headers().firstValue("Docker-Content-Digest").orElse(null);
        if (expected == null && header != null && Digest.isValid(header)) {
            expected = Digest.parse(header);
        }
        Digest actual = expected == null ? Digest.sha256(content)
                : Digest.of(expected.algorithm(), expected.algorithm().newMessageDigest().digest(content));
        if (expected != null && !expected.equals(actual)) {
            throw new UpstreamException(Kind.INVALID, r.statusCode(), "upstream " + name() + ": GET " + path
                    + " answered a manifest whose digest is " + actual + ", not " + expected);
        }
        return new FetchedManifest(actual, mediaType(r, content, path), content);
    }

    /**
     * {@code GET /v2/<repository>/blobs/<digest>}, following redirects: the body as a stream, not
     * yet read nor verified (the caller hashes it and closes it), and its declared length or -1.
     */
    public BlobBody getBlob(String repository, Digest digest) throws UpstreamException {
        Objects.requireNonNull(digest, "digest");
        String path = "/v2/" + checkRepository(repository) + "/blobs/" + digest;
        HttpResponse<InputStream> r = exchange("GET", path, repository, List.of());
        return new BlobBody(r.body(), length(r));
    }

    /**
     * The kind of a failure while talking to an upstream (or reading a {@link BlobBody}): a stalled
     * read or an answer that did not come in time is {@link Kind#TIMEOUT}, anything else (refused,
     * reset, DNS, TLS, a connection that broke) {@link Kind#UNREACHABLE}.
     *
     * @param what what was being done, for the message ("GET /v2/library/busybox/blobs/sha256:...")
     */
    public static UpstreamException failure(String upstreamName, String what, IOException e) {
        String prefix = "upstream " + upstreamName + ": " + what;
        if (e instanceof HttpConnectTimeoutException) {
            return new UpstreamException(Kind.UNREACHABLE, 0, prefix + ": no connection in time", e);
        }
        if (e instanceof HttpTimeoutException) {
            return new UpstreamException(Kind.TIMEOUT, 0, prefix + ": no answer in time", e);
        }
        if (e instanceof SocketTimeoutException) {
            return new UpstreamException(Kind.TIMEOUT, 0, prefix + ": the body stalled", e);
        }
        return new UpstreamException(Kind.UNREACHABLE, 0, prefix + ": " + e.getClass().getSimpleName()
                + (e.getMessage() == null ? "" : " " + e.getMessage()), e);
    }

    /** The kind of an error status (neither 200 nor 401). */
    static Kind kindOf(int status) {
        if (status == 404) {
            return Kind.NOT_FOUND;
        }
        if (status == 429) {
            return Kind.RATE_LIMITED;
        }
        if (status >= 500 && status <= 599) {
            return Kind.SERVER_ERROR;
        }
        if (status == 401 || status == 403) {
            return Kind.DENIED;
        }
        return Kind.INVALID;
    }

    // --- one request, signed in, redirects followed, anything but 200 turned into an exception

    /** A {@code 200} answer to {@code method path}, its body open; anything else as an {@link UpstreamException}. */
    private HttpResponse<InputStream> exchange(String method, String path, String repository, List<String> accept)
            throws UpstreamException {
        String authorization = auth.authorization(repository);
        Answer answer = follow(method, path, accept, authorization);
        if (answer.response.statusCode() == 401 && !answer.foreign) {
            List<String> challenges = answer.response.headers().allValues("WWW-Authenticate");
            drain(answer.response);
            authorization = auth.afterChallenge(challenges, repository, authorization);
            answer = follow(method, path, accept, authorization);
        }
        HttpResponse<InputStream> r = answer.response;
        if (r.statusCode() == 200) {
            return r;
        }
        String code = errorCode(r);
        throw new UpstreamException(kindOf(r.statusCode()), r.statusCode(), "upstream " + name() + ": " + method + " "
                + path + " answered " + r.statusCode() + (code == null ? "" : " " + code)
                + (answer.foreign ? " (redirected to " + answer.uri.getHost() + ")" : ""))
                .retryAfter(r.statusCode() == 429 ? retryAfter(r.headers().firstValue("Retry-After").orElse(null)) : null);
    }

    /**
     * A {@code Retry-After} value (RFC 9110: delay seconds or an HTTP date) as a wait from now;
     * null when absent or unreadable.
     */
    Duration retryAfter(String value) {
        if (value == null || value.isBlank()) {
            return null;
        }
        String v = value.trim();
        try {
            long seconds = Long.parseLong(v);
            return seconds < 0 ? null : Duration.ofSeconds(seconds);
        } catch (NumberFormatException notSeconds) {
            try {
                java.time.Instant when = java.time.ZonedDateTime.parse(v, java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME)
                        .toInstant();
                Duration wait = Duration.between(clock.instant(), when);
                return wait.isNegative() ? Duration.ZERO : wait;
            } catch (java.time.format.DateTimeParseException e) {
                return null;
            }
        }
    }

    /** An answer, where it came from, and whether that is another origin than the upstream's. */
    private record Answer(HttpResponse<InputStream> response, URI uri, boolean foreign) {
    }

    private Answer follow(String method, String path, List<String> accept, String authorization)
            throws UpstreamException {
        URI origin = URI.create(base);
        URI uri = URI.create(base + path);
        boolean foreign = false;
        for (int hop = 0; ; hop++) {
            HttpResponse<InputStream> r = send(method, uri, accept, foreign ? null : authorization, path);
            int status = r.statusCode();
            if (!(status == 301 || status == 302 || status == 303 || status == 307 || status == 308)) {
                return new Answer(r, uri, foreign);
            }
            String location = r.headers().firstValue("Location").orElse(null);
            drain(r);
            if (location == null || hop >= MAX_REDIRECTS) {
                throw new UpstreamException(Kind.INVALID, status, "upstream " + name() + ": " + method + " " + path
                        + (location == null ? " answered " + status + " without a Location" : " redirected too often"));
            }
            try {
                uri = uri.resolve(location);
            } catch (IllegalArgumentException e) {
                throw new UpstreamException(Kind.INVALID, status, "upstream " + name() + ": " + method + " " + path
                        + " redirected to a malformed Location");
            }
            String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
            if (!(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null) {
                throw new UpstreamException(Kind.INVALID, status, "upstream " + name() + ": " + method + " " + path
                        + " redirected to a URL that is not http(s)");
            }
            // Once away from the upstream's origin, the credentials stay behind for the rest of the chain.
            foreign = foreign || !sameOrigin(origin, uri);
            if (status == 303) {
                method = "HEAD".equals(method) ? "HEAD" : "GET";
            }
        }
    }

    private HttpResponse<InputStream> send(String method, URI uri, List<String> accept, String authorization,
            String path) throws UpstreamException {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(timeouts.answer())
                .method(method, HttpRequest.BodyPublishers.noBody()).header("User-Agent", USER_AGENT);
        if (!accept.isEmpty()) {
            request.header("Accept", String.join(", ", accept));
        }
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        try {
            return http.send(request.build(), IdleTimeoutBody.handler(timeouts.idleBody()));
        } catch (IOException e) {
            throw failure(name(), method + " " + path, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UpstreamException(Kind.UNREACHABLE, 0, "upstream " + name() + ": " + method + " " + path
                    + ": interrupted");
        }
    }

    private static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost().equalsIgnoreCase(b.getHost())
                && port(a) == port(b);
    }

    private static int port(URI u) {
        return u.getPort() >= 0 ? u.getPort() : "https".equalsIgnoreCase(u.getScheme()) ? 443 : 80;
    }

    // --- answers

    private String manifestPath(String repository, String reference) {
        Objects.requireNonNull(reference, "reference");
        if (!Digest.isValid(reference) && !TAG.matcher(reference).matches()) {
            throw new IllegalArgumentException("not a tag or digest: " + reference);
        }
        return "/v2/" + checkRepository(repository) + "/manifests/" + reference;
    }

    private static String checkRepository(String repository) {
        Objects.requireNonNull(repository, "repository");
        if (!REPOSITORY.matcher(repository).matches()) {
            throw new IllegalArgumentException("not a repository name: " + repository);
        }
        return repository;
    }

    private static long length(HttpResponse<?> r) {
        OptionalLong length = r.headers().firstValueAsLong("Content-Length");
        return length.isPresent() && length.getAsLong() >= 0 ? length.getAsLong() : -1;
    }

    /** The {@code Content-Type} without parameters, else the manifest's own {@code mediaType} field. */
    private String mediaType(HttpResponse<?> r, byte[] content, String path) throws UpstreamException {
        String type = r.headers().firstValue("Content-Type").map(t -> t.split(";", 2)[0].trim()).orElse("");
        if (type.isEmpty() && content != null) {
            try {
                JsonNode field = JSON.readTree(content).get("mediaType");
                type = field != null && field.isTextual() ? field.asText() : "";
            } catch (IOException notJson) {
                type = "";
            }
        }
        if (type.isEmpty()) {
            throw new UpstreamException(Kind.INVALID, r.statusCode(), "upstream " + name() + ": " + path
                    + " answered without a media type");
        }
        return type;
    }

    private UpstreamException tooLarge(String path, int maxBytes) {
        return new UpstreamException(Kind.INVALID, 200, "upstream " + name() + ": GET " + path
                + " answered a manifest larger than " + maxBytes + " bytes");
    }

    /** The first registry error code of an error answer ({@code MANIFEST_UNKNOWN}, {@code TOOMANYREQUESTS}), or null. */
    private static String errorCode(HttpResponse<InputStream> r) {
        try (InputStream in = r.body()) {
            JsonNode errors = JSON.readTree(in.readNBytes(ERROR_BODY_LIMIT)).get("errors");
            JsonNode code = errors != null && errors.isArray() && !errors.isEmpty() ? errors.get(0).get("code") : null;
            return code != null && code.isTextual() && code.asText().matches("[A-Z_]{1,64}") ? code.asText() : null;
        } catch (IOException | RuntimeException notAnErrorDocument) {
            return null;
        }
    }

    /**
     * Reads a little of an answer that is not used (a 401, a redirect) so that its connection can
     * carry the retry; a longer body is cut off by closing, which costs the connection instead.
     */
    private static void drain(HttpResponse<InputStream> r) {
        try (InputStream in = r.body()) {
            in.readNBytes(ERROR_BODY_LIMIT);
        } catch (IOException ignored) {
            // the connection is closed with the stream; nothing to keep
        }
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException ignored) {
            // IdleTimeoutBody.close does not throw
        }
    }
}
