package dev.layercache.server.registry;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Table;
import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A node's memory of recent positive answers to small reads (a manifest by tag or digest, a
 * repository's tags page, a blob's size in a repository), so that the HTTP surface can answer them
 * on the event loop without a hand-off to the request pool (see {@code http.FastPath}). It is
 * memory, not storage: nothing here is ever read from disk, and every entry is a copy of what
 * the metadata store said a moment ago.
 *
 * <p>Kept true by generations, not by each writer: the metadata store tells {@link #changed} of
 * every key any batch writes to the tables these answers come from ({@link #WATCHED}), after the
 * batch is applied; that bumps the generation of the key's repository (tags, manifests,
 * repositories) or digest (links, blobs) stripe. An entry carries the generation read
 * <em>before</em> the store was read ({@link #repositoryStamp}, {@link #blobStamp}) and is used
 * only while that generation is current, so a fill racing a write can never outlive it: either
 * the reader saw the write, or the write's bump comes after the stamp and voids the entry.
 * Unrelated names sharing a stripe only cost a miss.
 *
 * <p>Only valid where this node is the only writer of the store it answers from: never in a
 * cluster (other nodes move tags in the bucket) and never for mirrored repositories (answers
 * revalidated upstream); the node builds it only then ({@code node.Services}).
 */
public final class AnswerCache {
    /** The tables whose changes void answers. */
    public static final Set<Table> WATCHED = EnumSet.of(Table.TAGS, Table.MANIFESTS, Table.REPOSITORIES,
            Table.LINKS, Table.BLOBS);
    /** Larger manifests (or tags pages) are never kept: they are rare, and would crowd out the rest. */
    public static final int MAX_ANSWER_BYTES = 64 << 10;
    private static final int STRIPES = 4096;

    /** What an answer is to: it says which generation keeps it true, and how much text it holds. */
    public sealed interface Key permits ManifestKey, TagsKey, BlobKey {
        /** The generation the answer is valid under ({@link #repositoryStamp} or {@link #blobStamp}). */
        long stamp(AnswerCache answers);

        /** Characters of the key's text (a client chooses much of it). */
        long chars();
    }

    /** A manifest by {@code reference} (a tag or a digest, as written) in {@code repository}. */
    public record ManifestKey(String repository, String reference) implements Key {
        @Override
        public long stamp(AnswerCache answers) {
            return answers.repositoryStamp(repository);
        }

        @Override
        public long chars() {
            return length(repository) + length(reference);
        }
    }

    /** A tags page of {@code repository} for the query {@code n}, {@code last} (null when absent). */
    public record TagsKey(String repository, String n, String last) implements Key {
        @Override
        public long stamp(AnswerCache answers) {
            return answers.repositoryStamp(repository);
        }

        @Override
        public long chars() {
            return length(repository) + length(n) + length(last);
        }
    }

    /** The size of blob {@code digest} as seen through {@code repository}. */
    public record BlobKey(String repository, String digest) implements Key {
        @Override
        public long stamp(AnswerCache answers) {
            return answers.blobStamp(digest);
        }

        @Override
        public long chars() {
            return length(repository) + length(digest);
        }
    }

    private record Held(Object value, long stamp, int weight) {
    }

    /** Bytes an entry costs beyond its answer's and its key's text: the map's node, the records, the strings' headers. */
    static final int ENTRY_OVERHEAD = 200;
    /**
     * How long an answer is used at most. The generations keep answers true against every change
     * the node makes; this bounds the one kind of change it cannot see, a blob file lost behind
     * its back (a disk fault, an operator's rm), which the usual way notices at the next question
     * (it looks for the file) and the memory would otherwise go on denying.
     */
    public static final java.time.Duration MAX_AGE = java.time.Duration.ofSeconds(10);

    private final AtomicLongArray repositories = new AtomicLongArray(STRIPES);
    private final AtomicLongArray blobs = new AtomicLongArray(STRIPES);
    private final Cache<Key, Held> answers;
    private final java.util.concurrent.atomic.LongAdder hits = new java.util.concurrent.atomic.LongAdder();

    /** At most {@code maxBytes} of answers (keys and values counted roughly). */
    public AnswerCache(long maxBytes) {
        this(maxBytes, com.github.benmanes.caffeine.cache.Ticker.systemTicker());
    }

    /** As {@link #AnswerCache(long)}, ageing answers by {@code ticker} (tests). */
    AnswerCache(long maxBytes, com.github.benmanes.caffeine.cache.Ticker ticker) {
        this.answers = Caffeine.newBuilder()
                .maximumWeight(maxBytes)
                .weigher((Key k, Held h) -> h.weight())
                .expireAfterWrite(MAX_AGE)
                .ticker(ticker)
                .executor(Runnable::run) // maintenance inline: no hand-off of its own to a pool
                .build();
    }

    /** The listener the metadata store tells of each change (see {@code RocksKeyValueStore#whenCommitted}). */
    public KeyValueStore.ChangeListener listener() {
        return this::changed;
    }

    /** A key of a watched table was written: voids what depends on it. */
    public void changed(Table table, byte[] key) {
        switch (table) {
            case TAGS, MANIFESTS, REPOSITORIES -> repositories.incrementAndGet(stripe(Keys.split(key)[0]));
            case LINKS -> {
                String[] parts = Keys.split(key);
                blobs.incrementAndGet(stripe(parts.length > 1 ? parts[1] : parts[0]));
            }
            case BLOBS -> blobs.incrementAndGet(stripe(Keys.string(key)));
            default -> { }
        }
    }

    /** Take before reading the store for a manifest or tags answer of {@code repository}. */
    public long repositoryStamp(String repository) {
        return repositories.get(stripe(repository));
    }

    /** Take before reading the store for a blob answer of {@code digest}. */
    public long blobStamp(String digest) {
        return blobs.get(stripe(digest));
    }

    /** The answer for {@code key} while it is still true; null otherwise. */
    public Object get(Key key) {
        Held held = answers.getIfPresent(key);
        if (held == null) {
            return null;
        }
        if (held.stamp() != key.stamp(this)) {
            answers.asMap().remove(key, held);
            return null;
        }
        hits.increment();
        return held.value();
    }

    /** True while an answer for {@code key} is held and still true (not counted as a hit). */
    public boolean holds(Key key) {
        Held held = answers.getIfPresent(key);
        return held != null && held.stamp() == key.stamp(this);
    }

    /**
     * Keeps {@code value} for {@code key}, read from the store after {@code stamp} was taken,
     * unless the store changed since or the answer is larger than {@link #MAX_ANSWER_BYTES}.
     */
    public void put(Key key, Object value, long stamp, int bytes) {
        if (bytes > MAX_ANSWER_BYTES || stamp != key.stamp(this)) {
            return;
        }
        // The key counts as much as the answer: a client chooses it (a tags page's `last` may be
        // kilobytes long for an empty page), and a budget of answers alone could hold far more.
        answers.put(key, new Held(value, stamp, bytes + keyBytes(key) + ENTRY_OVERHEAD));
    }

    /** The key's text, two bytes a character (what a string of any characters may take). */
    private static int keyBytes(Key key) {
        return (int) Math.min(Integer.MAX_VALUE / 2, key.chars() * 2);
    }

    private static int length(String s) {
        return s == null ? 0 : s.length();
    }

    /** Answers given from memory since the start (for tests). */
    public long hits() {
        return hits.sum();
    }

    /** Answers held (for tests). */
    public long size() {
        answers.cleanUp();
        return answers.estimatedSize();
    }

    private static int stripe(String name) {
        return Math.floorMod(name.hashCode(), STRIPES);
    }
}
