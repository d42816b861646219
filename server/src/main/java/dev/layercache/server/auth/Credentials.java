package dev.layercache.server.auth;

import at.favre.lib.crypto.bcrypt.BCrypt;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
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
 * Both files are read again when they change, at most every 2 seconds.
 *
 * <p>Two steps, because they cost six orders of magnitude apart. {@link #claim} reads the header
 * and answers at once whatever needs no bcrypt: no credentials, tokens, malformed headers, and
 * every user and password {@link #verify verified} before, right or wrong (remembered as the
 * SHA-256 of user and password, never in the clear, until the files change). What is left is
 * {@link Unverified}, and {@link #verify} settles it with one bcrypt check, tens of milliseconds
 * of CPU by design: callers run it on a pool of its own (see {@link Verifier}), never on an event
 * loop.
 *
 * <p>A failure costs the same whether the user exists or not: a user name the file does not know
 * is checked against a dummy hash with the cost of the file's costliest hash, and the answer is
 * remembered the same way as a wrong password of a known user. (Users with different costs can
 * still be told apart by a caller who guesses names: give every user the same cost.)
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

    /** What {@link #claim} makes of a header. */
    sealed interface Claim permits Known, Refused, Unverified {
    }

    /** An identity, known without a bcrypt check (a token, or credentials verified before). */
    record Known(Identity identity) implements Claim {
    }

    /** Credentials that are wrong, malformed, or were found wrong before: 401. */
    record Refused(String reason) implements Claim {
    }

    /**
     * A user name and password seen for the first time (since the files last changed): only a
     * bcrypt check can tell. {@code key} names them in the caches and among checks in progress.
     */
    record Unverified(String user, String password, String key) implements Claim {
        @Override
        public String toString() {
            return "Unverified[" + user + "]"; // never the password
        }
    }

    /** How a password is checked against a hash; a seam for tests that count the checks and their costs. */
    interface Bcrypt {
        Bcrypt REAL = (password, hash) -> {
            try {
                return BCrypt.verifyer().verify(password.toCharArray(), hash.toCharArray()).verified;
            } catch (IllegalArgumentException e) {
                return false; // a password bcrypt cannot take (too long) matches nothing
            }
        };

        boolean matches(String password, String hash);
    }

    private record CredentialFiles(Map<String, String> bcryptByUser, Map<String, String> identityByTokenHash,
                          String dummyHash, long htpasswdModified, long tokensModified) {
    }

    private final Path htpasswd;
    private final Path tokens;
    private final Bcrypt bcrypt;
    private volatile CredentialFiles files;
    private volatile long checkedAt;
    private final Map<String, Identity> verified = new ConcurrentHashMap<>();
    private final Map<String, Boolean> refused = new ConcurrentHashMap<>();

    private Credentials(Path htpasswd, Path tokens, Bcrypt bcrypt) throws IOException {
        this.htpasswd = htpasswd;
        this.tokens = tokens;
        this.bcrypt = bcrypt;
        this.files = read();
        this.checkedAt = System.currentTimeMillis();
    }

    /** Reads the files (either may be null); IllegalArgumentException names a malformed line. */
    public static Credentials load(Path htpasswd, Path tokens) throws IOException {
        return new Credentials(htpasswd, tokens, Bcrypt.REAL);
    }

    /** As {@link #load}, checking passwords with {@code bcrypt} (tests count the checks). */
    static Credentials load(Path htpasswd, Path tokens, Bcrypt bcrypt) throws IOException {
        return new Credentials(htpasswd, tokens, bcrypt);
    }

    /**
     * The identity of an {@code Authorization} header value, running the bcrypt check when one is
     * needed; null when there is no header. Costs up to a bcrypt check: never on an event loop.
     *
     * @throws Invalid when the header is malformed or its credentials are not known
     */
    public Identity authenticate(String authorization) throws Invalid {
        Claim claim = claim(authorization);
        if (claim == null) {
            return null;
        }
        if (claim instanceof Known k) {
            return k.identity();
        }
        if (claim instanceof Refused r) {
            throw new Invalid(r.reason());
        }
        return verify((Unverified) claim);
    }

    /**
     * What the header says without a bcrypt check: null for no header, else {@link Known},
     * {@link Refused} or {@link Unverified}. Costs a SHA-256 of the credentials and, every 2
     * seconds, a look at the files' sizes and times (a {@code stat}).
     */
    Claim claim(String authorization) {
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
                return id == null ? new Refused("unknown token") : new Known(id);
            }
            case "basic" -> {
                String pair;
                try {
                    pair = new String(Base64.getDecoder().decode(value), StandardCharsets.UTF_8);
                } catch (IllegalArgumentException e) {
                    return new Refused("Basic credentials are not base64");
                }
                int colon = pair.indexOf(':');
                if (colon < 0) {
                    return new Refused("Basic credentials are not user:password");
                }
                return basic(pair.substring(0, colon), pair.substring(colon + 1));
            }
            default -> {
                return new Refused("unsupported authorization scheme (Basic or Bearer)");
            }
        }
    }

    private Claim basic(String user, String password) {
        // A token is a token whatever user name comes with it (docker login sends one), and
        // costs no bcrypt check.
        Identity token = token(password);
        if (token != null) {
            return new Known(token);
        }
        if (files.bcryptByUser().isEmpty()) {
            return new Refused("wrong user name or password"); // no user to check, nor to tell apart
        }
        String key = sha256(user + "\0" + password);
        Identity known = verified.get(key);
        if (known != null) {
            return new Known(known);
        }
        if (refused.containsKey(key)) {
            return new Refused("wrong user name or password");
        }
        return new Unverified(user, password, key);
    }

    /**
     * Settles credentials {@link #claim} could not: one bcrypt check, against the user's hash or,
     * for a name the file does not know, against a dummy hash of the same cost as the costliest
     * (so that the answer takes as long). The outcome is remembered until the files change.
     *
     * @throws Invalid when the password is wrong or the user unknown
     */
    Identity verify(Unverified claim) throws Invalid {
        CredentialFiles f = files;
        String hash = f.bcryptByUser().get(claim.user());
        // Always one check, so that an unknown name costs what a known one does.
        boolean checked = bcrypt.matches(claim.password(), hash != null ? hash : f.dummyHash());
        boolean matches = hash != null && checked;
        if (files == f) { // a reload in between cleared the caches: remember nothing from before it
            Map<String, ?> memory = matches ? verified : refused;
            if (memory.size() > REMEMBERED) {
                memory.clear();
            }
            if (matches) {
                verified.put(claim.key(), new Identity(claim.user()));
            } else {
                refused.put(claim.key(), Boolean.TRUE);
            }
        }
        if (!matches) {
            throw new Invalid("wrong user name or password");
        }
        return new Identity(claim.user());
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
                refused.clear();
            }
        } catch (IOException | IllegalArgumentException e) {
            // A file being rewritten or broken: keep the last good one (and say so once per check).
            org.slf4j.LoggerFactory.getLogger(Credentials.class).warn("credentials not reloaded: {}", e.getMessage());
        }
    }

    private CredentialFiles read() throws IOException {
        Map<String, String> users = new HashMap<>();
        Map<String, String> tokenHashes = new HashMap<>();
        long htModified = modified(htpasswd);
        long tokModified = modified(tokens);
        int maxCost = 0;
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
                maxCost = Math.max(maxCost, cost(hash));
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
        return new CredentialFiles(users, tokenHashes, users.isEmpty() ? null : dummyHash(maxCost), htModified, tokModified);
    }

    /** The cost of a bcrypt hash ({@code $2y$12$...}: 12). */
    static int cost(String hash) {
        int second = hash.indexOf('$', 1);
        return Integer.parseInt(hash.substring(second + 1, second + 3));
    }

    /** A hash of a random password nobody knows, with the given cost (bcrypt's range: 4 to 31). */
    private static String dummyHash(int cost) {
        byte[] secret = new byte[16];
        new SecureRandom().nextBytes(secret);
        char[] password = HexFormat.of().formatHex(secret).toCharArray();
        return BCrypt.with(BCrypt.Version.VERSION_2Y).hashToString(Math.max(BCrypt.MIN_COST, cost), password);
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
