package dev.layercache.server.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The rules' pattern semantics, anonymous read on its own, and files that must not half-load. */
class AccessControlTest {
    @TempDir
    Path dir;

    @Test
    void namespacePatterns() {
        assertTrue(AccessRules.matches("*", "anything/at/all"));
        assertTrue(AccessRules.matches("team/*", "team/app"));
        assertTrue(AccessRules.matches("team/*", "team/app/sub"));
        assertFalse(AccessRules.matches("team/*", "team"));
        assertFalse(AccessRules.matches("team/*", "teamx/app"));
        assertTrue(AccessRules.matches("alice", "alice"));
        assertTrue(AccessRules.matches("alice", "alice/app"));
        assertFalse(AccessRules.matches("alice", "alicex/app"));
        assertFalse(AccessRules.matches("team/*", null), "a node-wide action needs '*'");
    }

    @Test
    void anonymousReadOnItsOwn() throws Exception {
        Path tokens = Files.writeString(dir.resolve("tokens"), "ci sha256:" + Credentials.sha256("t") + "\n");
        AccessControl access = AccessControl.load(null, tokens, null, true);
        Identity anonymous = access.authenticate(null);
        assertTrue(anonymous.isAnonymous());
        access.check(anonymous, Action.READ, "any/repo");
        RegistryException write = assertThrows(RegistryException.class,
                () -> access.check(anonymous, Action.WRITE, "any/repo"));
        assertEquals(ErrorCode.UNAUTHORIZED, write.code(), "anonymous is asked for credentials, not denied");
        Identity ci = access.authenticate("Bearer t");
        assertEquals("ci", ci.name());
        access.check(ci, Action.ADMIN, null); // without rules an authenticated identity may do everything
        assertEquals(ErrorCode.UNAUTHORIZED, assertThrows(RegistryException.class,
                () -> access.authenticate("Bearer not-t")).code());
        assertEquals(ErrorCode.UNAUTHORIZED, assertThrows(RegistryException.class,
                () -> access.authenticate("Digest username=x")).code());
    }

    @Test
    void malformedFilesAreRefusedNamingTheLine() throws Exception {
        Path tokens = Files.writeString(dir.resolve("tokens"), "# ok\nci 0123\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AccessControl.load(null, tokens, null, false));
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
        Path htpasswd = Files.writeString(dir.resolve("htpasswd"), "bob:{SHA}abcdef=\n");
        e = assertThrows(IllegalArgumentException.class, () -> AccessControl.load(htpasswd, null, null, false));
        assertTrue(e.getMessage().contains("bcrypt"), e.getMessage());
        Path rules = Files.writeString(dir.resolve("rules.yaml"), "rules:\n  - identity: x\n    namespaces: [\"../*\"]\n"
                + "    actions: [read]\n");
        Path ok = Files.writeString(dir.resolve("tokens2"), "ci sha256:" + Credentials.sha256("t") + "\n");
        e = assertThrows(IllegalArgumentException.class, () -> AccessControl.load(null, ok, rules, false));
        assertTrue(e.getMessage().contains("rule 1"), e.getMessage());
    }
}
