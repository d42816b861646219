package dev.layercache.server.metadata;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.layercache.api.v1.Entry;
import dev.layercache.server.core.RepositoryName;

/**
 * STEPS: the last publication of each step identity in a namespace, stored as the API's own
 * {@link Entry} message without its layers: what explains a miss of the native API (the step
 * was published before, under another key).
 */
public final class StepIndex implements HistoryIndex {
    private final KeyValueStore kv;

    public StepIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    /** The last publication of {@code stepId} in {@code namespace}, or null. */
    public Entry get(RepositoryName namespace, String stepId) {
        return EntryIndex.decode(kv.get(Table.STEPS, Keys.of(namespace.toString(), stepId)));
    }

    /** Records {@code publication} as the last of its step. */
    public void put(KeyValueStore.Batch batch, RepositoryName namespace, Entry publication) {
        batch.put(Table.STEPS, Keys.of(namespace.toString(), publication.getStep().getStepId()),
                publication.toByteArray());
    }

    @Override
    public void delete(KeyValueStore.Batch batch, String namespace, String stepId) {
        batch.delete(Table.STEPS, Keys.of(namespace, stepId));
    }

    /**
     * Every publication with when it was made (0 for a record this version cannot read); a key
     * without a namespace (this version never writes one) is skipped.
     */
    @Override
    public void forEach(Visitor visitor) {
        kv.forEach(Table.STEPS, e -> {
            String[] key = Keys.split(e.key());
            if (key.length == 2) {
                visitor.record(key[0], key[1], publishedAtMillis(e.value()));
            }
        });
    }

    private static long publishedAtMillis(byte[] value) {
        try {
            var created = Entry.parseFrom(value).getCreatedAt();
            return created.getSeconds() * 1000 + created.getNanos() / 1_000_000;
        } catch (InvalidProtocolBufferException corrupt) {
            return 0;
        }
    }
}
