package dev.layercache.server.metadata;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import java.nio.ByteBuffer;

/**
 * LINKS: which blobs are readable through which repository. A blob pushed to {@code team-a/app}
 * is not readable through {@code team-b/app} until it is pushed or mounted there. The value holds
 * the blob's size, so answering {@code HEAD} costs one lookup.
 */
public final class LinkIndex {
    private final KeyValueStore kv;

    public LinkIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    /** The blob's size when it is linked to {@code repo}, or -1. */
    public long size(RepositoryName repo, Digest digest) {
        byte[] v = kv.get(Table.LINKS, Keys.of(repo.toString(), digest.toString()));
        return v == null ? -1 : ByteBuffer.wrap(v).getLong(0);
    }

    public void put(KeyValueStore.Batch batch, RepositoryName repo, Digest digest, long size) {
        batch.put(Table.LINKS, Keys.of(repo.toString(), digest.toString()),
                ByteBuffer.allocate(8).putLong(size).array());
    }

    public void delete(KeyValueStore.Batch batch, RepositoryName repo, Digest digest) {
        batch.delete(Table.LINKS, Keys.of(repo.toString(), digest.toString()));
    }
}
