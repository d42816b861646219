package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.util.Locale;
import java.util.Optional;

/**
 * One difference in a step's inputs between its last publication and a lookup.
 *
 * @param kind added, removed or modified
 * @param path the input's path
 * @param previousDigest the digest at the last publication (empty when added)
 * @param digest the digest now (empty when removed)
 */
public record InputChange(Kind kind, String path, Optional<Digest> previousDigest, Optional<Digest> digest) {

    /** What happened to the input. */
    public enum Kind {
        /** The server sent a kind this client does not know. */
        UNKNOWN,
        /** The input is new. */
        ADDED,
        /** The input is gone. */
        REMOVED,
        /** The input's content or mode changed. */
        MODIFIED
    }

    /** Validates the fields. */
    public InputChange {
        requireNonNull(kind, "kind");
        requireNonNull(path, "path");
        requireNonNull(previousDigest, "previousDigest");
        requireNonNull(digest, "digest");
    }

    /** For example {@code package.json modified}. */
    @Override
    public String toString() {
        return path + " " + kind.name().toLowerCase(Locale.ROOT);
    }
}
