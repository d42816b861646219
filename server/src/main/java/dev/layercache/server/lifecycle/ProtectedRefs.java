package dev.layercache.server.lifecycle;

import dev.layercache.server.core.Root;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The {@code protect} setting: {@code repository:tag} patterns whose tags eviction never takes
 * (by budget, a namespace's budget or age), such as the main branch's cache refs that every
 * build starts from ({@code *}/cache:main). {@code *} matches any run of characters, slashes
 * included. Only tags are protected; what a protected tag reaches (its manifest, an index's
 * children, their blobs) stays with it, since collection keeps whatever a root reaches.
 */
public final class ProtectedRefs {
    static final ProtectedRefs NONE = new ProtectedRefs(List.of());

    private final List<String> patterns;
    private final List<Pattern> repositories = new ArrayList<>();
    private final List<Pattern> tags = new ArrayList<>();

    ProtectedRefs(List<String> patterns) {
        this.patterns = List.copyOf(patterns);
        for (String p : patterns) {
            int colon = p.lastIndexOf(':');
            repositories.add(glob(p.substring(0, colon)));
            tags.add(glob(p.substring(colon + 1)));
        }
    }

    /** The patterns as configured. */
    public List<String> patterns() {
        return patterns;
    }

    boolean isEmpty() {
        return patterns.isEmpty();
    }

    /** True for a tag some pattern names. */
    boolean protects(Root root) {
        if (root.kind() != Root.Kind.TAG) {
            return false;
        }
        for (int i = 0; i < patterns.size(); i++) {
            if (repositories.get(i).matcher(root.repository()).matches() && tags.get(i).matcher(root.name()).matches()) {
                return true;
            }
        }
        return false;
    }

    /** The candidates eviction may take: those no pattern protects. */
    List<Candidate> unprotected(List<Candidate> candidates) {
        return patterns.isEmpty() ? candidates : candidates.stream().filter(c -> !protects(c.root())).toList();
    }

    /** The candidates the patterns protect. */
    List<Candidate> protectedOnes(List<Candidate> candidates) {
        return patterns.isEmpty() ? List.of() : candidates.stream().filter(c -> protects(c.root())).toList();
    }

    private static Pattern glob(String glob) {
        String[] parts = glob.split("\\*", -1); // "*/cache" -> ["", "/cache"]
        StringBuilder regex = new StringBuilder();
        for (int i = 0; i < parts.length; i++) {
            if (i > 0) {
                regex.append(".*");
            }
            regex.append(Pattern.quote(parts[i]));
        }
        return Pattern.compile(regex.toString());
    }
}
