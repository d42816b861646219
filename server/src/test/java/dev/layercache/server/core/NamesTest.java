package dev.layercache.server.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class NamesTest {

    @ParameterizedTest
    @ValueSource(strings = {"a", "team/app", "team/sub-group/app_1", "a.b/c__d/e--f", "0/1/2"})
    void acceptsRepositoryNamesOfTheGrammar(String name) {
        assertEquals(name, RepositoryName.parse(name).toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "Team/app", "team//app", "team/../app", "..", "team/app/", "/team", "a%2e%2e",
        "team/.app", "team/app-", "a\u0000b", "tëam"})
    void rejectsNamesOutsideTheGrammar(String name) {
        assertEquals(ErrorCode.NAME_INVALID,
                assertThrows(RegistryException.class, () -> RepositoryName.parse(name)).code());
    }

    @Test
    void rejectsOverlongNames() {
        String name = "a/".repeat(128) + "b";
        assertEquals(ErrorCode.NAME_INVALID,
                assertThrows(RegistryException.class, () -> RepositoryName.parse(name)).code());
    }

    @Test
    void namespaceIsTheFirstComponent() {
        assertEquals("team", RepositoryName.parse("team/app/x").namespace());
        assertEquals("solo", RepositoryName.parse("solo").namespace());
    }

    @Test
    void tagsFollowTheGrammar() {
        assertEquals("v1.2-rc_3", Tag.parse("v1.2-rc_3").toString());
        assertEquals(ErrorCode.TAG_INVALID, assertThrows(RegistryException.class, () -> Tag.parse("-x")).code());
        assertEquals(ErrorCode.TAG_INVALID,
                assertThrows(RegistryException.class, () -> Tag.parse("a".repeat(129))).code());
        assertEquals(ErrorCode.TAG_INVALID, assertThrows(RegistryException.class, () -> Tag.parse("a/b")).code());
    }

    @Test
    void aReferenceWithAColonIsADigest() {
        assertInstanceOf(Reference.ByTag.class, Reference.parse("latest"));
        assertInstanceOf(Reference.ByDigest.class, Reference.parse("sha256:" + "b".repeat(64)));
        assertEquals(ErrorCode.DIGEST_INVALID,
                assertThrows(RegistryException.class, () -> Reference.parse("sha256:nothex")).code());
    }
}
