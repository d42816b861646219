package dev.layercache.server.core;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;

/**
 * A content digest such as {@code sha256:2c26b46b...}, parsed and validated once where it enters
 * the server (URL path, query parameter, manifest field) and passed around as this value after.
 *
 * <p>Only the algorithms that the OCI image spec registers are accepted, in their canonical form:
 * {@code sha256} with 64 and {@code sha512} with 128 lower-case hex characters. Anything else is
 * rejected with {@link ErrorCode#DIGEST_INVALID}, so no unverifiable digest ever reaches storage.
 * {@link #toString()} is the wire form.
 */
public final class Digest implements Comparable<Digest> {

    /** The algorithms this server can verify content with. */
    public enum Algorithm {
        SHA256("sha256", "SHA-256", 64),
        SHA512("sha512", "SHA-512", 128);

        private final String prefix;
        private final String jcaName;
        private final int hexLength;

        Algorithm(String prefix, String jcaName, int hexLength) {
            this.prefix = prefix;
            this.jcaName = jcaName;
            this.hexLength = hexLength;
        }

        public String prefix() {
            return prefix;
        }

        public int hexLength() {
            return hexLength;
        }

        public MessageDigest newMessageDigest() {
            try {
                return MessageDigest.getInstance(jcaName);
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("JVM lacks " + jcaName, e);
            }
        }

        static Algorithm byPrefix(String prefix) {
            for (Algorithm a : values()) {
                if (a.prefix.equals(prefix)) {
                    return a;
                }
            }
            return null;
        }
    }

    private static final HexFormat HEX = HexFormat.of();

    private final Algorithm algorithm;
    private final String hex;
    private final String text;

    private Digest(Algorithm algorithm, String hex) {
        this.algorithm = algorithm;
        this.hex = hex;
        this.text = algorithm.prefix + ":" + hex;
    }

    /** Parses a digest in wire form, throwing {@link RegistryException} with DIGEST_INVALID when it is not one. */
    public static Digest parse(String text) {
        Objects.requireNonNull(text, "text");
        int colon = text.indexOf(':');
        if (colon <= 0) {
            throw new RegistryException(ErrorCode.DIGEST_INVALID, "invalid digest: " + abbreviate(text));
        }
        Algorithm algorithm = Algorithm.byPrefix(text.substring(0, colon));
        if (algorithm == null) {
            throw new RegistryException(ErrorCode.DIGEST_INVALID,
                    "unsupported digest algorithm: " + abbreviate(text.substring(0, colon)));
        }
        String hex = text.substring(colon + 1);
        if (hex.length() != algorithm.hexLength || !isLowerHex(hex)) {
            throw new RegistryException(ErrorCode.DIGEST_INVALID,
                    "invalid " + algorithm.prefix + " digest: expected " + algorithm.hexLength
                            + " lower-case hex characters");
        }
        return new Digest(algorithm, hex);
    }

    /** True when {@code text} is a digest this server accepts. */
    public static boolean isValid(String text) {
        try {
            parse(text);
            return true;
        } catch (RegistryException e) {
            return false;
        }
    }

    /** A digest from the raw output of {@link Algorithm#newMessageDigest()}. */
    public static Digest of(Algorithm algorithm, byte[] hash) {
        return new Digest(algorithm, HEX.formatHex(hash));
    }

    /** The SHA-256 digest of {@code content}. */
    public static Digest sha256(byte[] content) {
        return of(Algorithm.SHA256, Algorithm.SHA256.newMessageDigest().digest(content));
    }

    public Algorithm algorithm() {
        return algorithm;
    }

    /** The hex part, without the algorithm prefix. */
    public String hex() {
        return hex;
    }

    @Override
    public String toString() {
        return text;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Digest d && d.text.equals(text);
    }

    @Override
    public int hashCode() {
        return text.hashCode();
    }

    @Override
    public int compareTo(Digest o) {
        return text.compareTo(o.text);
    }

    private static boolean isLowerHex(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                return false;
            }
        }
        return true;
    }

    static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
