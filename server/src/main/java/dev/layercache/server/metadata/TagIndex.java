package dev.layercache.server.metadata;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.core.Tag;
import java.util.ArrayList;
import java.util.List;

/** TAGS: tag to manifest digest, per repository, listed in lexical order. */
public final class TagIndex {
    /** What a scan of the tags passes on: one tag and the manifest it points at. */
    @FunctionalInterface
    public interface Visitor {
        void tag(RepositoryName repository, String tag, Digest digest);
    }

    private final KeyValueStore kv;

    public TagIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    public Digest get(RepositoryName repo, Tag tag) {
        byte[] v = kv.get(Table.TAGS, Keys.of(repo.toString(), tag.toString()));
        return v == null ? null : Digest.parse(Keys.string(v));
    }

    public void put(KeyValueStore.Batch batch, RepositoryName repo, Tag tag, Digest digest) {
        batch.put(Table.TAGS, Keys.of(repo.toString(), tag.toString()), Keys.utf8(digest.toString()));
    }

    public void delete(KeyValueStore.Batch batch, RepositoryName repo, String tag) {
        batch.delete(Table.TAGS, Keys.of(repo.toString(), tag));
    }

    /** Up to {@code limit} tag names after {@code last} (exclusive, may be null), sorted. */
    public List<String> list(RepositoryName repo, String last, int limit) {
        byte[] prefix = Keys.prefix(repo.toString());
        byte[] after = last == null ? null : Keys.of(repo.toString(), last);
        List<String> tags = new ArrayList<>();
        for (byte[] key : kv.scanKeys(Table.TAGS, prefix, after, limit)) {
            tags.add(Keys.lastPart(key));
        }
        return tags;
    }

    /** Every tag of {@code repo} that points at {@code digest}. */
    public List<String> tagsOf(RepositoryName repo, Digest digest) {
        byte[] wanted = Keys.utf8(digest.toString());
        List<String> out = new ArrayList<>();
        byte[] prefix = Keys.prefix(repo.toString());
        byte[] after = null;
        while (true) {
            List<KeyValueStore.Entry> page = kv.scan(Table.TAGS, prefix, after, 1000);
            for (KeyValueStore.Entry e : page) {
                if (java.util.Arrays.equals(e.value(), wanted)) {
                    out.add(Keys.lastPart(e.key()));
                }
            }
            if (page.size() < 1000) {
                return out;
            }
            after = page.get(page.size() - 1).key();
        }
    }

    public boolean anyTag(RepositoryName repo) {
        return kv.anyWithPrefix(Table.TAGS, Keys.prefix(repo.toString()));
    }

    /** True when {@code repo} has the tag {@code tag}. */
    public boolean exists(RepositoryName repo, String tag) {
        return kv.get(Table.TAGS, Keys.of(repo.toString(), tag)) != null;
    }

    /**
     * Every tag of every repository, by repository then tag, read page by page. A record this
     * version would not write (not a repository name, a tag and a digest) is skipped.
     */
    public void forEachTag(Visitor visitor) {
        kv.forEach(Table.TAGS, e -> {
            String[] key = Keys.split(e.key());
            String target = Keys.string(e.value());
            if (key.length == 2 && RepositoryName.isValid(key[0]) && Digest.isValid(target)) {
                visitor.tag(RepositoryName.parse(key[0]), key[1], Digest.parse(target));
            }
        });
    }

    /** How many tags there are, in every repository. */
    public long count() {
        return kv.count(Table.TAGS);
    }
}
