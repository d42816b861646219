package dev.layercache.server.mirror;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * One authentication challenge from a {@code WWW-Authenticate} header (RFC 7235 section 4.1): a
 * scheme ({@code Bearer}, {@code Basic}) and its parameters ({@code realm}, {@code service},
 * {@code scope}...).
 *
 * <p>A header may carry several challenges separated by commas, and so may its parameters, and a
 * quoted value may itself contain commas and escaped quotes (Docker Hub's {@code scope} lists
 * several actions: {@code "repository:library/busybox:pull,push"}): a split on commas gets both
 * wrong, so {@link #parse} reads the grammar token by token.
 *
 * @param scheme     the scheme in lower case ({@code bearer}, {@code basic})
 * @param parameters the parameters by lower-case name, values unquoted; empty for a token68 form
 */
public record Challenge(String scheme, Map<String, String> parameters) {
    public Challenge {
        scheme = scheme.toLowerCase(Locale.ROOT);
        parameters = Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
    }

    /** The parameter {@code name} (case-insensitive), if present. */
    public Optional<String> parameter(String name) {
        return Optional.ofNullable(parameters.get(name.toLowerCase(Locale.ROOT)));
    }

    public boolean isBearer() {
        return scheme.equals("bearer");
    }

    public boolean isBasic() {
        return scheme.equals("basic");
    }

    /** Every challenge in every one of these header values, in order; malformed parts are skipped. */
    public static List<Challenge> parseAll(List<String> headerValues) {
        List<Challenge> all = new ArrayList<>();
        for (String value : headerValues) {
            all.addAll(parse(value));
        }
        return all;
    }

    /** The challenges in one {@code WWW-Authenticate} value, in order. Never throws: what cannot be read ends the list. */
    public static List<Challenge> parse(String header) {
        List<Challenge> challenges = new ArrayList<>();
        Reader r = new Reader(header);
        while (true) {
            r.skipSeparators();
            String scheme = r.token();
            if (scheme.isEmpty()) {
                return challenges;
            }
            Map<String, String> params = new LinkedHashMap<>();
            r.skipSpaces();
            // A parameter list follows when a token is followed by '='; a token followed by a space or a
            // comma (or nothing) is the next challenge's scheme instead.
            while (r.startsParameter()) {
                String name = r.token().toLowerCase(Locale.ROOT);
                r.skipSpaces();
                r.expect('=');
                r.skipSpaces();
                String value = r.peek() == '"' ? r.quoted() : r.token();
                if (value == null) {
                    challenges.add(new Challenge(scheme, params));
                    return challenges;
                }
                params.putIfAbsent(name, value);
                r.skipSpaces();
                if (r.peek() != ',') {
                    break;
                }
                r.skipSeparators();
            }
            if (params.isEmpty()) {
                r.skipToken68();
            }
            challenges.add(new Challenge(scheme, params));
        }
    }

    /** A cursor over the header's characters. */
    private static final class Reader {
        private final String s;
        private int i;

        Reader(String s) {
            this.s = s == null ? "" : s;
        }

        char peek() {
            return i < s.length() ? s.charAt(i) : '\0';
        }

        void skipSpaces() {
            while (i < s.length() && (s.charAt(i) == ' ' || s.charAt(i) == '\t')) {
                i++;
            }
        }

        void skipSeparators() {
            while (i < s.length() && (s.charAt(i) == ' ' || s.charAt(i) == '\t' || s.charAt(i) == ',')) {
                i++;
            }
        }

        void expect(char c) {
            if (peek() == c) {
                i++;
            }
        }

        /** RFC 7230 tchar: what a scheme, a parameter name and an unquoted value are made of. */
        private static boolean tchar(char c) {
            return c > 32 && c < 127 && "\"(),/:;<=>?@[\\]{}".indexOf(c) < 0;
        }

        String token() {
            int start = i;
            while (i < s.length() && tchar(s.charAt(i))) {
                i++;
            }
            return s.substring(start, i);
        }

        /** A token followed (after optional spaces) by '=' but not by a second '=' (token68 padding). */
        boolean startsParameter() {
            int j = i;
            while (j < s.length() && tchar(s.charAt(j)) && s.charAt(j) != '=') {
                j++;
            }
            if (j == i) {
                return false;
            }
            while (j < s.length() && (s.charAt(j) == ' ' || s.charAt(j) == '\t')) {
                j++;
            }
            return j < s.length() && s.charAt(j) == '=' && (j + 1 >= s.length() || s.charAt(j + 1) != '=');
        }

        /** A quoted-string with its backslash escapes undone, or null when it never closes. */
        String quoted() {
            StringBuilder sb = new StringBuilder();
            i++;
            while (i < s.length()) {
                char c = s.charAt(i++);
                if (c == '"') {
                    return sb.toString();
                }
                if (c == '\\' && i < s.length()) {
                    c = s.charAt(i++);
                }
                sb.append(c);
            }
            return null;
        }

        void skipToken68() {
            while (i < s.length() && s.charAt(i) != ',') {
                i++;
            }
        }
    }
}
