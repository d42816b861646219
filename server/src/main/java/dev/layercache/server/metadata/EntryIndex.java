package dev.layercache.server.metadata;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.layercache.api.v1.Entry;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;

/** ENTRIES: the native API's cache entries, key digest to entry, per namespace; values are the API's own messages. */
public final class EntryIndex {
    /** What a scan of the entries passes on. */
    @FunctionalInterface
    public interface Visitor {
        /** @param entry the entry; null for a record this version cannot read (it still names a root) */
        void entry(RepositoryName namespace, Digest key, Entry entry);
    }

    private final KeyValueStore kv;

    public EntryIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    /** The entry under {@code key}, or null; a record that cannot be read fails. */
    public Entry get(RepositoryName namespace, Digest key) {
        return decode(kv.get(Table.ENTRIES, Keys.of(namespace.toString(), key.toString())));
    }

    public boolean exists(RepositoryName namespace, Digest key) {
        return kv.get(Table.ENTRIES, Keys.of(namespace.toString(), key.toString())) != null;
    }

    /** Stores {@code entry} under its own key. */
    public void put(KeyValueStore.Batch batch, RepositoryName namespace, Entry entry) {
        batch.put(Table.ENTRIES, Keys.of(namespace.toString(), entry.getKey()), entry.toByteArray());
    }

    public void delete(KeyValueStore.Batch batch, RepositoryName namespace, Digest key) {
        batch.delete(Table.ENTRIES, Keys.of(namespace.toString(), key.toString()));
    }

    /**
     * Every entry, by namespace then key, read page by page. A key this version would not write
     * (not a namespace and a digest) is skipped; a value that does not parse is passed on as null.
     */
    public void forEach(Visitor visitor) {
        kv.forEach(Table.ENTRIES, e -> {
            String[] key = Keys.split(e.key());
            if (key.length == 2 && RepositoryName.isValid(key[0]) && Digest.isValid(key[1])) {
                Entry entry;
                try {
                    entry = Entry.parseFrom(e.value());
                } catch (InvalidProtocolBufferException corrupt) {
                    entry = null;
                }
                visitor.entry(RepositoryName.parse(key[0]), Digest.parse(key[1]), entry);
            }
        });
    }

    /** How many entries there are, in every namespace. */
    public long count() {
        return kv.count(Table.ENTRIES);
    }

    static Entry decode(byte[] bytes) {
        if (bytes == null) {
            return null;
        }
        try {
            return Entry.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new MetadataException("corrupt entry record", e);
        }
    }
}
