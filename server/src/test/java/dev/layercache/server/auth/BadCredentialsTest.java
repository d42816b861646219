package dev.layercache.server.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import at.favre.lib.crypto.bcrypt.BCrypt;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What bad credentials cost, counted in bcrypt checks rather than timed: a failure costs one check
 * at the same cost whether the user exists or not, a repeated wrong password costs none, the
 * same credentials checked at once cost one, and a client address that keeps guessing is told to
 * wait without any check.
 */
@Timeout(value = 1, unit = TimeUnit.MINUTES)
class BadCredentialsTest {
    @TempDir
    Path dir;

    /** The cost of every hash a check was made against, in order. */
    final List<Integer> checks = new ArrayList<>();
    final Credentials.Bcrypt counting = (password, hash) -> {
        synchronized (checks) {
            checks.add(Credentials.cost(hash));
        }
        return Credentials.Bcrypt.REAL.matches(password, hash);
    };
    Path htpasswd;
    Path tokens;

    @BeforeEach
    void files() throws Exception {
        htpasswd = Files.writeString(dir.resolve("htpasswd"), "alice:" + hash("alice-pw", 5) + "\n"
                + "bob:" + hash("bob-pw", 5) + "\n");
        tokens = Files.writeString(dir.resolve("tokens"), "ci sha256:" + Credentials.sha256("ci-token") + "\n");
    }

    @Test
    void anUnknownUserCostsOneCheckOfTheSameCostAsAKnownOne() throws Exception {
        Credentials credentials = Credentials.load(htpasswd, tokens, counting);
        assertRefused(credentials, basic("alice", "wrong"));
        assertRefused(credentials, basic("mallory", "wrong"));
        assertEquals(List.of(5, 5), checks, "one check each, at the cost of the file's hashes");
        assertEquals("alice", credentials.authenticate(basic("alice", "alice-pw")).name());
        assertEquals(3, checks.size());
    }

    @Test
    void theDummyHashHasTheCostOfTheCostliestUser() throws Exception {
        Files.writeString(htpasswd, "alice:" + hash("alice-pw", 4) + "\ncarol:" + hash("carol-pw", 6) + "\n");
        Credentials credentials = Credentials.load(htpasswd, tokens, counting);
        assertRefused(credentials, basic("mallory", "wrong"));
        assertEquals(List.of(6), checks);
    }

    @Test
    void wrongPasswordsAreRememberedForKnownAndUnknownUsersAlike() throws Exception {
        Credentials credentials = Credentials.load(htpasswd, tokens, counting);
        for (int i = 0; i < 5; i++) {
            assertRefused(credentials, basic("alice", "wrong"));
            assertRefused(credentials, basic("mallory", "wrong"));
        }
        assertEquals(2, checks.size(), "one check per user and password, then answers from memory");
        assertInstanceOf(Credentials.Refused.class, credentials.claim(basic("alice", "wrong")));
        assertInstanceOf(Credentials.Refused.class, credentials.claim(basic("mallory", "wrong")));
        // Right credentials are remembered too, and tokens never cost a check.
        credentials.authenticate(basic("bob", "bob-pw"));
        assertInstanceOf(Credentials.Known.class, credentials.claim(basic("bob", "bob-pw")));
        assertEquals("ci", credentials.authenticate(basic("anyone", "ci-token")).name());
        assertEquals("ci", credentials.authenticate("Bearer ci-token").name());
        assertEquals(3, checks.size());
    }

    @Test
    void withoutUsersAWrongPasswordCostsNothing() throws Exception {
        Credentials credentials = Credentials.load(null, tokens, counting);
        assertInstanceOf(Credentials.Refused.class, credentials.claim(basic("mallory", "wrong")));
        assertEquals(List.of(), checks);
    }

    @Test
    void theSameCredentialsCheckedAtOnceCostOneCheck() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        Credentials.Bcrypt slow = (password, hash) -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return counting.matches(password, hash);
        };
        Credentials credentials = Credentials.load(htpasswd, tokens, slow);
        Verifier verifier = new Verifier(credentials, 2, 8, 3, 0);
        InetAddress client = InetAddress.getByName("192.0.2.7");
        List<CompletableFuture<Identity>> answers = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            answers.add(verifier.verify(unverified(credentials, basic("alice", "alice-pw")), client));
        }
        release.countDown();
        for (CompletableFuture<Identity> a : answers) {
            assertEquals("alice", a.get(30, TimeUnit.SECONDS).name());
        }
        assertEquals(1, checks.size());
    }

    @Test
    void aClientThatKeepsGuessingIsToldToWaitWithoutACheck() throws Exception {
        Credentials credentials = Credentials.load(htpasswd, tokens, counting);
        Verifier verifier = new Verifier(credentials, 1, 8, 3, 0); // 3 wrong guesses, never refilled
        InetAddress guesser = InetAddress.getByName("192.0.2.9");
        for (int i = 0; i < 3; i++) {
            assertEquals(ErrorCode.UNAUTHORIZED, failure(verifier.verify(
                    unverified(credentials, basic(i % 2 == 0 ? "alice" : "mallory", "guess" + i)), guesser)).code());
        }
        RegistryException waitPlease = failure(verifier.verify(unverified(credentials, basic("bob", "guess")), guesser));
        assertEquals(ErrorCode.TOO_MANY_REQUESTS, waitPlease.code());
        assertTrue(waitPlease.detail() instanceof Long seconds && seconds > 0, "Retry-After");
        RegistryException unknownUser = failure(verifier.verify(unverified(credentials, basic("x", "y")), guesser));
        assertEquals(ErrorCode.TOO_MANY_REQUESTS, unknownUser.code(), "the same answer whether the user exists");
        assertEquals(3, checks.size(), "no check once the budget is spent");

        // Another address still gets its checks; a right password gives its share back.
        InetAddress other = InetAddress.getByName("192.0.2.10");
        assertEquals("bob", verifier.verify(unverified(credentials, basic("bob", "bob-pw")), other).get().name());
        for (int i = 0; i < 3; i++) {
            assertEquals(ErrorCode.UNAUTHORIZED,
                    failure(verifier.verify(unverified(credentials, basic("alice", "other" + i)), other)).code());
        }
        // Credentials checked before are answered from memory (no check, no budget), at any address.
        assertInstanceOf(Credentials.Known.class, credentials.claim(basic("bob", "bob-pw")));
    }

    @Test
    void anIpv6ClientIsItsSlash64() throws Exception {
        assertEquals(Verifier.clientKey(InetAddress.getByName("2001:db8:1:2::5")),
                Verifier.clientKey(InetAddress.getByName("2001:db8:1:2:ffff::9")));
        assertNotEquals(Verifier.clientKey(InetAddress.getByName("2001:db8:1:3::5")),
                Verifier.clientKey(InetAddress.getByName("2001:db8:1:2::5")));
    }

    @Test
    void credentialsSeenBeforeAreAnsweredWithoutWaiting() throws Exception {
        AccessControl access = AccessControl.load(htpasswd, tokens, null, false);
        assertTrue(access.authenticate(null, null).isDone());
        assertTrue(access.authenticate("Bearer ci-token", null).isDone());
        assertTrue(access.authenticate("Bearer wrong", null).isCompletedExceptionally());
        assertEquals("alice", access.authenticate(basic("alice", "alice-pw"), null).get().name());
        assertTrue(access.authenticate(basic("alice", "alice-pw"), null).isDone(), "remembered: no check, no hop");
    }

    private static Credentials.Unverified unverified(Credentials credentials, String authorization) {
        return (Credentials.Unverified) credentials.claim(authorization);
    }

    private static RegistryException failure(CompletableFuture<Identity> answer) throws Exception {
        try {
            answer.get(30, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            return (RegistryException) e.getCause();
        }
        throw new AssertionError("expected a refusal");
    }

    private static void assertRefused(Credentials credentials, String authorization) {
        try {
            credentials.authenticate(authorization);
        } catch (Credentials.Invalid expected) {
            return;
        }
        throw new AssertionError("accepted " + authorization);
    }

    static String hash(String password, int cost) {
        return BCrypt.with(BCrypt.Version.VERSION_2Y).hashToString(cost, password.toCharArray());
    }

    static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }
}
