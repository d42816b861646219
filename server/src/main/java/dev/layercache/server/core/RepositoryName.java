package dev.layercache.server.core;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A repository name such as {@code team/app}, validated against the OCI Distribution grammar
 * ({@code [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*}) and a length
 * limit. The grammar admits no {@code ..}, no empty component, no upper case and no percent
 * sign, so a valid name is also safe to use in storage keys and paths.
 */
public final class RepositoryName implements Comparable<RepositoryName> {

    /** Distribution's limit for the whole name; the spec suggests clients keep below 255 with the host. */
    public static final int MAX_LENGTH = 255;

    private static final Pattern GRAMMAR = Pattern.compile(
            "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*)*");

    private final String name;

    private RepositoryName(String name) {
        this.name = name;
    }

    public static RepositoryName parse(String name) {
        Objects.requireNonNull(name, "name");
        String problem = problem(name);
        if (problem != null) {
            throw new RegistryException(ErrorCode.NAME_INVALID,
                    "invalid repository name " + Digest.abbreviate(name) + ": " + problem,
                    name.length() > 255 ? null : name);
        }
        return new RepositoryName(name);
    }

    /** True when {@link #parse} would accept {@code name} (null: false), for callers that only need to know. */
    public static boolean isValid(String name) {
        return name != null && !name.isEmpty() && name.length() <= MAX_LENGTH && followsGrammar(name);
    }

    /**
     * Whether {@code name} follows {@link #GRAMMAR}, by a scan of its characters: every request
     * names a repository, and the regular expression's matcher cost 1.5% of the node's CPU for a
     * blob's {@code HEAD} answered from memory (issue 24). {@code RepositoryNameTest} checks the
     * two agree on the grammar's edge cases and on random strings of its alphabet.
     */
    static boolean followsGrammar(String name) {
        int n = name.length();
        int i = 0;
        while (true) {
            // A run of [a-z0-9]+ starts the name, every component and follows every separator.
            int start = i;
            while (i < n && isLowerAlnum(name.charAt(i))) {
                i++;
            }
            if (i == start) {
                return false;
            }
            if (i == n) {
                return true;
            }
            char c = name.charAt(i);
            if (c == '/' || c == '.') {
                i++;
            } else if (c == '_') {
                i++;
                if (i < n && name.charAt(i) == '_') {
                    i++;
                }
            } else if (c == '-') {
                while (i < n && name.charAt(i) == '-') {
                    i++;
                }
            } else {
                return false;
            }
        }
    }

    private static boolean isLowerAlnum(char c) {
        return c >= 'a' && c <= 'z' || c >= '0' && c <= '9';
    }

    /** The grammar as Distribution writes it; {@link #followsGrammar} is its fast form. */
    static boolean matchesPattern(String name) {
        return GRAMMAR.matcher(name).matches();
    }

    /**
     * Which rule {@code name} breaks, in words for the person who typed it, or null when it is a
     * valid name. The first broken rule is named, in the order a reader would check them.
     */
    public static String problem(String name) {
        if (name == null || name.isEmpty()) {
            return "it is empty";
        }
        if (name.length() > MAX_LENGTH) {
            return "longer than " + MAX_LENGTH + " characters";
        }
        if (followsGrammar(name)) {
            return null;
        }
        if (!name.equals(name.toLowerCase(java.util.Locale.ROOT))) {
            return "names are lowercase (" + name.toLowerCase(java.util.Locale.ROOT) + ")";
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && ".-_/".indexOf(c) < 0) {
                return "'" + c + "' is not allowed (only a-z, 0-9 and the separators '.', '_', '-', '/')";
            }
        }
        if (name.startsWith("/") || name.endsWith("/") || name.contains("//")) {
            return "components are separated by single '/', with none empty";
        }
        return "each component separated by '/' starts and ends with a-z or 0-9, with single '.', '_' or '__'"
                + " or dashes between";
    }

    /** The first path component, for example {@code team} for {@code team/app}. */
    public String namespace() {
        int slash = name.indexOf('/');
        return slash < 0 ? name : name.substring(0, slash);
    }

    @Override
    public String toString() {
        return name;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RepositoryName r && r.name.equals(name);
    }

    @Override
    public int hashCode() {
        return name.hashCode();
    }

    @Override
    public int compareTo(RepositoryName o) {
        return name.compareTo(o.name);
    }
}
