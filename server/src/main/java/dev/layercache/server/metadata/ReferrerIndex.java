package dev.layercache.server.metadata;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import java.util.ArrayList;
import java.util.List;

/** REFERRERS: manifests whose {@code subject} is a given digest, per repository. */
public final class ReferrerIndex {
    private final KeyValueStore kv;

    public ReferrerIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    public void put(KeyValueStore.Batch batch, RepositoryName repo, Digest subject, Digest referrer) {
        batch.put(Table.REFERRERS, Keys.of(repo.toString(), subject.toString(), referrer.toString()), new byte[0]);
    }

    public void delete(KeyValueStore.Batch batch, RepositoryName repo, Digest subject, Digest referrer) {
        batch.delete(Table.REFERRERS, Keys.of(repo.toString(), subject.toString(), referrer.toString()));
    }

    public List<Digest> referrers(RepositoryName repo, Digest subject, int limit) {
        List<Digest> out = new ArrayList<>();
        for (KeyValueStore.Entry e : kv.scan(Table.REFERRERS, Keys.prefix(repo.toString(), subject.toString()),
                null, limit)) {
            out.add(Digest.parse(Keys.lastPart(e.key())));
        }
        return out;
    }
}
