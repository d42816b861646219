package dev.layercache.client;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import java.io.ByteArrayOutputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.CharBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The cache key of a build step: {@code sha256:} and 64 lower-case hex characters, the SHA-256
 * of a canonical, versioned encoding of the key of the step before it (its parent), the step's
 * canonical instruction and its inputs. One changed input changes its step's key and, through the
 * parent chain, the key of every step after it.
 *
 * <h2>The encoding, version 1</h2>
 *
 * <p>Every builder, in any language, must produce these exact bytes. The encoding is the
 * concatenation of the following lines, each ending with one line feed ({@code \n}, 0x0A);
 * strings are UTF-8, numbers are decimal ASCII without sign or leading zeros, and {@code <n>}
 * is the length in bytes of the UTF-8 string that follows it:
 *
 * <pre>
 * layercache-cache-key-v1\n
 * parent:PARENT\n
 * instruction:&lt;n&gt;:INSTRUCTION\n
 * inputs:COUNT\n
 * input:MODE:DIGEST:&lt;n&gt;:PATH\n        (once per input)
 * </pre>
 *
 * <ul>
 *   <li>{@code PARENT} is the parent step's key in wire form ({@code sha256:...}), or nothing
 *       (the line is then {@code parent:\n}) for the first step of a build.</li>
 *   <li>{@code INSTRUCTION} is the canonical instruction exactly as the builder gives it (for
 *       example {@code COPY package.json /app/}); it may contain any character, line feeds
 *       included, since its length precedes it. The library does not trim or rewrite it: what
 *       "canonical" means (resolved build arguments, normalised spacing) is the builder's choice,
 *       and must be stable.</li>
 *   <li>{@code COUNT} is the number of inputs, then one {@code input:} line per input, sorted by
 *       path comparing the UTF-8 bytes as unsigned numbers. Paths are unique.</li>
 *   <li>{@code MODE} is the permission bits as exactly four octal digits ({@code 0644},
 *       {@code 0755}, {@code 4755}); {@code DIGEST} is the content digest in wire form
 *       ({@code sha256:...}); {@code PATH} is the path relative to the build context with
 *       {@code /} separators (see {@link StepInput}).</li>
 *   <li>No timestamp, owner or other metadata takes part.</li>
 * </ul>
 *
 * <p>The key is {@code "sha256:"} followed by the lower-case hex SHA-256 of those bytes.
 *
 * <p>A test vector: for no parent, the instruction {@code RUN echo hi} and one input
 * {@code a.txt} with mode {@code 0644} and the content {@code hello\n} (digest
 * {@code sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03}), the encoding is
 *
 * <pre>
 * layercache-cache-key-v1
 * parent:
 * instruction:11:RUN echo hi
 * inputs:1
 * input:0644:sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03:5:a.txt
 * </pre>
 *
 * <p>(each line ending with a line feed) and the key is
 * {@code sha256:c6ef3d11fca3e0863b5adefbba9d9641a620d532b3a39bf224438908fd00934b}.
 */
public final class CacheKey implements Comparable<CacheKey> {

    /** The first line of the encoding; a new version of the encoding will change it. */
    public static final String ENCODING_VERSION = "layercache-cache-key-v1";

    /** The order of inputs in the encoding: by path, comparing UTF-8 bytes as unsigned numbers. */
    public static final Comparator<StepInput> INPUT_ORDER =
            (a, b) -> Arrays.compareUnsigned(a.path().getBytes(UTF_8), b.path().getBytes(UTF_8));

    private final Digest digest;

    private CacheKey(Digest digest) {
        this.digest = digest;
    }

    /**
     * Parses a key in wire form.
     *
     * @throws IllegalArgumentException unless {@code text} is {@code sha256:} and 64 lower-case hex characters
     */
    public static CacheKey parse(String text) {
        requireNonNull(text, "text");
        if (!text.startsWith("sha256:") || !Digest.isValid(text)) {
            throw new IllegalArgumentException("invalid cache key (want sha256: and 64 lower-case hex characters): "
                    + Digest.abbreviate(text));
        }
        return new CacheKey(Digest.parse(text));
    }

    /**
     * Computes the key of a step from its parent's key (empty for the first step of a build), its
     * canonical instruction and its inputs (in any order), with the encoding documented above.
     *
     * @throws IllegalArgumentException when two inputs have the same path, or the instruction is not valid Unicode
     */
    public static CacheKey compute(Optional<CacheKey> parent, String instruction, Collection<StepInput> inputs) {
        return new CacheKey(Digest.sha256(canonicalEncoding(parent, instruction, inputs)));
    }

    /**
     * The bytes whose SHA-256 is the key, as documented above: useful to compare with another
     * implementation of the encoding.
     */
    public static byte[] canonicalEncoding(Optional<CacheKey> parent, String instruction,
                                           Collection<StepInput> inputs) {
        requireNonNull(parent, "parent");
        requireNonNull(instruction, "instruction");
        requireNonNull(inputs, "inputs");
        List<StepInput> sorted = new ArrayList<>(inputs.size());
        for (StepInput in : inputs) {
            sorted.add(requireNonNull(in, "inputs element"));
        }
        sorted.sort(INPUT_ORDER);
        ByteArrayOutputStream out = new ByteArrayOutputStream(256 + 128 * sorted.size());
        line(out, ENCODING_VERSION);
        line(out, "parent:" + parent.map(CacheKey::toString).orElse(""));
        byte[] instructionBytes = strictUtf8(instruction, "instruction");
        ascii(out, "instruction:" + instructionBytes.length + ":");
        out.writeBytes(instructionBytes);
        out.write('\n');
        line(out, "inputs:" + sorted.size());
        String previous = null;
        for (StepInput in : sorted) {
            if (in.path().equals(previous)) {
                throw new IllegalArgumentException("two inputs have the path \"" + previous + "\"");
            }
            previous = in.path();
            byte[] path = strictUtf8(in.path(), "input path");
            ascii(out, "input:" + in.octalMode() + ":" + in.digest() + ":" + path.length + ":");
            out.writeBytes(path);
            out.write('\n');
        }
        return out.toByteArray();
    }

    /** The key as a digest (the SHA-256 of the encoding). */
    public Digest digest() {
        return digest;
    }

    /** The first 12 hex characters, for display. */
    public String shortForm() {
        return digest.shortForm();
    }

    /** The wire form, {@code sha256:} and 64 lower-case hex characters. */
    @Override
    public String toString() {
        return digest.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CacheKey k && k.digest.equals(digest);
    }

    @Override
    public int hashCode() {
        return digest.hashCode();
    }

    @Override
    public int compareTo(CacheKey o) {
        return digest.compareTo(o.digest);
    }

    private static void line(ByteArrayOutputStream out, String ascii) {
        ascii(out, ascii);
        out.write('\n');
    }

    private static void ascii(ByteArrayOutputStream out, String s) {
        out.writeBytes(s.getBytes(UTF_8));
    }

    private static byte[] strictUtf8(String s, String what) {
        try {
            var buffer = UTF_8.newEncoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .encode(CharBuffer.wrap(s));
            byte[] bytes = new byte[buffer.remaining()];
            buffer.get(bytes);
            return bytes;
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("the " + what + " is not valid Unicode (a lone surrogate)", e);
        }
    }
}
