package dev.layercache.loadtest;

import java.util.Collection;
import java.util.function.Predicate;

/**
 * What a lookup must find, from what the fleet had published when it was made. A lookup takes
 * time; a publication of the same key by another builder may overlap it, and then the cache may
 * rightly answer either way.
 */
enum Expectation {
    /** The key was published before the lookup began: a miss is wrong (or an eviction). */
    HIT,
    /** No builder had begun publishing the key when the lookup's answer came: a hit is wrong. */
    MISS,
    /** A publication of the key overlapped the lookup: either answer is right. */
    EITHER;

    /**
     * The expectation when the cache held one of {@code possibleStates} during the lookup:
     * {@code HIT} when the key is in every one, {@code MISS} when in none.
     */
    static <S> Expectation over(Collection<S> possibleStates, Predicate<S> holdsKey) {
        long holding = possibleStates.stream().filter(holdsKey).count();
        if (holding == possibleStates.size()) {
            return HIT;
        }
        return holding == 0 ? MISS : EITHER;
    }
}
