package dev.layercache.loadtest;

import dev.layercache.client.CacheKey;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The simulator's model of a cache where a published key stays (gRPC entries, buildah's tags):
 * which keys the fleet has published. A key is <em>being published</em> from just before the
 * request that makes it visible (PutEntry, the manifest PUT) and <em>published</em> once that
 * request succeeded. A publication that failed stays "being published" for good: the server may
 * or may not have applied it, so later lookups of the key may rightly hit or miss.
 *
 * <p>A lookup is bracketed: {@link #isPublished} before it is sent, {@link #expectation} after
 * its answer came. Thread-safe.
 */
final class PublishedKeys {
    /** false: being published; true: published. */
    private final ConcurrentHashMap<CacheKey, Boolean> keys = new ConcurrentHashMap<>();

    /** Whether a publication of {@code key} has succeeded; ask before sending a lookup. */
    boolean isPublished(CacheKey key) {
        return Boolean.TRUE.equals(keys.get(key));
    }

    /**
     * What the lookup of {@code key} had to find, asked once its answer came, given whether the
     * key {@linkplain #isPublished was published} before the lookup was sent.
     */
    Expectation expectation(CacheKey key, boolean publishedBeforeLookup) {
        if (publishedBeforeLookup) {
            return Expectation.HIT;
        }
        return keys.containsKey(key) ? Expectation.EITHER : Expectation.MISS;
    }

    /** Whether a publication of {@code key} ever began, whether or not it succeeded or is over. */
    boolean publishingBegan(CacheKey key) {
        return keys.containsKey(key);
    }

    /** Call just before the request that makes {@code key} visible. */
    void beginPublishing(CacheKey key) {
        keys.putIfAbsent(key, Boolean.FALSE);
    }

    /** Call once that request returned. */
    void endPublishing(CacheKey key, boolean succeeded) {
        if (succeeded) {
            keys.put(key, Boolean.TRUE);
        }
    }
}
