package dev.layercache.server.mirror;

import static dev.layercache.server.mirror.UpstreamClientTest.ACCEPT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.Digest;
import dev.layercache.server.mirror.UpstreamClient.BlobBody;
import dev.layercache.server.mirror.UpstreamException.Kind;
import dev.layercache.server.testing.ReferenceRegistry;
import dev.layercache.server.testing.ReferenceRegistry.Image;
import dev.layercache.server.testing.TestClock;
import dev.layercache.server.testing.TokenRealm;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The registry token flow against the real reference registry (CNCF Distribution with token auth),
 * whose tokens come from a realm served by the test ({@link TokenRealm}): a token is fetched on the
 * first 401, kept for its scope while it lives, fetched again when it expires, and refused
 * credentials at the realm are {@link Kind#DENIED}.
 */
class UpstreamTokenTest {
    static final byte[] LAYER = "layer behind a token".getBytes(StandardCharsets.UTF_8);

    @TempDir
    Path dir;

    Image seed(ReferenceRegistry registry, TokenRealm realm, String repository) throws Exception {
        return registry.push(repository, "1", "Bearer " + realm.token(repository, "pull", "push"),
                "{}".getBytes(StandardCharsets.UTF_8), LAYER);
    }

    static UpstreamClient client(ReferenceRegistry registry, UpstreamSettings.Credentials credentials, TestClock clock) {
        return new UpstreamClient(new UpstreamSettings("registry.test", registry.url(), credentials,
                UpstreamSettings.DEFAULT_REVALIDATE), clock);
    }

    @Test
    void anonymousTokensAreFetchedOncePerScopeAndAgainWhenTheyExpire() throws Exception {
        try (TokenRealm realm = TokenRealm.anonymous(dir.resolve("pki"), "registry.test");
                ReferenceRegistry registry = ReferenceRegistry.startWithTokens(dir.resolve("registry"), realm)) {
            Image image = seed(registry, realm, "library/busybase");
            seed(registry, realm, "library/other");
            realm.expiresIn(300);
            TestClock clock = new TestClock();
            UpstreamClient upstream = client(registry, UpstreamSettings.Credentials.NONE, clock);

            assertArrayEquals(image.manifest(), upstream.getManifest("library/busybase", "1", ACCEPT, 65536).content());
            assertEquals(Digest.parse(image.manifestDigest()), upstream.headManifest("library/busybase", "1", ACCEPT).digest());
            for (int i = 0; i < 3; i++) {
                try (BlobBody blob = upstream.getBlob("library/busybase", Digest.sha256(LAYER))) {
                    assertArrayEquals(LAYER, blob.stream().readAllBytes());
                }
            }
            List<TokenRealm.Request> asked = realm.requests();
            assertEquals(1, asked.size(), "one token for the five requests: " + asked);
            TokenRealm.Request request = asked.get(0);
            assertEquals("registry.test", request.query().get("service"));
            assertEquals("repository:library/busybase:pull", request.query().get("scope"));
            assertNull(request.authorization(), "anonymous");
            assertEquals(1, registry.logText().lines().filter(l -> l.contains("\" 401 ") && l.contains("layercache-mirror")).count(),
                    () -> "only the first request was refused; the others carried the token from the start:\n"
                            + registry.logText());

            // Another repository is another scope: a token of its own, asked before the request.
            upstream.headManifest("library/other", "1", ACCEPT);
            assertEquals(2, realm.requests().size());
            assertEquals("repository:library/other:pull", realm.requests().get(1).query().get("scope"));
            assertEquals(1, registry.logText().lines().filter(l -> l.contains("\" 401 ") && l.contains("layercache-mirror")).count());

            // Shortly before 300 s the token is given up and fetched again.
            clock.advance(Duration.ofSeconds(250));
            upstream.headManifest("library/busybase", "1", ACCEPT);
            assertEquals(2, realm.requests().size(), "still alive at 250 s of 300");
            clock.advance(Duration.ofSeconds(30));
            upstream.headManifest("library/busybase", "1", ACCEPT);
            assertEquals(3, realm.requests().size(), "fetched again within 30 s of expiring");
            upstream.headManifest("library/busybase", "1", ACCEPT);
            assertEquals(3, realm.requests().size());
        }
    }

    @Test
    void credentialsGoToTheRealmAndTheOAuthFieldIsRead() throws Exception {
        try (TokenRealm realm = TokenRealm.withUser(dir.resolve("pki"), "registry.test", "robot", "robot-pw");
                ReferenceRegistry registry = ReferenceRegistry.startWithTokens(dir.resolve("registry"), realm)) {
            Image image = seed(registry, realm, "team/app");
            realm.tokenField("access_token");
            realm.expiresIn(30); // below the spec's minimum: kept 60 s
            TestClock clock = new TestClock();
            UpstreamClient upstream = client(registry, new UpstreamSettings.Credentials("robot", "robot-pw"), clock);
            assertArrayEquals(image.manifest(), upstream.getManifest("team/app", "1", ACCEPT, 65536).content());
            TokenRealm.Request request = realm.requests().get(realm.requests().size() - 1);
            assertEquals(ReferenceRegistry.basic("robot", "robot-pw"), request.authorization());
            assertEquals("robot", request.query().get("account"));
            int tokens = realm.requests().size();
            clock.advance(Duration.ofSeconds(40));
            upstream.headManifest("team/app", "1", ACCEPT);
            assertEquals(tokens, realm.requests().size(), "a 30 s token lives 60 s, minus a margin of 15 s");
            clock.advance(Duration.ofSeconds(10));
            upstream.headManifest("team/app", "1", ACCEPT);
            assertEquals(tokens + 1, realm.requests().size());

            UpstreamException wrong = assertThrows(UpstreamException.class,
                    () -> client(registry, new UpstreamSettings.Credentials("robot", "not-the-pw"), new TestClock())
                            .getManifest("team/app", "1", ACCEPT, 65536));
            assertEquals(Kind.DENIED, wrong.kind(), wrong.getMessage());
            assertEquals(401, wrong.status());
            assertTrue(wrong.getMessage().contains("token realm"), wrong.getMessage());
            assertFalse(wrong.getMessage().contains("not-the-pw"), wrong.getMessage());

            UpstreamException anonymous = assertThrows(UpstreamException.class,
                    () -> client(registry, UpstreamSettings.Credentials.NONE, new TestClock())
                            .headManifest("team/app", "1", ACCEPT));
            assertEquals(Kind.DENIED, anonymous.kind(), anonymous.getMessage());
        }
    }

    @Test
    void concurrentRequestsForOneScopeShareOneTokenRequest() throws Exception {
        try (TokenRealm realm = TokenRealm.anonymous(dir.resolve("pki"), "registry.test");
                ReferenceRegistry registry = ReferenceRegistry.startWithTokens(dir.resolve("registry"), realm)) {
            Image image = seed(registry, realm, "library/busybase");
            UpstreamClient upstream = client(registry, UpstreamSettings.Credentials.NONE, new TestClock());
            // The first request learns the challenge; then 8 threads want a token for a new scope at once.
            upstream.headManifest("library/busybase", "1", ACCEPT);
            seed(registry, realm, "library/fresh");
            int before = realm.requests().size();
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<Digest>> digests = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    digests.add(pool.submit(() -> upstream.headManifest("library/fresh", "1", ACCEPT).digest()));
                }
                for (Future<Digest> d : digests) {
                    assertEquals(Digest.parse(image.manifestDigest()), d.get());
                }
            } finally {
                pool.shutdownNow();
            }
            assertTrue(realm.requests().size() - before <= 2,
                    "shared token requests (one, or two when a thread came after the first finished): "
                            + (realm.requests().size() - before));
        }
    }
}
