package dev.layercache.server.mirror;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.mirror.UpstreamException.Kind;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How an {@link UpstreamClient} signs in to its upstream: it answers the upstream's 401 challenge
 * (the registry token flow or Basic), and remembers the challenge so that the following requests
 * carry their {@code Authorization} from the start instead of paying a refused round trip each.
 *
 * <p>Token flow (Docker's token spec, what Docker Hub, GHCR and Distribution's token auth do): a
 * {@code Bearer realm="...",service="...",scope="..."} challenge is answered by a {@code GET} of
 * the realm with {@code service} and {@code scope=repository:<repo>:pull}, with Basic credentials
 * when the upstream has some (anonymous otherwise); the answer's {@code token} (or
 * {@code access_token}) is then sent as {@code Authorization: Bearer}. Tokens are kept per scope
 * by a {@link TokenCache}, and concurrent requests for the same scope share one realm request.
 *
 * <p>Credentials and tokens are secrets: they go into request headers and nowhere else, never into
 * an exception message or a log line.
 */
final class UpstreamAuth {
    private static final Logger log = LoggerFactory.getLogger(UpstreamAuth.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A token answer is a few KiB at most (Docker Hub's JWTs are about 1.5 KiB). */
    private static final int TOKEN_ANSWER_LIMIT = 64 * 1024;

    private final String name;
    private final UpstreamSettings.Credentials credentials;
    private final HttpClient http;
    private final UpstreamClient.Timeouts timeouts;
    private final TokenCache tokens;
    private final Map<String, CompletableFuture<String>> fetching = new ConcurrentHashMap<>();
    /** The last challenge the upstream gave, or null before its first 401. */
    private volatile Challenge challenge;

    UpstreamAuth(UpstreamSettings upstream, HttpClient http, UpstreamClient.Timeouts timeouts, Clock clock) {
        this.name = upstream.name();
        this.credentials = upstream.credentials();
        this.http = http;
        this.timeouts = timeouts;
        this.tokens = new TokenCache(clock);
    }

    /**
     * The {@code Authorization} value for a first request about {@code repository}, from what the
     * upstream asked before (a cached token, or one fetched now), or null when it never asked.
     */
    String authorization(String repository) throws UpstreamException {
        Challenge known = challenge;
        return known == null ? null : answer(known, repository);
    }

    /**
     * The {@code Authorization} value to retry with after the upstream answered 401 with these
     * {@code WWW-Authenticate} values to a request that carried {@code refused} (or none).
     *
     * @throws UpstreamException DENIED when there is no challenge this client can answer, or Basic
     *                           is asked and there are no credentials; what the realm's answer
     *                           maps to when a token cannot be had
     */
    String afterChallenge(List<String> wwwAuthenticate, String repository, String refused) throws UpstreamException {
        Challenge chosen = null;
        for (Challenge c : Challenge.parseAll(wwwAuthenticate)) {
            if (c.isBearer()) {
                chosen = c;
                break;
            }
            if (c.isBasic() && chosen == null) {
                chosen = c;
            }
        }
        if (chosen == null) {
            throw new UpstreamException(Kind.DENIED, 401,
                    "upstream " + name + ": answered 401 without a Bearer or Basic challenge");
        }
        if (refused != null && refused.startsWith("Bearer ") && chosen.isBearer()) {
            // The token was refused before it expired (revoked, or a realm that changed keys): get another.
            tokens.invalidate(tokenKey(chosen, repository), refused.substring("Bearer ".length()));
        }
        String authorization = answer(chosen, repository);
        // Remembered only once answered: a challenge this client cannot answer must not stop every later request
        // before it is even sent (the upstream may change its mind, or its realm may come back).
        challenge = chosen;
        return authorization;
    }

    private String answer(Challenge c, String repository) throws UpstreamException {
        if (c.isBasic()) {
            if (!credentials.present()) {
                throw new UpstreamException(Kind.DENIED, 401,
                        "upstream " + name + ": it asks for Basic credentials and none are configured");
            }
            return basic();
        }
        return "Bearer " + token(c, repository);
    }

    private String basic() {
        String pair = credentials.user() + ":" + credentials.secret();
        return "Basic " + Base64.getEncoder().encodeToString(pair.getBytes(StandardCharsets.UTF_8));
    }

    private static String scope(String repository) {
        return "repository:" + repository + ":pull";
    }

    private static String tokenKey(Challenge c, String repository) {
        return c.parameter("realm").orElse("") + " " + c.parameter("service").orElse("") + " " + scope(repository);
    }

    /** A token for pulling {@code repository}: cached, being fetched by another thread, or fetched now. */
    private String token(Challenge c, String repository) throws UpstreamException {
        String key = tokenKey(c, repository);
        String cached = tokens.get(key);
        if (cached != null) {
            return cached;
        }
        CompletableFuture<String> mine = new CompletableFuture<>();
        CompletableFuture<String> theirs = fetching.putIfAbsent(key, mine);
        if (theirs != null) {
            return await(theirs);
        }
        try {
            String token = fetchToken(c, repository, key);
            mine.complete(token);
            return token;
        } catch (UpstreamException | RuntimeException e) {
            mine.completeExceptionally(e);
            throw e;
        } finally {
            fetching.remove(key, mine);
        }
    }

    /** Waits for another thread's realm request, bounded by that request's own timeouts. */
    private String await(CompletableFuture<String> theirs) throws UpstreamException {
        try {
            return theirs.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UpstreamException(Kind.UNREACHABLE, 0, "upstream " + name + ": interrupted while signing in");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof UpstreamException u) {
                throw new UpstreamException(u.kind(), u.status(), u.getMessage(), u);
            }
            throw new UpstreamException(Kind.INVALID, 0, "upstream " + name + ": signing in failed", e.getCause());
        } catch (CancellationException e) {
            throw new UpstreamException(Kind.UNREACHABLE, 0, "upstream " + name + ": signing in was cancelled");
        }
    }

    private String fetchToken(Challenge c, String repository, String key) throws UpstreamException {
        String realm = c.parameter("realm").orElseThrow(() -> new UpstreamException(Kind.INVALID, 401,
                "upstream " + name + ": it sent a Bearer challenge without a realm"));
        URI realmUri;
        try {
            realmUri = URI.create(realm);
        } catch (IllegalArgumentException e) {
            throw new UpstreamException(Kind.INVALID, 401, "upstream " + name + ": it sent a malformed token realm");
        }
        String scheme = realmUri.getScheme() == null ? "" : realmUri.getScheme().toLowerCase(java.util.Locale.ROOT);
        if (!(scheme.equals("https") || scheme.equals("http")) || realmUri.getHost() == null) {
            throw new UpstreamException(Kind.INVALID, 401,
                    "upstream " + name + ": it sent a token realm that is not an http(s) URL");
        }
        StringBuilder query = new StringBuilder(realmUri.getRawQuery() == null ? "" : realmUri.getRawQuery());
        c.parameter("service").ifPresent(s -> appendParam(query, "service", s));
        appendParam(query, "scope", scope(repository));
        if (credentials.present()) {
            appendParam(query, "account", credentials.user());
        }
        String where = "token realm " + realmUri.getHost() + (realmUri.getPort() < 0 ? "" : ":" + realmUri.getPort());
        URI uri = URI.create(scheme + "://" + realmUri.getRawAuthority()
                + (realmUri.getRawPath() == null || realmUri.getRawPath().isEmpty() ? "/" : realmUri.getRawPath())
                + "?" + query);
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).GET().timeout(timeouts.answer())
                .header("User-Agent", UpstreamClient.USER_AGENT);
        if (credentials.present()) {
            request.header("Authorization", basic());
        }
        byte[] body;
        int status;
        try {
            HttpResponse<InputStream> response = http.send(request.build(), IdleTimeoutBody.handler(timeouts.idleBody()));
            status = response.statusCode();
            try (InputStream in = response.body()) {
                body = in.readNBytes(TOKEN_ANSWER_LIMIT);
            }
        } catch (IOException e) {
            throw UpstreamClient.failure(name, "GET of its " + where, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UpstreamException(Kind.UNREACHABLE, 0, "upstream " + name + ": interrupted while signing in");
        }
        if (status != 200) {
            Kind kind = status == 401 || status == 403 ? Kind.DENIED
                    : status == 404 ? Kind.INVALID : UpstreamClient.kindOf(status);
            throw new UpstreamException(kind, status, "upstream " + name + ": its " + where + " answered " + status
                    + (credentials.present() ? " to the configured credentials" : " to an anonymous request"));
        }
        return readToken(body, key, where);
    }

    private String readToken(byte[] body, String key, String where) throws UpstreamException {
        JsonNode answer;
        try {
            answer = JSON.readTree(body);
        } catch (IOException e) {
            answer = null;
        }
        String token = answer == null ? null : text(answer, "token");
        if (token == null && answer != null) {
            token = text(answer, "access_token");
        }
        if (token == null) {
            throw new UpstreamException(Kind.INVALID, 200, "upstream " + name + ": its " + where + " gave no token");
        }
        JsonNode expiresIn = answer.get("expires_in");
        Duration life = expiresIn != null && expiresIn.canConvertToLong() ? Duration.ofSeconds(expiresIn.asLong()) : null;
        tokens.put(key, token, life, issuedAt(text(answer, "issued_at")));
        log.debug("upstream {}: a token for {} from its {}, expires_in {}", name,
                key.substring(key.lastIndexOf(' ') + 1), where, life);
        return token;
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v != null && v.isTextual() && !v.asText().isEmpty() ? v.asText() : null;
    }

    /** RFC 3339, as the token spec writes it; null when absent or unreadable (the arrival time is used then). */
    private static Instant issuedAt(String text) {
        if (text == null) {
            return null;
        }
        try {
            return OffsetDateTime.parse(text).toInstant();
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    private static void appendParam(StringBuilder query, String key, String value) {
        if (query.length() > 0) {
            query.append('&');
        }
        query.append(key).append('=').append(URLEncoder.encode(value, StandardCharsets.UTF_8));
    }
}
