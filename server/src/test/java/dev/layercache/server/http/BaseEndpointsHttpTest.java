package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.assertErrorBody;
import static dev.layercache.server.http.Oci.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.TestServices;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@code /v2/}, the health endpoints, unknown paths and methods. */
@Timeout(60)
class BaseEndpointsHttpTest {
    @RegisterExtension
    static final TestServices services = new TestServices();
    private final Oci oci = new Oci(services);

    private static final String DIGEST = "sha256:" + "a".repeat(64);

    @Test
    void apiVersionCheck() {
        Oci.Res r = oci.get("/v2/");
        assertEquals(200, r.status());
        assertEquals("registry/2.0", r.header("Docker-Distribution-Api-Version"));
        assertTrue(r.header("Content-Type").startsWith("application/json"));
        assertEquals("{}", r.text());

        Oci.Res noSlash = oci.get("/v2");
        assertEquals(200, noSlash.status());
        assertEquals("registry/2.0", noSlash.header("Docker-Distribution-Api-Version"));
    }

    @Test
    void apiVersionCheckWithHead() {
        Oci.Res r = oci.head("/v2/");
        assertEquals(200, r.status());
        assertEquals("registry/2.0", r.header("Docker-Distribution-Api-Version"));
        assertEquals("2", r.header("Content-Length"), "HEAD describes the body GET would send");
    }

    @Test
    void healthz() {
        Oci.Res r = oci.get("/healthz");
        assertEquals(200, r.status());
        assertEquals("ok", r.text().trim());
        assertEquals(200, oci.head("/healthz").status());
    }

    @Test
    void readyz() {
        Oci.Res r = oci.get("/readyz");
        assertEquals(200, r.status());
        assertEquals("ready", r.text().trim());
        assertEquals(200, oci.head("/readyz").status());
    }

    @Test
    void unknownPathsAre404() {
        for (String path : List.of("/v3/", "/v2/foo", "/v2/foo/bar", "/v2/foo/things/x", "/v2/foo/blobs/",
                "/healthz/x", "/metrics-nope")) {
            Oci.Res r = oci.get(path);
            assertErrorBody(r, 404);
            assertEquals("registry/2.0", r.header("Docker-Distribution-Api-Version"), path);
        }
        assertEquals(404, oci.head("/v3/").status());
    }

    /** A browser pointed at the node lands on the dashboard, not on a JSON 404. */
    @Test
    void rootPointsAtTheDashboard() {
        Oci.Res r = oci.get("/");
        assertEquals(301, r.status());
        assertEquals("/ui/", r.header("Location"));
        assertEquals(200, oci.get("/ui/").status());
        assertEquals(200, oci.get("/v2/").status(), "the OCI base path is unchanged");
    }

    private record Call(String method, String path) {
    }

    @Test
    void wrongMethodIs405() {
        for (Call c : List.of(new Call("DELETE", "/v2/"), new Call("POST", "/healthz"),
                new Call("POST", "/v2/repo/tags/list"), new Call("DELETE", "/v2/_catalog"),
                new Call("PATCH", "/v2/repo/blobs/" + DIGEST), new Call("POST", "/v2/repo/manifests/latest"),
                new Call("PUT", "/v2/repo/blobs/uploads/"), new Call("PUT", "/v2/repo/referrers/" + DIGEST))) {
            Oci.Res r = oci.send(c.method(), c.path(), java.net.http.HttpRequest.BodyPublishers.noBody());
            assertError(r, 405, "UNSUPPORTED");
        }
    }

    /** RFC 9110 15.5.6: a 405 response MUST carry an Allow header listing the supported methods. */
    @Test
    void wrongMethodNamesTheAllowedOnes() {
        Oci.Res r = oci.send("DELETE", "/v2/repo/tags/list", java.net.http.HttpRequest.BodyPublishers.noBody());
        assertEquals(405, r.status());
        String allow = r.header("Allow");
        assertNotNull(allow, "405 without Allow: " + r);
        Set<String> methods = new HashSet<>();
        Arrays.stream(allow.split(",")).map(s -> s.trim().toUpperCase(Locale.ROOT)).forEach(methods::add);
        assertTrue(methods.contains("GET"), allow);
        assertTrue(!methods.contains("DELETE"), allow);

        Oci.Res manifest = oci.send("POST", "/v2/repo/manifests/latest",
                java.net.http.HttpRequest.BodyPublishers.noBody());
        assertNotNull(manifest.header("Allow"), "405 without Allow: " + manifest);
        Set<String> m = new HashSet<>();
        Arrays.stream(manifest.header("Allow").split(",")).map(s -> s.trim().toUpperCase(Locale.ROOT))
                .forEach(m::add);
        assertEquals(Set.of("GET", "HEAD", "PUT", "DELETE"), m);
    }
}
