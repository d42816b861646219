package dev.layercache.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.Reference;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.testing.Fuzz;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.TestServer;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.util.List;
import java.util.UUID;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Bounded fuzzing of request routing and of the parsing at the edge: random request targets built
 * from the fragments that matter (API words, name parts, {@code ..}, percent-encoded slashes, dots
 * and random bytes, malformed escapes, very long segments, query strings). Pure routing gets many
 * tries; a live node fewer, each a real request on a raw socket. Seeds and try counts are fixed
 * ({@link Fuzz}): a run takes seconds and fails the same way every time.
 */
@Timeout(120)
class RoutingFuzzTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern CANONICAL_DIGEST = Pattern.compile("sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}");

    @RegisterExtension
    static final TestServer server = new TestServer();

    private static final List<String> WORDS = List.of("/v2/", "/v2", "/", "/", "/", "//", "blobs", "manifests",
            "uploads", "blobs/uploads", "blobs/uploads/", "tags/list", "_catalog", "referrers", "..", ".", "../",
            "%2e%2e", "%2E%2E", "%2f", "%2F", "%5c", "\\", "%00", "%", "%z", "%zz", "%e2%82", "?", "&", "=", "#", ";",
            "sha256:", "sha512:", "md5:", "latest", ":", "@", "/internal/v1/uploads/", "/ui/", "/healthz",
            "/api/v1/gc", "/api/v1/store", "/metrics", "?digest=", "?mount=", "&from=", "?n=", "&last=", "?n=-1",
            "?n=99999999999", "%0d%0a", "Set-Cookie:x", "A", "\u00e9", "\u00ff");

    /**
     * Route.of and the value types a handler parses the route into never fail with anything but a
     * protocol error; whatever they accept is canonical and safe as a storage key.
     */
    @Test
    void routingAndEdgeParsingFailOnlyWithProtocolErrors() {
        Fuzz.forAll(20261128L, 20_000, RoutingFuzzTest::target, target -> {
            QueryStringDecoder uri = new QueryStringDecoder(target);
            Route route = Route.of(uri.rawPath());
            Request request = new Request(HttpMethod.GET, route, new DefaultHttpHeaders(), uri);
            try {
                uri.parameters();
            } catch (IllegalArgumentException malformedQuery) {
                return; // the dispatcher answers 400 before any handler reads a parameter
            }
            for (String param : new String[] {"digest", "mount", "from", "n", "last", "artifactType"}) {
                request.param(param);
            }
            if (route.name() != null) {
                parseOrRefuse(() -> {
                    String s = request.repository().toString();
                    assertFalse(s.contains("..") || s.contains("//") || s.contains("%") || s.startsWith("/")
                            || s.endsWith("/") || s.contains("\\") || s.length() > RepositoryName.MAX_LENGTH, s);
                    return s;
                });
            }
            if (route.param() != null) {
                parseOrRefuse(() -> {
                    Reference reference = Reference.parse(route.param());
                    if (reference instanceof Reference.ByDigest d) {
                        assertTrue(CANONICAL_DIGEST.matcher(d.toString()).matches(), d.toString());
                    }
                    return reference;
                });
                parseOrRefuse(() -> Digest.parse(route.param()));
            }
        });
    }

    /**
     * Random requests to a live node: always a well-formed answer, never a 5xx, an OCI error body
     * with every 4xx of the API, never a hang; and the node answers {@code GET /v2/} afterwards.
     */
    @Test
    void aLiveNodeAnswersEveryRandomRequestCleanly() {
        Fuzz.forAll(20261129L, 1000, f -> new Attempt(f.pick("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"),
                target(f), f.chance(0.6) ? null : f.bytes(f.pick(0, 100, 5000))), attempt -> {
            Http.Reply reply;
            try {
                reply = Http.exchange(server.port(), attempt.method(), attempt.target(), List.of(), attempt.body());
            } catch (SocketTimeoutException e) {
                throw new AssertionError("no answer", e);
            }
            String what = reply.status() + " " + reply.text();
            assertTrue(reply.status() >= 200 && reply.status() < 500, what);
            boolean api = !attempt.target().startsWith("/ui");
            if (reply.status() >= 400 && api && !attempt.method().equals("HEAD")) {
                assertOciError(reply, what);
            }
        });
        assertEquals(200, exchange("GET", "/v2/").status());
        assertEquals(200, exchange("GET", "/v2/_catalog").status());
    }

    private record Attempt(String method, String target, byte[] body) {
        @Override
        public String toString() {
            return method + " " + target + (body == null ? "" : " with " + body.length + " bytes");
        }
    }

    /** A request target: a prefix and up to 14 fragments, sendable in a request line. */
    static String target(Fuzz f) {
        while (true) {
            StringBuilder s = new StringBuilder(f.pick("/v2/", "/v2/", "/v2/", "/", ""));
            int n = f.between(0, 14);
            for (int i = 0; i < n; i++) {
                int kind = f.between(0, 23);
                if (kind < 10) {
                    s.append(f.pick(WORDS));
                } else if (kind < 18) {
                    s.append(f.string("abcdefghijklmnopqrstuvwxyz0123456789._-", 1, 12));
                } else if (kind < 20) {
                    for (byte b : f.bytes(6)) {
                        s.append('%').append(String.format("%02x", b & 0xff));
                    }
                } else if (kind < 22) {
                    s.append(f.string("0123456789abcdefABCDEF", 60, 130));
                } else if (kind < 23) {
                    s.append(new UUID(f.random().nextLong(), f.random().nextLong()));
                } else {
                    s.append("a".repeat(f.between(100, 3000)));
                }
            }
            String target = s.toString();
            if (!target.isEmpty() && target.length() <= 6000
                    && target.chars().allMatch(c -> c > ' ' && c != 0x7f && c <= 0xff)) {
                return target;
            }
        }
    }

    static void assertOciError(Http.Reply reply, String what) {
        String type = reply.header("Content-Type");
        assertTrue(type != null && type.startsWith("application/json"), what);
        JsonNode errors;
        try {
            errors = JSON.readTree(reply.body()).path("errors");
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + what, e);
        }
        assertTrue(errors.isArray() && !errors.isEmpty() && !errors.get(0).path("code").asText().isEmpty(), what);
    }

    private static Http.Reply exchange(String method, String path) {
        try {
            return Http.exchange(server.port(), method, path, List.of(), null);
        } catch (IOException e) {
            throw new AssertionError(method + " " + path, e);
        }
    }

    private static void parseOrRefuse(Supplier<?> parse) {
        try {
            parse.get();
        } catch (RegistryException expected) {
            // a protocol error: the error mapping answers it with its code and status
        }
    }
}
