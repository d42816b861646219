package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.util.Optional;

/**
 * One lookup of a cache key, with the identity of the step when the builder knows it (so that
 * the server can classify a miss).
 *
 * @param key the key to look up
 * @param step the step's identity, or empty
 */
public record Lookup(CacheKey key, Optional<Step> step) {

    /** Validates the fields. */
    public Lookup {
        requireNonNull(key, "key");
        requireNonNull(step, "step");
    }

    /** A lookup of a step's key, carrying its identity. */
    public static Lookup of(Step step) {
        requireNonNull(step, "step");
        return new Lookup(step.key(), Optional.of(step));
    }

    /** A lookup of a bare key: a miss is then MISS_REASON_UNSPECIFIED. */
    public static Lookup of(CacheKey key) {
        return new Lookup(key, Optional.empty());
    }
}
