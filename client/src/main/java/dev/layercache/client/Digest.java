package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import dev.layercache.client.internal.Hashing;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;

/**
 * A content digest such as {@code sha256:2c26b46b...}, the identity of a blob.
 *
 * <p>Parsed and validated once, where it enters (a command-line argument, a manifest field, a
 * server answer), and passed around as this value after. The algorithms are those the OCI image
 * specification registers, in canonical form: {@code sha256} followed by 64, or {@code sha512}
 * followed by 128, lower-case hex characters. {@link #toString()} is the wire form.
 */
public final class Digest implements Comparable<Digest> {

    /** A digest algorithm the client can verify content with. */
    public enum Algorithm {
        /** SHA-256, the algorithm of every digest this client computes. */
        SHA256("sha256", "SHA-256", 64),
        /** SHA-512, accepted and verified when a manifest uses it. */
        SHA512("sha512", "SHA-512", 128);

        private final String prefix;
        private final String jcaName;
        private final int hexLength;

        Algorithm(String prefix, String jcaName, int hexLength) {
            this.prefix = prefix;
            this.jcaName = jcaName;
            this.hexLength = hexLength;
        }

        /** The name before the colon, for example {@code sha256}. */
        public String prefix() {
            return prefix;
        }

        /** A new hasher for this algorithm. */
        public MessageDigest newMessageDigest() {
            return Hashing.messageDigest(jcaName);
        }
    }

    private static final HexFormat HEX = HexFormat.of();

    private final Algorithm algorithm;
    private final String hex;

    private Digest(Algorithm algorithm, String hex) {
        this.algorithm = algorithm;
        this.hex = hex;
    }

    /**
     * Parses a digest in wire form.
     *
     * @throws IllegalArgumentException when {@code text} is not a canonical sha256 or sha512 digest
     */
    public static Digest parse(String text) {
        requireNonNull(text, "text");
        int colon = text.indexOf(':');
        Algorithm algorithm = null;
        if (colon > 0) {
            String prefix = text.substring(0, colon);
            for (Algorithm a : Algorithm.values()) {
                if (a.prefix.equals(prefix)) {
                    algorithm = a;
                }
            }
        }
        if (algorithm == null || text.length() - colon - 1 != algorithm.hexLength || !isLowerHex(text, colon + 1)) {
            throw new IllegalArgumentException("invalid digest (want sha256: and 64 lower-case hex characters): "
                    + abbreviate(text));
        }
        return new Digest(algorithm, text.substring(colon + 1));
    }

    /** Whether {@code text} is a digest {@link #parse} accepts. */
    public static boolean isValid(String text) {
        try {
            parse(text);
            return true;
        } catch (IllegalArgumentException | NullPointerException e) {
            return false;
        }
    }

    /** The SHA-256 digest of {@code bytes}. */
    public static Digest sha256(byte[] bytes) {
        requireNonNull(bytes, "bytes");
        return of(Algorithm.SHA256, Algorithm.SHA256.newMessageDigest().digest(bytes));
    }

    /** The SHA-256 digest of everything {@code in} yields (read to its end, not closed). */
    public static Digest sha256(InputStream in) throws IOException {
        requireNonNull(in, "in");
        return Hashing.digest(in, Algorithm.SHA256);
    }

    /** The SHA-256 digest of a file's content, read in constant memory. */
    public static Digest sha256(Path file) throws IOException {
        requireNonNull(file, "file");
        return Hashing.digest(file, Algorithm.SHA256);
    }

    /** The digest made of {@code algorithm} and the raw hash bytes it produced. */
    public static Digest of(Algorithm algorithm, byte[] hash) {
        requireNonNull(algorithm, "algorithm");
        requireNonNull(hash, "hash");
        if (hash.length * 2 != algorithm.hexLength) {
            throw new IllegalArgumentException("a " + algorithm.prefix + " hash has " + algorithm.hexLength / 2
                    + " bytes, not " + hash.length);
        }
        return new Digest(algorithm, HEX.formatHex(hash));
    }

    /** The algorithm. */
    public Algorithm algorithm() {
        return algorithm;
    }

    /** The lower-case hex after the colon. */
    public String hex() {
        return hex;
    }

    /** The first 12 hex characters, for display. */
    public String shortForm() {
        return algorithm.prefix + ":" + hex.substring(0, 12);
    }

    /** The wire form, for example {@code sha256:2c26b46b...}. */
    @Override
    public String toString() {
        return algorithm.prefix + ":" + hex;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Digest d && d.algorithm == algorithm && d.hex.equals(hex);
    }

    @Override
    public int hashCode() {
        return hex.hashCode();
    }

    @Override
    public int compareTo(Digest o) {
        return toString().compareTo(o.toString());
    }

    private static boolean isLowerHex(String s, int from) {
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
                return false;
            }
        }
        return true;
    }

    static String abbreviate(String s) {
        return s.length() <= 80 ? "\"" + s + "\"" : "\"" + s.substring(0, 77) + "...\"";
    }
}
