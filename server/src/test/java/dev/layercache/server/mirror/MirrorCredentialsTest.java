package dev.layercache.server.mirror;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.config.ConfigLoader;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.ReferenceRegistry;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TestServer;
import dev.layercache.server.testing.TokenRealm;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A node signing in to its upstreams with the credentials of its YAML configuration (read by
 * {@link ConfigLoader}: {@code password-file} and {@code password-env}), pulled through over
 * HTTP: Basic against a Distribution with htpasswd, and the registry token flow against a
 * Distribution with token auth and a {@link TokenRealm}. Wrong credentials give the client a
 * prompt 403 DENIED and store nothing; one token serves a repository's manifest and blobs until
 * it expires on the node's clock; no secret ever shows in the node's log or its error bodies.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class MirrorCredentialsTest {
    private static final String OCI = "application/vnd.oci.image.manifest.v1+json";
    private static final String BASIC_PW = "s3cret-robot-pw";
    private static final String WRONG_PW = "n0t-the-robot-pw";
    private static final String TOKEN_PW = "t0ken-bot-pw";
    private static final Duration INTERVAL = Duration.ofMinutes(5);
    private static final TestClock clock = new TestClock();
    /** The node's log (slf4j-simple writes to whatever System.err is when it logs): captured from before it starts. */
    private static final ByteArrayOutputStream log = new ByteArrayOutputStream();
    private static final PrintStream originalErr = System.err;
    private static Path dir;
    private static ReferenceRegistry basic;
    private static ReferenceRegistry tokens;
    private static TokenRealm realm;

    static {
        System.setErr(new PrintStream(new Tee(originalErr, log), true));
    }

    @RegisterExtension
    static final TestServer server = new TestServer(config -> config.withMirror(mirrorFromYaml()), clock);

    /**
     * The upstreams as an operator writes them, read by the real loader: the right password in a
     * file, a wrong one in another, the token realm's in the environment.
     */
    private static synchronized ServerConfig.Mirror mirrorFromYaml() {
        try {
            dir = Files.createTempDirectory("layercache-credentials");
            basic = ReferenceRegistry.startWithHtpasswd(dir.resolve("basic"), Map.of("robot", BASIC_PW));
            realm = TokenRealm.withUser(dir.resolve("pki"), "tokens.test", "token-bot", TOKEN_PW);
            tokens = ReferenceRegistry.startWithTokens(dir.resolve("tokens"), realm);
            Path right = Files.writeString(dir.resolve("robot.pw"), BASIC_PW + "\n");
            Path wrong = Files.writeString(dir.resolve("wrong.pw"), WRONG_PW + "\n");
            Path yaml = Files.writeString(dir.resolve("layercache.yml"), String.join("\n",
                    "mirror:",
                    "  - registry: basic.test",
                    "    url: " + basic.url(),
                    "    username: robot",
                    "    password-file: " + right,
                    "  - registry: wrong.test",
                    "    url: " + basic.url(),
                    "    username: robot",
                    "    password-file: " + wrong,
                    "  - registry: tokens.test",
                    "    url: " + tokens.url(),
                    "    revalidate: " + INTERVAL.toMinutes() + "m",
                    "    username: token-bot",
                    "    password-env: TOKEN_BOT_PW",
                    "  - registry: wrong-tokens.test",
                    "    url: " + tokens.url(),
                    "    username: token-bot",
                    "    password-env: WRONG_PW",
                    ""));
            ServerConfig loaded = ConfigLoader.load(new String[] {"--config", yaml.toString()},
                    Map.of("TOKEN_BOT_PW", TOKEN_PW, "WRONG_PW", WRONG_PW));
            assertFalse(loaded.mirror().toString().contains(BASIC_PW), loaded.mirror().toString());
            return loaded.mirror();
        } catch (Exception e) {
            throw new IllegalStateException("upstreams for the test: " + e, e);
        }
    }

    @AfterAll
    static void stopUpstreams() throws Exception {
        try {
            String text = log.toString(StandardCharsets.UTF_8);
            assertTrue(text.contains("layercache ready"), "the node's log was captured: " + text);
            for (String secret : List.of(BASIC_PW, WRONG_PW, TOKEN_PW, base64("robot:" + BASIC_PW),
                    base64("robot:" + WRONG_PW), base64("token-bot:" + TOKEN_PW))) {
                assertFalse(text.contains(secret), "a secret in the node's log: " + secret);
            }
            // Every JWT begins with the Base64 of '{"': no token either.
            assertFalse(text.contains("eyJ"), "a token in the node's log");
        } finally {
            System.setErr(originalErr);
            for (AutoCloseable c : new AutoCloseable[] {basic, tokens, realm}) {
                if (c != null) {
                    c.close();
                }
            }
        }
    }

    @Test
    void basicCredentialsFromAPasswordFileArePulledWith() throws Exception {
        ReferenceRegistry.Image image = basic.push("team/base", "1", ReferenceRegistry.basic("robot", BASIC_PW),
                bytes("config basic"), random(100_000, 1));
        Http.Reply m = get("/v2/basic.test/team/base/manifests/1");
        assertEquals(200, m.status(), m.text());
        assertArrayEquals(image.manifest(), m.body());
        for (byte[] blob : image.blobs()) {
            Http.Reply b = get("/v2/basic.test/team/base/blobs/" + Registry.sha256(blob));
            assertEquals(200, b.status(), b.text());
            assertArrayEquals(blob, b.body());
        }
        assertEquals(1, basic.logText().lines().filter(l -> l.contains("\" 401 ") && l.contains("layercache-mirror")
                && l.contains("/v2/team/base/")).count(), () -> "one challenge, then Basic from the start:\n"
                + basic.logText());
    }

    @Test
    void wrongBasicCredentialsAreDeniedPromptlyAndStoreNothing() throws Exception {
        ReferenceRegistry.Image image = basic.push("team/locked", "1", ReferenceRegistry.basic("robot", BASIC_PW),
                bytes("config locked"), random(5000, 2));
        long start = System.nanoTime();
        for (String path : List.of("/v2/wrong.test/team/locked/manifests/1",
                "/v2/wrong.test/team/locked/manifests/" + image.manifestDigest(),
                "/v2/wrong.test/team/locked/blobs/" + Registry.sha256(image.config()),
                "/v2/team/locked/manifests/1?ns=wrong.test")) {
            Http.Reply r = get(path);
            assertEquals(403, r.status(), path + ": " + r.text());
            assertTrue(r.text().contains("DENIED") && r.text().contains("wrong.test"), r.text());
            assertNoSecret(r);
        }
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10), "answers, not hangs");
        String catalog = new String(new Registry(server.port()).get("/v2/_catalog").body(), StandardCharsets.UTF_8);
        assertFalse(catalog.contains("wrong.test"), "nothing stored: " + catalog);
    }

    @Test
    void oneTokenServesAManifestAndItsBlobsUntilItExpiresOnTheNodesClock() throws Exception {
        String scope = "repository:team/app:pull";
        ReferenceRegistry.Image image = tokens.push("team/app", "1", "Bearer " + realm.token("team/app", "pull", "push"),
                bytes("config token"), random(50_000, 3), random(7000, 4));
        realm.expiresIn(300);
        Http.Reply m = get("/v2/tokens.test/team/app/manifests/1");
        assertEquals(200, m.status(), m.text());
        assertArrayEquals(image.manifest(), m.body());
        for (byte[] blob : image.blobs()) {
            Http.Reply b = get("/v2/tokens.test/team/app/blobs/" + Registry.sha256(blob));
            assertEquals(200, b.status(), b.text());
            assertArrayEquals(blob, b.body());
        }
        List<TokenRealm.Request> asked = realm.requests().stream()
                .filter(r -> scope.equals(r.query().get("scope"))).toList();
        assertEquals(1, asked.size(), "one token for a manifest and three blobs: " + asked);
        assertEquals(ReferenceRegistry.basic("token-bot", TOKEN_PW), asked.get(0).authorization(),
                "the credentials of password-env go to the realm");
        assertEquals("tokens.test", asked.get(0).query().get("service"));

        // Past the token's 300 s (and the tag's interval) on the node's clock: a new token.
        clock.advance(Duration.ofSeconds(310));
        ReferenceRegistry.Image second = tokens.push("team/app", "2", "Bearer " + realm.token("team/app", "pull", "push"),
                bytes("config token 2"), random(9000, 5));
        assertArrayEquals(image.manifest(), get("/v2/tokens.test/team/app/manifests/1").body(), "revalidated");
        assertArrayEquals(second.manifest(), get("/v2/tokens.test/team/app/manifests/2").body());
        for (byte[] blob : second.blobs()) {
            assertArrayEquals(blob, get("/v2/tokens.test/team/app/blobs/" + Registry.sha256(blob)).body());
        }
        assertEquals(2, realm.requests().stream().filter(r -> scope.equals(r.query().get("scope"))).count(),
                "one more token after it expired, shared by the HEAD and what followed: " + realm.requests());
        assertEquals(1, tokens.requests("HEAD", "/v2/team/app/manifests/1"), tokens.logText());
    }

    @Test
    void credentialsTheRealmRefusesAreDenied() throws Exception {
        tokens.push("team/vault", "1", "Bearer " + realm.token("team/vault", "pull", "push"), bytes("config vault"),
                random(300, 6));
        Http.Reply r = get("/v2/wrong-tokens.test/team/vault/manifests/1");
        assertEquals(403, r.status(), r.text());
        assertTrue(r.text().contains("DENIED"), r.text());
        assertNoSecret(r);
        TokenRealm.Request last = realm.requests().get(realm.requests().size() - 1);
        assertEquals(ReferenceRegistry.basic("token-bot", WRONG_PW), last.authorization(), "it did try them");
    }

    private static void assertNoSecret(Http.Reply r) {
        String all = r.text() + r.headers();
        for (String secret : List.of(BASIC_PW, WRONG_PW, TOKEN_PW, base64("robot:" + WRONG_PW),
                base64("token-bot:" + WRONG_PW), "eyJ")) {
            assertFalse(all.contains(secret), "a secret in an answer: " + all);
        }
    }

    private static Http.Reply get(String path) throws IOException {
        return Http.exchange(server.port(), "GET", path, path.contains("/manifests/") ? List.of("Accept: " + OCI)
                : List.of(), null);
    }


    private static String base64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Writes to two streams: the log still shows in the test's output. */
    private static final class Tee extends OutputStream {
        private final OutputStream a;
        private final OutputStream b;

        Tee(OutputStream a, OutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public synchronized void write(int x) throws IOException {
            a.write(x);
            b.write(x);
        }

        @Override
        public synchronized void write(byte[] bytes, int off, int len) throws IOException {
            a.write(bytes, off, len);
            b.write(bytes, off, len);
        }

        @Override
        public void flush() throws IOException {
            a.flush();
            b.flush();
        }
    }
}
