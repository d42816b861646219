package dev.layercache.server.metadata;

import dev.layercache.server.core.RepositoryName;
import java.util.ArrayList;
import java.util.List;

/** REPOSITORIES: every repository that received a blob or a manifest, for the catalog. */
public final class RepositoryIndex {
    private final KeyValueStore kv;

    public RepositoryIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    public void put(KeyValueStore.Batch batch, RepositoryName repo) {
        batch.put(Table.REPOSITORIES, Keys.utf8(repo.toString()), new byte[0]);
    }

    public boolean exists(RepositoryName repo) {
        return kv.get(Table.REPOSITORIES, Keys.utf8(repo.toString())) != null;
    }

    /** True when {@code namespace} is a repository or a leading part (whole path components) of one's name. */
    public boolean anyUnder(RepositoryName namespace) {
        return exists(namespace) || kv.anyWithPrefix(Table.REPOSITORIES, Keys.utf8(namespace + "/"));
    }

    /** Up to {@code limit} names after {@code last} (exclusive, may be null), sorted. */
    public List<String> list(String last, int limit) {
        List<String> out = new ArrayList<>();
        for (KeyValueStore.Entry e : kv.scan(Table.REPOSITORIES, new byte[0],
                last == null ? null : Keys.utf8(last), limit)) {
            out.add(Keys.string(e.key()));
        }
        return out;
    }
}
