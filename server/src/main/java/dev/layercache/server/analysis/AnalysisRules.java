package dev.layercache.server.analysis;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;

/**
 * What the analysis looks for in file paths: secrets left in a layer and package-manager caches.
 * Paths are normalised layer paths ({@code etc/passwd}: no leading slash or {@code ./}).
 *
 * <p>{@link #VERSION} is part of the key of every cached analysis: change it whenever a rule
 * changes, so that results computed under the old rules are not served again.
 */
public final class AnalysisRules {
    /** Bump on any change to the rules below (or to what the analysis reports). */
    public static final int VERSION = 1;

    /** At most this many bytes of a candidate file are read to confirm a secret. */
    public static final int PEEK_BYTES = 8 << 10;
    /** Files larger than this are never read to confirm a secret (a key file is small). */
    static final long MAX_PEEK_FILE = 1 << 20;

    private AnalysisRules() {
    }

    /** A secret rule: its name, what it means, and whether content must confirm it. */
    public record Secret(String rule, String description, Predicate<String> path, String mustContain) {
        /** True when the rule is decided by the path alone. */
        boolean pathOnly() {
            return mustContain == null;
        }

        /** True when {@code head} (the first bytes of the file) confirms the rule. */
        boolean confirmedBy(byte[] head, int length) {
            if (mustContain == null) {
                return true;
            }
            return new String(head, 0, length, StandardCharsets.ISO_8859_1).contains(mustContain);
        }
    }

    /** A package-manager cache: a kind and the paths that belong to it. */
    public record Cache(String kind, Predicate<String> path) {
    }

    static final List<Secret> SECRETS = List.of(
            new Secret("ssh-private-key", "SSH private key",
                    p -> base(p).matches("id_(rsa|dsa|ecdsa|ed25519)(_sk)?"), null),
            new Secret("private-key-pem", "PEM file with a private key",
                    p -> endsWithAny(lower(p), ".pem", ".key"), "PRIVATE KEY"),
            new Secret("dotenv", "environment file (.env)",
                    p -> base(p).equals(".env") || (base(p).startsWith(".env.")
                            && !base(p).matches("\\.env\\.(example|sample|template|dist)")), null),
            new Secret("aws-credentials", "AWS credentials file", p -> p.endsWith(".aws/credentials"), null),
            new Secret("docker-config", "Docker registry credentials",
                    p -> p.endsWith(".docker/config.json"), "auth"),
            new Secret("npmrc-token", "npm token (.npmrc)", p -> base(p).equals(".npmrc"), "_auth"),
            new Secret("netrc", "netrc credentials", p -> base(p).equals(".netrc"), null),
            new Secret("git-credentials", "git credential store", p -> base(p).equals(".git-credentials"), null),
            new Secret("gcloud-credentials", "Google Cloud credentials",
                    p -> p.contains(".config/gcloud/") && (base(p).equals("credentials.db")
                            || base(p).equals("access_tokens.db")
                            || base(p).equals("application_default_credentials.json")), null),
            new Secret("kubeconfig", "Kubernetes client configuration", p -> p.endsWith(".kube/config"), null),
            new Secret("pkcs12", "PKCS#12 key store", p -> endsWithAny(lower(p), ".p12", ".pfx"), null));

    static final List<Cache> CACHES = List.of(
            new Cache("apt-lists", p -> p.startsWith("var/lib/apt/lists/") && !p.endsWith("/lock")),
            new Cache("apt-archives", p -> p.startsWith("var/cache/apt/") && !p.endsWith("/lock")),
            new Cache("apk", p -> p.startsWith("var/cache/apk/")),
            new Cache("yum-dnf", p -> p.startsWith("var/cache/yum/") || p.startsWith("var/cache/dnf/")),
            new Cache("pip", p -> p.contains(".cache/pip/")),
            new Cache("npm", p -> p.contains(".npm/_cacache/")),
            new Cache("yarn", p -> p.contains(".cache/yarn/") || p.contains(".yarn/cache/")),
            new Cache("go-build", p -> p.contains(".cache/go-build/")),
            new Cache("go-modules", p -> p.contains("go/pkg/mod/cache/")),
            new Cache("gradle", p -> p.contains(".gradle/caches/")),
            new Cache("maven", p -> p.contains(".m2/repository/")));

    /** The first secret rule the path may match (content confirmation aside), or null. */
    static Secret secretCandidate(String path) {
        for (Secret s : SECRETS) {
            if (s.path().test(path)) {
                return s;
            }
        }
        return null;
    }

    /** The cache the path belongs to, or null. */
    static Cache cacheOf(String path) {
        for (Cache c : CACHES) {
            if (c.path().test(path)) {
                return c;
            }
        }
        return null;
    }

    private static String base(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }

    private static String lower(String path) {
        return path.toLowerCase(Locale.ROOT);
    }

    private static boolean endsWithAny(String s, String... suffixes) {
        for (String suffix : suffixes) {
            if (s.endsWith(suffix)) {
                return true;
            }
        }
        return false;
    }
}
