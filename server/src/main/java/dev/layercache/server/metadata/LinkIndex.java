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
    /** What a scan of the links passes on: one blob readable through one repository. */
    @FunctionalInterface
    public interface Visitor {
        void link(RepositoryName repository, Digest digest, long size);
    }

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

    /**
     * Every link, by repository then digest, read page by page. A key this version would not
     * write (not a repository name and a digest) is skipped.
     */
    public void forEach(Visitor visitor) {
        kv.forEach(Table.LINKS, e -> {
            String[] key = Keys.split(e.key());
            if (key.length == 2 && RepositoryName.isValid(key[0]) && Digest.isValid(key[1])) {
                visitor.link(RepositoryName.parse(key[0]), Digest.parse(key[1]), ByteBuffer.wrap(e.value()).getLong(0));
            }
        });
    }
}
