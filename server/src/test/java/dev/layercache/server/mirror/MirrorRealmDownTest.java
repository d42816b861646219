package dev.layercache.server.mirror;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.ReferenceRegistry;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TestServer;
import dev.layercache.server.testing.TokenRealm;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The upstream's token realm goes down while the registry itself stays up (Docker Hub's
 * {@code auth.docker.io} has outages of its own): once the node's token has expired it cannot
 * ask the upstream anything, and that is an upstream out of reach like any other: what the node
 * holds still pulls (the tag stale, with a warning), what it does not hold fails at once.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class MirrorRealmDownTest {
    private static final String OCI = "application/vnd.oci.image.manifest.v1+json";
    private static final Duration INTERVAL = Duration.ofMinutes(5);
    private static final TestClock clock = new TestClock();
    private static TokenRealm realm;
    private static ReferenceRegistry registry;

    @RegisterExtension
    static final TestServer server = new TestServer(config -> config.withMirror(new ServerConfig.Mirror(List.of(
            new UpstreamSettings("tokens.test", upstream(), UpstreamSettings.Credentials.NONE, INTERVAL)))), clock);

    private static synchronized java.net.URI upstream() {
        if (registry == null) {
            try {
                Path dir = Files.createTempDirectory("layercache-realm-down");
                realm = TokenRealm.anonymous(dir.resolve("pki"), "tokens.test");
                registry = ReferenceRegistry.startWithTokens(dir.resolve("registry"), realm);
            } catch (Exception e) {
                throw new IllegalStateException("upstream for the test: " + e, e);
            }
        }
        return registry.url();
    }

    @AfterAll
    static void stopUpstream() throws Exception {
        if (registry != null) {
            registry.close();
        }
        if (realm != null) {
            realm.close();
        }
    }

    @Test
    void heldCopiesPullWhileTheRealmIsDownAndMissesFailAtOnce() throws Exception {
        byte[] layer = new byte[40_000];
        new Random(1).nextBytes(layer);
        String seed = "Bearer " + realm.token("library/base", "pull", "push");
        ReferenceRegistry.Image image = registry.push("library/base", "1", seed,
                "config base".getBytes(StandardCharsets.UTF_8), layer);
        registry.push("library/base", "2", seed, "config base 2".getBytes(StandardCharsets.UTF_8), new byte[10]);
        realm.expiresIn(300);
        assertArrayEquals(image.manifest(), get("/v2/tokens.test/library/base/manifests/1").body());
        assertArrayEquals(layer, get("/v2/tokens.test/library/base/blobs/" + Registry.sha256(layer)).body());

        realm.close();
        clock.advance(Duration.ofSeconds(310)); // the token and the tag's interval both run out
        long start = System.nanoTime();
        Http.Reply stale = get("/v2/tokens.test/library/base/manifests/1");
        assertEquals(200, stale.status(), stale.text());
        assertArrayEquals(image.manifest(), stale.body());
        String warning = stale.header("Warning");
        assertTrue(warning != null && warning.contains("stale") && warning.contains("UNREACHABLE"),
                String.valueOf(warning));
        Http.Reply blob = get("/v2/tokens.test/library/base/blobs/" + Registry.sha256(layer));
        assertEquals(200, blob.status());
        assertArrayEquals(layer, blob.body());

        Http.Reply missing = get("/v2/tokens.test/library/base/manifests/2");
        assertEquals(503, missing.status(), missing.text());
        assertTrue(missing.text().contains("token realm"), missing.text());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10), "answers, not hangs");
    }

    private static Http.Reply get(String path) throws Exception {
        return Http.exchange(server.port(), "GET", path, path.contains("/manifests/") ? List.of("Accept: " + OCI)
                : List.of(), null);
    }
}
