package dev.layercache.server.metadata;

import dev.layercache.server.core.Root;
import java.nio.ByteBuffer;
import java.util.function.Predicate;

/**
 * ACCESS: when each root was last used, for least-recently-used eviction. Key
 * {@code kind \0 repository \0 name} (the kind's enum name); value the last use in milliseconds
 * since the epoch. Stores written before uses were kept to the millisecond hold minutes: such a
 * value (below 10^9) is read as minutes.
 */
public final class AccessIndex {
    /** What a scan of the last uses passes on. */
    @FunctionalInterface
    public interface Visitor {
        void use(Root root, long lastUseMillis);
    }

    private final KeyValueStore kv;

    public AccessIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    /** The last use of {@code root} in epoch millis, or -1 when none is recorded. */
    public long get(Root root) {
        byte[] v = kv.get(Table.ACCESS, key(root));
        return v == null || v.length != 8 ? -1 : millis(ByteBuffer.wrap(v).getLong(0));
    }

    public void put(KeyValueStore.Batch batch, Root root, long lastUseMillis) {
        batch.put(Table.ACCESS, key(root), ByteBuffer.allocate(8).putLong(lastUseMillis).array());
    }

    public void delete(KeyValueStore.Batch batch, Root root) {
        batch.delete(Table.ACCESS, key(root));
    }

    /** Every recorded last use, read page by page; records this version cannot read are skipped. */
    public void forEach(Visitor visitor) {
        kv.forEach(Table.ACCESS, e -> {
            Root root = rootOf(e.key());
            if (root != null && e.value().length == 8) {
                visitor.use(root, millis(ByteBuffer.wrap(e.value()).getLong(0)));
            }
        });
    }

    /**
     * Removes the last uses of the roots {@code gone} accepts, and every key this version cannot
     * read (it names no root this version knows, so nothing would ever read or remove it);
     * returns how many went. Committed in batches, not fsynced (see {@link Deletions}).
     */
    public long removeIf(Predicate<Root> gone) {
        Deletions out = new Deletions(kv);
        kv.forEach(Table.ACCESS, e -> {
            Root root = rootOf(e.key());
            if (root == null || gone.test(root)) {
                out.add(b -> b.delete(Table.ACCESS, e.key()));
            }
        });
        return out.finish();
    }

    /** A stored use in milliseconds: values from before milliseconds were kept are minutes. */
    static long millis(long stored) {
        return stored < 1_000_000_000L ? stored * 60_000 : stored;
    }

    /** The root a key names, or null for a key this version cannot read. */
    static Root rootOf(byte[] key) {
        String[] parts = Keys.string(key).split("\0", 3);
        if (parts.length != 3) {
            return null;
        }
        for (Root.Kind kind : Root.Kind.values()) {
            if (kind.name().equals(parts[0])) {
                return new Root(kind, parts[1], parts[2]);
            }
        }
        return null;
    }

    private static byte[] key(Root root) {
        return Keys.of(root.kind().name(), root.repository(), root.name());
    }
}
