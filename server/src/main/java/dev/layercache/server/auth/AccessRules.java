package dev.layercache.server.auth;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Who may do what where: each rule gives an identity (or {@code anonymous}, or {@code *} for
 * every authenticated identity) actions on namespace patterns. A pattern is {@code *} (every
 * namespace), {@code team/*} (everything under {@code team/}), or a name, which covers that
 * repository and everything under it. Rules only allow; nothing allowed is denied.
 *
 * <pre>
 * rules:
 *   - identity: ci-main          # the main branch's CI token
 *     namespaces: ["team/*"]
 *     actions: [read, write]
 *   - identity: ci-pr            # pull-request builds: read only, so they cannot poison the cache
 *     namespaces: ["team/*"]
 *     actions: [read]
 *   - identity: ops
 *     namespaces: ["*"]
 *     actions: [read, write, delete, admin]
 * </pre>
 */
public final class AccessRules {
    /** One rule. */
    public record Rule(String identity, List<String> namespaces, Set<Action> actions) {
        boolean covers(Identity who) {
            return identity.equals(who.name()) || (identity.equals("*") && !who.isAnonymous());
        }
    }

    /** Without a rules file: every authenticated identity may do everything, anonymous nothing. */
    public static final AccessRules AUTHENTICATED_MAY_DO_ALL = new AccessRules(List.of(
            new Rule("*", List.of("*"), EnumSet.allOf(Action.class))));

    private final List<Rule> rules;

    public AccessRules(List<Rule> rules) {
        this.rules = List.copyOf(rules);
    }

    /** Reads a rules file (YAML, see the class comment); IllegalArgumentException says what is wrong. */
    public static AccessRules read(Path file) throws IOException {
        JsonNode root = new ObjectMapper(new YAMLFactory()).readTree(file.toFile());
        if (root == null || !root.path("rules").isArray()) {
            throw new IllegalArgumentException(file + ": expected a list under 'rules:'");
        }
        List<Rule> out = new ArrayList<>();
        int n = 0;
        for (JsonNode r : root.path("rules")) {
            n++;
            String identity = r.path("identity").asText("");
            if (identity.isEmpty()) {
                throw new IllegalArgumentException(file + ": rule " + n + " names no identity");
            }
            List<String> namespaces = new ArrayList<>();
            r.path("namespaces").forEach(p -> namespaces.add(p.asText()));
            Set<Action> actions = EnumSet.noneOf(Action.class);
            for (JsonNode a : r.path("actions")) {
                actions.add(Action.parse(a.asText()));
            }
            if (namespaces.isEmpty() || actions.isEmpty()) {
                throw new IllegalArgumentException(file + ": rule " + n + " (" + identity
                        + ") needs 'namespaces' and 'actions'");
            }
            for (String p : namespaces) {
                if (!p.equals("*") && !p.matches("[a-z0-9][a-z0-9._/-]*(/\\*)?")) {
                    throw new IllegalArgumentException(file + ": rule " + n + ": '" + p
                            + "' is not '*', a repository name or 'prefix/*'");
                }
            }
            out.add(new Rule(identity, namespaces, actions));
        }
        return new AccessRules(out);
    }

    /** True when some rule gives {@code who} the {@code action} in {@code namespace} (null: every namespace). */
    public boolean allows(Identity who, Action action, String namespace) {
        for (Rule r : rules) {
            if (r.covers(who) && r.actions().contains(action)) {
                for (String p : r.namespaces()) {
                    if (matches(p, namespace)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /** True when {@code who} may do anything at all (for pages that are not about one namespace). */
    public boolean knows(Identity who) {
        return rules.stream().anyMatch(r -> r.covers(who));
    }

    static boolean matches(String pattern, String namespace) {
        if (pattern.equals("*")) {
            return true;
        }
        if (namespace == null) {
            return false; // a node-wide action needs a rule for every namespace
        }
        if (pattern.endsWith("/*")) {
            return namespace.startsWith(pattern.substring(0, pattern.length() - 1));
        }
        return namespace.equals(pattern) || namespace.startsWith(pattern + "/");
    }
}
