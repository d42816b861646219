package dev.layercache.server.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** An invalid repository name says which rule it breaks, wherever it is parsed. */
class RepositoryNameProblemTest {
    @Test
    void validNamesHaveNoProblem() {
        for (String ok : new String[] {"team/app", "a", "a.b_c__d--e/f0", "x/y/z"}) {
            assertNull(RepositoryName.problem(ok), ok);
            assertEquals(ok, RepositoryName.parse(ok).toString());
        }
    }

    @Test
    void eachBrokenRuleIsNamed() {
        assertEquals("names are lowercase (team/app)", RepositoryName.problem("Team/App"));
        assertTrue(RepositoryName.problem("team/a pp").startsWith("' ' is not allowed"));
        assertTrue(RepositoryName.problem("team:app").startsWith("':' is not allowed"));
        assertTrue(RepositoryName.problem("team//app").contains("separated by single '/'"));
        assertTrue(RepositoryName.problem("/team").contains("separated by single '/'"));
        assertTrue(RepositoryName.problem("team/-app").contains("starts and ends with a-z or 0-9"));
        assertTrue(RepositoryName.problem("team/app.").contains("starts and ends with a-z or 0-9"));
        assertEquals("it is empty", RepositoryName.problem(""));
        assertTrue(RepositoryName.problem("a".repeat(256)).startsWith("longer than 255"));
    }

    @Test
    void theRegistryErrorCarriesTheReason() {
        RegistryException e = assertThrows(RegistryException.class, () -> RepositoryName.parse("Team/App"));
        assertEquals(ErrorCode.NAME_INVALID, e.code());
        assertEquals("invalid repository name Team/App: names are lowercase (team/app)", e.getMessage());
    }
}
