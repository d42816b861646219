package dev.layercache.server.config;

import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.mirror.UpstreamSettings;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads setting {@code mirror}, the upstream registries a node mirrors, in either of its forms:
 * the flat {@code REGISTRY=URL[,REGISTRY=URL...]} of a flag, the environment or the file, and the
 * file's list of upstreams, the only form that carries credentials and a revalidation interval.
 * Whichever source wins (flag over environment over file) gives the whole list: a flat value never
 * merges into the file's list.
 *
 * <p>No secret ever appears in an error: a password is only read from a file or an environment
 * variable, whose names are shown, and credentials written into a URL are refused with the URL's
 * user part hidden.
 */
final class MirrorConfig {
    private static final String LABEL = "[a-z0-9](?:[a-z0-9-]*[a-z0-9])?";
    private static final Pattern HOST = Pattern.compile(LABEL + "(?:\\." + LABEL + ")*");
    /** The keys of an upstream in the file's list form, in the order the docs give them. */
    private static final List<String> KEYS = List.of("registry", "url", "revalidate", "username", "password-file",
            "password-env");
    /** A password file is a secret of a line, not a file to load whatever its size. */
    private static final int MAX_SECRET_BYTES = 64 << 10;

    private MirrorConfig() {
    }

    /**
     * The upstreams of {@code v}'s {@code mirror}, or of {@code list} (the file's list form) when
     * the file gave it and nothing overrode it; {@code env} holds the variables {@code password-env}
     * names.
     */
    static ServerConfig.Mirror parse(ConfigLoader.Values v, JsonNode list, Map<String, String> env)
            throws ConfigException {
        String origin = v.origin().get(Setting.MIRROR);
        List<UpstreamSettings> upstreams = list != null ? fromList(list, origin, env) : fromText(v.get(Setting.MIRROR), origin);
        return upstreams.isEmpty() ? ServerConfig.Mirror.NONE : new ServerConfig.Mirror(upstreams);
    }

    /** {@code docker.io=https://registry-1.docker.io,ghcr.io=https://ghcr.io}: no credentials, default revalidation. */
    private static List<UpstreamSettings> fromText(String text, String origin) throws ConfigException {
        List<UpstreamSettings> out = new ArrayList<>();
        if (text.isBlank()) {
            return out;
        }
        Set<String> names = new HashSet<>();
        for (String item : text.split(",", -1)) {
            String entry = item.trim();
            int eq = entry.indexOf('=');
            if (eq < 0) {
                throw flat(entry, origin, "not REGISTRY=URL (example: docker.io=https://registry-1.docker.io)");
            }
            String name = entry.substring(0, eq).trim();
            String why = registryProblem(name);
            if (why == null && !names.add(name)) {
                why = name + " is named twice";
            }
            if (why != null) {
                throw flat(entry, origin, why);
            }
            URI url;
            try {
                url = url(entry.substring(eq + 1).trim());
            } catch (IllegalArgumentException e) {
                throw flat(entry, origin, e.getMessage());
            }
            out.add(new UpstreamSettings(name, url, UpstreamSettings.Credentials.NONE,
                    UpstreamSettings.DEFAULT_REVALIDATE));
        }
        return out;
    }

    /** The file's list: {@code - registry: docker.io}, {@code url: ...}, and optionally the rest of {@link #KEYS}. */
    private static List<UpstreamSettings> fromList(JsonNode list, String origin, Map<String, String> env)
            throws ConfigException {
        List<UpstreamSettings> out = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (int i = 0; i < list.size(); i++) {
            JsonNode node = list.get(i);
            String at = "upstream " + (i + 1);
            if (!node.isObject()) {
                throw listed(origin, at, "must be a mapping of " + String.join(", ", KEYS));
            }
            for (Iterator<String> keys = node.fieldNames(); keys.hasNext(); ) {
                String key = keys.next();
                if (key.equals("password") || key.equals("token")) {
                    // Not even read: a config file is copied, committed and shown far more than a secret should be.
                    throw listed(origin, at, "'" + key + "' is not accepted in the file: give the secret as"
                            + " password-file or password-env");
                }
                if (!KEYS.contains(key)) {
                    throw listed(origin, at, "unknown key '" + key + "' (" + String.join(", ", KEYS) + ")");
                }
                if (!node.get(key).isValueNode() || node.get(key).isNull()) {
                    throw listed(origin, at, key + " must be a single value");
                }
            }
            String name = text(node, "registry");
            if (name == null) {
                throw listed(origin, at, "has no registry");
            }
            at += " (" + ConfigLoader.oneLine(redact(name)) + ")";
            String why = registryProblem(name);
            if (why == null && !names.add(name)) {
                why = name + " is named twice";
            }
            if (why != null) {
                throw listed(origin, at, why);
            }
            String urlText = text(node, "url");
            if (urlText == null) {
                throw listed(origin, at, "has no url");
            }
            URI url;
            try {
                url = url(urlText);
            } catch (IllegalArgumentException e) {
                throw listed(origin, at, "url '" + ConfigLoader.oneLine(redact(urlText)) + "': " + e.getMessage());
            }
            Duration revalidate = UpstreamSettings.DEFAULT_REVALIDATE;
            String revalidateText = text(node, "revalidate");
            if (revalidateText != null) {
                try {
                    revalidate = ConfigLoader.duration(revalidateText);
                } catch (IllegalArgumentException e) {
                    throw listed(origin, at, "revalidate '" + ConfigLoader.oneLine(revalidateText) + "': "
                            + e.getMessage());
                }
            }
            out.add(new UpstreamSettings(name, url, credentials(node, origin, at, env), revalidate));
        }
        return out;
    }

    private static UpstreamSettings.Credentials credentials(JsonNode node, String origin, String at,
                                                            Map<String, String> env) throws ConfigException {
        String user = text(node, "username");
        String file = text(node, "password-file");
        String variable = text(node, "password-env");
        if (user == null && file == null && variable == null) {
            return UpstreamSettings.Credentials.NONE;
        }
        if (file != null && variable != null) {
            throw listed(origin, at, "password-file or password-env, not both");
        }
        if (user == null) {
            throw listed(origin, at, (file != null ? "password-file" : "password-env") + " needs username");
        }
        if (file == null && variable == null) {
            throw listed(origin, at, "username needs password-file or password-env");
        }
        String secret;
        if (file != null) {
            secret = readSecret(Path.of(file), origin, at);
        } else {
            secret = env.get(variable);
            if (secret == null || secret.isEmpty()) {
                throw listed(origin, at, "password-env: environment variable " + ConfigLoader.oneLine(variable)
                        + " is not set or empty");
            }
        }
        return new UpstreamSettings.Credentials(user, secret);
    }

    /**
     * The secret in {@code file}, without the line break editors and {@code echo} leave at its end.
     * A failure names the file, never what it holds (an exception message could quote it).
     */
    private static String readSecret(Path file, String origin, String at) throws ConfigException {
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            bytes = in.readNBytes(MAX_SECRET_BYTES + 1);
        } catch (IOException | SecurityException e) {
            throw listed(origin, at, "password-file " + file + " cannot be read (" + e.getClass().getSimpleName() + ")");
        }
        if (bytes.length > MAX_SECRET_BYTES) {
            throw listed(origin, at, "password-file " + file + " is larger than 64 KiB: not a password or token");
        }
        String secret = new String(bytes, StandardCharsets.UTF_8).replaceAll("[\\r\\n]+$", "");
        if (secret.isEmpty()) {
            throw listed(origin, at, "password-file " + file + " is empty");
        }
        return secret;
    }

    /**
     * Why {@code name} cannot be a registry clients mirror through us, or null. It must be what a
     * client writes as the first component of an image reference, and that component names a
     * registry only with a dot or as {@code localhost} (Docker's rule): so that
     * {@code docker.io/library/x} is told from a local repository {@code team/app}, a name that
     * could be a local namespace is refused. No port: the copies are kept under repository names
     * that begin with this name (docs/mirror.md), and a repository name cannot hold {@code :}.
     */
    static String registryProblem(String name) {
        if (name.isEmpty()) {
            return "no registry name before '='";
        }
        if (!name.equals(name.toLowerCase(Locale.ROOT))) {
            return "registry '" + name + "' must be lowercase, as clients write it";
        }
        if (name.matches("[^:/]+:\\d*")) {
            return "registry '" + name + "' has a port: name it by its host alone (mirrored repositories are"
                    + " named after it, and a repository name cannot hold ':'); the URL keeps the port";
        }
        if (!HOST.matcher(name).matches() || name.length() > 253 || !RepositoryName.isValid(name)) {
            return "'" + name + "' is not a registry host name (examples: docker.io, ghcr.io, registry.example.com)";
        }
        if (!name.contains(".") && !name.equals("localhost")) {
            return "registry '" + name + "' has no dot: such a name is a local repository's namespace,"
                    + " never a registry (write the host name clients use, e.g. docker.io)";
        }
        return null;
    }

    /**
     * The upstream's base URL: {@code http} or {@code https} with a host, no query, fragment or
     * credentials; a trailing {@code /} or {@code /v2/} removed. Throws with the reason.
     */
    static URI url(String text) {
        if (text.isEmpty()) {
            throw new IllegalArgumentException("no URL after '='");
        }
        URI uri;
        try {
            uri = new URI(text);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("not a URL");
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw new IllegalArgumentException("the URL must be http:// or https://");
        }
        if (uri.getRawUserInfo() != null) {
            throw new IllegalArgumentException("the URL must not hold credentials (give them in the config file's"
                    + " list form: username with password-file or password-env)");
        }
        if (uri.getHost() == null) {
            throw new IllegalArgumentException("the URL has no host");
        }
        if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
            throw new IllegalArgumentException("the URL must not have a query or a fragment");
        }
        String path = uri.getRawPath() == null ? "" : uri.getRawPath();
        path = path.replaceAll("/+$", "");
        if (path.endsWith("/v2")) {
            path = path.substring(0, path.length() - 3).replaceAll("/+$", "");
        }
        return URI.create(scheme + "://" + uri.getRawAuthority() + path);
    }

    private static String text(JsonNode node, String key) {
        JsonNode value = node.get(key);
        if (value == null) {
            return null;
        }
        String text = value.asText().trim();
        return text.isEmpty() ? null : text;
    }

    /** An error in the flat form, quoting only the entry at fault, with any URL credentials hidden. */
    private static ConfigException flat(String entry, String origin, String why) {
        return new ConfigException("invalid setting " + Setting.MIRROR.key() + " = '" + ConfigLoader.oneLine(redact(entry))
                + "' (from " + origin + "): " + why);
    }

    private static ConfigException listed(String origin, String at, String why) {
        return new ConfigException("invalid setting " + Setting.MIRROR.key() + " (from " + origin + "), " + at + ": "
                + why);
    }

    /** {@code https://user:secret@host} as {@code https://(hidden)@host}: an error line is logged and shown. */
    static String redact(String text) {
        return text.replaceAll("://[^/@\\s]*@", "://(hidden)@");
    }
}
