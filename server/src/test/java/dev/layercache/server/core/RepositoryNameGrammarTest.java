package dev.layercache.server.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The scan that validates repository names ({@code RepositoryName.followsGrammar}) says exactly
 * what Distribution's regular expression says: on the grammar's edge cases, and on strings drawn
 * from its alphabet and its neighbours, where the two would part if the scan were wrong.
 */
class RepositoryNameGrammarTest {
    @Test
    void edgeCasesOfTheGrammar() {
        String[] valid = {"a", "0", "team/app", "a.b", "a_b", "a__b", "a-b", "a---b", "a/b/c", "a.b_c__d--e/f0",
            "library/ubuntu", "x0/y1.z2"};
        String[] invalid = {"", "A", "a/", "/a", "a//b", ".a", "a.", "a..b", "a___b", "a_", "_a", "a-", "-a",
            "a-.b", "a._b", "a/.b", "a./b", "a/-b", "a b", "a:b", "a%2fb", "a\u00e9", "a\nb", "a/b/", "a\u0000"};
        for (String s : valid) {
            assertTrue(RepositoryName.followsGrammar(s), s);
            assertTrue(RepositoryName.matchesPattern(s), s);
        }
        for (String s : invalid) {
            assertFalse(RepositoryName.followsGrammar(s), s);
            assertFalse(RepositoryName.matchesPattern(s), s);
        }
    }

    @Test
    void agreesWithTheRegularExpressionOnRandomNames() {
        // Mostly separators and a few letters, so that every way of placing them comes up.
        char[] alphabet = {'a', 'z', '0', '9', '.', '_', '-', '/', 'A', ' ', ':'};
        Random random = new Random(24);
        int valid = 0;
        for (int i = 0; i < 200_000; i++) {
            char[] name = new char[1 + random.nextInt(8)];
            for (int j = 0; j < name.length; j++) {
                name[j] = alphabet[random.nextInt(random.nextBoolean() ? 4 : alphabet.length)];
            }
            String s = new String(name);
            boolean expected = RepositoryName.matchesPattern(s);
            assertEquals(expected, RepositoryName.followsGrammar(s), s);
            valid += expected ? 1 : 0;
        }
        assertTrue(valid > 10_000 && valid < 190_000, "both kinds drawn: " + valid + " valid");
    }
}
