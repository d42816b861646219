package dev.layercache.server.mirror;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code WWW-Authenticate} as registries write it, and as RFC 7235 allows it to be written. */
class ChallengeTest {
    @Test
    void dockerHubsBearerChallengeWithCommasInsideTheScope() {
        List<Challenge> c = Challenge.parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                + "scope=\"repository:library/busybox:pull,push\"");
        assertEquals(List.of(new Challenge("bearer", Map.of("realm", "https://auth.docker.io/token",
                "service", "registry.docker.io", "scope", "repository:library/busybox:pull,push"))), c);
        assertTrue(c.get(0).isBearer());
    }

    @Test
    void severalChallengesInOneHeaderAndAcrossHeaders() {
        List<Challenge> c = Challenge.parseAll(List.of(
                "Basic realm=\"a, \\\"quoted\\\" realm\", charset=UTF-8 , Bearer realm=\"https://r/t\" ,error=invalid_token",
                "Negotiate abc123==, NTLM"));
        assertEquals(4, c.size(), c.toString());
        assertEquals(new Challenge("basic", Map.of("realm", "a, \"quoted\" realm", "charset", "UTF-8")), c.get(0));
        assertEquals(new Challenge("bearer", Map.of("realm", "https://r/t", "error", "invalid_token")), c.get(1));
        assertEquals(new Challenge("negotiate", Map.of()), c.get(2));
        assertEquals(new Challenge("ntlm", Map.of()), c.get(3));
    }

    @Test
    void namesAreCaseInsensitiveAndOddInputEndsTheList() {
        Challenge c = Challenge.parse("BEARER Realm = \"https://r/t\" , SERVICE=svc").get(0);
        assertTrue(c.isBearer());
        assertEquals("https://r/t", c.parameter("realm").orElseThrow());
        assertEquals("svc", c.parameter("Service").orElseThrow());
        assertEquals(List.of(), Challenge.parse(""));
        assertEquals(List.of(), Challenge.parse(null));
        assertEquals(List.of(new Challenge("bearer", Map.of())), Challenge.parse("Bearer realm=\"never closed"));
        assertEquals(List.of(new Challenge("basic", Map.of())), Challenge.parse("Basic"));
    }
}
