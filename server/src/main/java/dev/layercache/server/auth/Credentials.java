package dev.layercache.server.auth;

import at.favre.lib.crypto.bcrypt.BCrypt;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Checks the credentials of a request against an htpasswd file (bcrypt hashes only, as
 * {@code htpasswd -B} writes them) and a tokens file ({@code <identity> sha256:<hex of the
 * token>} per line: tokens are stored hashed, so the file gives nobody a token).
 *
 * <p>Accepted: {@code Authorization: Basic} with a user and password of the htpasswd file, or
 * with any user name and a token as the password (what {@code docker login} and buildah's
 * {@code --creds} send), and {@code Authorization: Bearer <token>} (the gRPC client, curl).
 * Both files are read again when they change, at most every 2 seconds. A bcrypt check costs tens
 * of milliseconds by design, so a verified Basic credential is remembered (as its SHA-256, never
 * in the clear) until the files change.
 */
public final class Credentials {
    private static final long RECHECK_MILLIS = 2000;
    private static final int REMEMBERED = 10_000;

    /** Credentials that are present but wrong or malformed: 401. */
    public static final class Invalid extends Exception {
        Invalid(String message) {
            super(message);
        }
    }

    private record Files2(Map<String, String> bcryptByUser, Map<String, String> identityByTokenHash,
                          long htpasswdModified, long tokensModified) {
    }

    private final Path htpasswd;
    private final Path tokens;
    private volatile Files2 files;
    private volatile long checkedAt;
    private final Map<String, Identity> verified = new ConcurrentHashMap<>();

    private Credentials(Path htpasswd, Path tokens) throws IOException {
        this.htpasswd = htpasswd;
        this.tokens = tokens;
        this.files = read();
        this.checkedAt = System.currentTimeMillis();
    }

    /** Reads the files (either may be null); IllegalArgumentException names a malformed line. */
    public static Credentials load(Path htpasswd, Path tokens) throws IOException {
        return new Credentials(htpasswd, tokens);
    }

    /**
     * The identity of an {@code Authorization} header value; null when there is none.
     *
     * @throws Invalid when the header is malformed or its credentials are not known
     */
    public Identity authenticate(String authorization) throws Invalid {
        if (authorization == null || authorization.isBlank()) {
            return null;
        }
        reloadIfChanged();
        int space = authorization.indexOf(' ');
        String scheme = space < 0 ? authorization : authorization.substring(0, space);
        String value = space < 0 ? "" : authorization.substring(space + 1).trim();
        switch (scheme.toLowerCase(Locale.ROOT)) {
            case "bearer" -> {
                Identity id = token(value);
                if (id == null) {
                    throw new Invalid("unknown token");
                }
                return id;
            }
            case "basic" -> {
                String pair;
                try {
                    pair = new String(Base64.getDecoder().decode(value), StandardCharsets.UTF_8);
                } catch (IllegalArgumentException e) {
                    throw new Invalid("Basic credentials are not base64");
                }
                int colon = pair.indexOf(':');
                if (colon < 0) {
                    throw new Invalid("Basic credentials are not user:password");
                }
                return basic(pair.substring(0, colon), pair.substring(colon + 1));
            }
            default -> throw new Invalid("unsupported authorization scheme (Basic or Bearer)");
        }
    }

    private Identity basic(String user, String password) throws Invalid {
        String key = sha256(user + "\0" + password);
        Identity known = verified.get(key);
        if (known != null) {
            return known;
        }
        Identity id = null;
        String hash = files.bcryptByUser().get(user);
        if (hash != null && BCrypt.verifyer().verify(password.toCharArray(), hash.toCharArray()).verified) {
            id = new Identity(user);
        } else {
            id = token(password);
        }
        if (id == null) {
            throw new Invalid("wrong user name or password");
        }
        if (verified.size() > REMEMBERED) {
            verified.clear();
        }
        verified.put(key, id);
        return id;
    }

    private Identity token(String token) {
        String name = files.identityByTokenHash().get(sha256(token));
        return name == null ? null : new Identity(name);
    }

    private void reloadIfChanged() {
        long now = System.currentTimeMillis();
        if (now - checkedAt < RECHECK_MILLIS) {
            return;
        }
        checkedAt = now;
        try {
            if (modified(htpasswd) != files.htpasswdModified() || modified(tokens) != files.tokensModified()) {
                files = read();
                verified.clear();
            }
        } catch (IOException | IllegalArgumentException e) {
            // A file being rewritten or broken: keep the last good one (and say so once per check).
            org.slf4j.LoggerFactory.getLogger(Credentials.class).warn("credentials not reloaded: {}", e.getMessage());
        }
    }

    private Files2 read() throws IOException {
        Map<String, String> users = new HashMap<>();
        Map<String, String> tokenHashes = new HashMap<>();
        long htModified = modified(htpasswd);
        long tokModified = modified(tokens);
        if (htpasswd != null) {
            int n = 0;
            for (String line : Files.readAllLines(htpasswd, StandardCharsets.UTF_8)) {
                n++;
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                int colon = line.indexOf(':');
                String hash = colon < 0 ? "" : line.substring(colon + 1).trim();
                if (colon <= 0 || !hash.matches("\\$2[abxy]?\\$\\d\\d\\$[./A-Za-z0-9]{53}")) {
                    throw new IllegalArgumentException(htpasswd + " line " + n
                            + ": expected user:bcrypt-hash (htpasswd -B); other hashes are not accepted");
                }
                users.put(line.substring(0, colon), hash);
            }
        }
        if (tokens != null) {
            int n = 0;
            for (String line : Files.readAllLines(tokens, StandardCharsets.UTF_8)) {
                n++;
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                String[] parts = line.trim().split("\\s+");
                if (parts.length != 2 || !parts[1].matches("sha256:[0-9a-f]{64}")) {
                    throw new IllegalArgumentException(tokens + " line " + n
                            + ": expected '<identity> sha256:<hex>' (the SHA-256 of the token, not the token)");
                }
                tokenHashes.put(parts[1].substring("sha256:".length()), parts[0]);
            }
        }
        return new Files2(users, tokenHashes, htModified, tokModified);
    }

    private static long modified(Path file) throws IOException {
        return file == null ? 0 : Files.getLastModifiedTime(file).toMillis() ^ Files.size(file);
    }

    /** The hex SHA-256 of {@code text}: how tokens are stored in the tokens file. */
    public static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
