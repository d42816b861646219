package dev.layercache.server.metadata;

import dev.layercache.server.core.Digest;
import java.nio.ByteBuffer;
import java.util.function.BiPredicate;

/**
 * RELEASES: blobs that a root (a manifest or a cache entry) referenced and that the root no longer
 * holds because it was evicted or deleted, or blobs deleted from a repository through the API.
 *
 * <p>Why it exists: the collection's grace period is for blobs that no root has claimed
 * <em>yet</em> (builders push blobs first and the manifest last). A blob whose root just went is
 * not such a blob; without this record it would look as young as its upload and outlive the
 * eviction that was meant to free it. A release newer than the blob's last upload or use lifts the
 * grace; a later upload or use restores it. A release older than the grace period changes nothing
 * and is pruned by the collection.
 *
 * <p>Value: the release time (epoch millis) and one byte of {@link Scope}.
 */
public final class ReleaseIndex {
    /**
     * Who released the blob. The values' order is their stored byte: append only.
     * <ul>
     *   <li>{@code ROOT}: the lifecycle evicted or expired a root that held it. A client told
     *       within the grace period that the blob exists still keeps it: that client is about to
     *       name it in a manifest or entry, or is pulling it.
     *   <li>{@code UNLINKED}: a repository's blob was deleted through the API. Collected only
     *       when no repository links it any more; earlier answers to clients do not keep it.
     *   <li>{@code DELETED}: a manifest or entry that held it was deleted through the API: the
     *       operator wants the space; earlier answers to clients do not keep it.
     * </ul>
     */
    public enum Scope { ROOT, UNLINKED, DELETED }

    /** One release. */
    public record Release(long atMillis, Scope scope) {
    }

    private final KeyValueStore kv;

    public ReleaseIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    /** The release of {@code digest}, or null. */
    public Release get(Digest digest) {
        return decode(kv.get(Table.RELEASES, Keys.utf8(digest.toString())));
    }

    /**
     * Records a release at {@code atMillis}. A blob a deleted root released stays released that
     * widely: a later unlinking moves the time, not the scope.
     */
    public void put(KeyValueStore.Batch batch, Digest digest, long atMillis, Scope scope) {
        Release before = scope == Scope.UNLINKED ? get(digest) : null;
        Scope kept = before != null && before.scope() == Scope.DELETED ? Scope.DELETED : scope;
        batch.put(Table.RELEASES, Keys.utf8(digest.toString()), encode(new Release(atMillis, kept)));
    }

    public void delete(KeyValueStore.Batch batch, Digest digest) {
        batch.delete(Table.RELEASES, Keys.utf8(digest.toString()));
    }

    /**
     * Removes the releases {@code stale} accepts, and every record this version cannot read (a
     * key that is no digest, a value of another format: neither can change a verdict); returns
     * how many went. Committed in batches, not fsynced (see {@link Deletions}).
     */
    public long removeIf(BiPredicate<Digest, Release> stale) {
        Deletions out = new Deletions(kv);
        kv.forEach(Table.RELEASES, e -> {
            String text = Keys.string(e.key());
            Release r = decode(e.value());
            if (r == null || !Digest.isValid(text) || stale.test(Digest.parse(text), r)) {
                out.add(b -> b.delete(Table.RELEASES, e.key()));
            }
        });
        return out.finish();
    }

    static byte[] encode(Release r) {
        return ByteBuffer.allocate(9).putLong(r.atMillis()).put((byte) r.scope().ordinal()).array();
    }

    /** Decodes a stored value; null for none or for a value this version cannot read. */
    public static Release decode(byte[] value) {
        if (value == null || value.length != 9 || value[8] < 0 || value[8] >= Scope.values().length) {
            return null;
        }
        return new Release(ByteBuffer.wrap(value).getLong(0), Scope.values()[value[8]]);
    }
}
