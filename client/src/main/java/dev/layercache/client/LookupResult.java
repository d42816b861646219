package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.util.Optional;

/**
 * The outcome of one lookup: a hit with its entry, or a miss with the server's explanation.
 * Exactly one of {@link #entry()} and {@link #miss()} is present.
 *
 * @param key the key looked up
 * @param entry the entry, on a hit
 * @param miss why it missed, on a miss
 */
public record LookupResult(CacheKey key, Optional<CacheEntry> entry, Optional<MissExplanation> miss) {

    /** Validates that exactly one of entry and miss is present. */
    public LookupResult {
        requireNonNull(key, "key");
        requireNonNull(entry, "entry");
        requireNonNull(miss, "miss");
        if (entry.isPresent() == miss.isPresent()) {
            throw new IllegalArgumentException("a lookup result has an entry or a miss, not both or neither");
        }
    }

    /** A hit. */
    public static LookupResult hit(CacheEntry entry) {
        requireNonNull(entry, "entry");
        return new LookupResult(entry.key(), Optional.of(entry), Optional.empty());
    }

    /** A miss. */
    public static LookupResult miss(CacheKey key, MissExplanation miss) {
        requireNonNull(miss, "miss");
        return new LookupResult(key, Optional.empty(), Optional.of(miss));
    }

    /** Whether the key was found. */
    public boolean isHit() {
        return entry.isPresent();
    }
}
