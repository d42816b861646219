package dev.layercache.server.lifecycle;

import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.core.Root;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.metadata.EntryIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.ManifestIndex;
import dev.layercache.server.metadata.ReleaseIndex;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.registry.ManifestService;
import dev.layercache.server.retention.AccessTracker;
import dev.layercache.server.retention.ReferenceGuard;
import dev.layercache.server.storage.BlobBackend;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * Removes a namespace: every record of the repositories named like a prefix or below it (whole
 * path components: {@code team/app} takes {@code team/app} and {@code team/app/x}, never
 * {@code team/apple}), and the blobs no other repository's manifest, entry or link references.
 * What BuildBuddy does by renaming an instance, and bazel-remote#793 asks for.
 *
 * <p>The records are those keyed by repository (the shared {@link Keys} layout
 * {@code repository \0 ...}): tags, manifests, cache entries, links, referrers, step publications,
 * tombstones, build records, cache exports, and the catalog's record; a purge removes them
 * whatever their table, so it reads the tables by key prefix rather than through each index.
 * Roots go first, then links and the catalog record, then blobs, so a crash half-way leaves at
 * most unreferenced blobs, which collection removes.
 *
 * <p>Blobs go under the collection's guard ({@link ReferenceGuard}, the caller runs no
 * collection meanwhile): a manifest or entry published meanwhile that names one keeps it, and so
 * does a link another repository gained since the scan. In a cluster, {@code shared} removes the
 * bucket's copy first, by the bucket collection's claim protocol; a blob a node revived then stays.
 */
public final class NamespacePurge {
    /** Blobs listed in a report at most. */
    static final int LISTED = 1000;
    private static final int PAGE = 1000;
    /** Tables keyed {@code repository \0 ...}, in the order their records go: roots first. */
    private static final Table[] BY_REPOSITORY = {Table.TAGS, Table.ENTRIES, Table.MANIFESTS, Table.REFERRERS,
        Table.STEPS, Table.TOMBSTONES, Table.BUILDS, Table.EXPORTS, Table.LINKS};

    /** The bucket's copy of a blob, in a cluster: removed unless a node revived it (then false). */
    @FunctionalInterface
    public interface SharedCopy {
        boolean remove(Digest digest) throws IOException;
    }

    /**
     * What a purge removed, or would remove (dry run).
     *
     * @param blobs   blobs no other repository references, with their {@code bytes}
     * @param digests the first {@value #LISTED} of those blobs
     */
    public record Report(Instant at, String prefix, boolean dryRun, List<String> repositories, long tags,
                         long manifests, long entries, long blobs, long bytes, List<String> digests, long millis) {
    }

    private final KeyValueStore kv;
    private final BlobBackend bytes;
    private final ManifestService manifests;
    private final ReferenceGuard guard;
    private final AccessTracker access;
    private final SharedCopy shared;
    private final Clock clock;
    private final BlobIndex blobs;
    private final ReleaseIndex releases;

    /** @param shared the bucket's copies in a cluster; null for a node's own store */
    public NamespacePurge(KeyValueStore kv, BlobBackend bytes, ManifestService manifests, ReferenceGuard guard,
                          AccessTracker access, SharedCopy shared, Clock clock) {
        this.kv = kv;
        this.bytes = bytes;
        this.manifests = manifests;
        this.guard = guard;
        this.access = access;
        this.shared = shared;
        this.clock = clock;
        this.blobs = new BlobIndex(kv);
        this.releases = new ReleaseIndex(kv);
    }

    /**
     * The namespace's repository prefix, validated: a repository name (so whole path components);
     * NAME_INVALID (400) for an empty or malformed one.
     */
    public static RepositoryName namespace(String prefix) {
        if (prefix == null || prefix.isEmpty()) {
            throw new RegistryException(ErrorCode.NAME_INVALID, "a purge needs a namespace: an empty prefix would"
                    + " take every repository", null);
        }
        return RepositoryName.parse(prefix);
    }

    /** True when {@code repository} is {@code prefix} or below it, by whole path components. */
    public static boolean under(String repository, String prefix) {
        return repository.equals(prefix) || repository.startsWith(prefix + "/");
    }

    /** Purges {@code prefix}; with {@code dryRun}, only reports what would go. */
    public Report purge(RepositoryName prefix, boolean dryRun) {
        long started = System.nanoTime();
        String ns = prefix.toString();
        guard.beginMark();
        try {
            Set<String> repositories = new TreeSet<>();
            Map<Table, List<byte[]>> records = new LinkedHashMap<>();
            // Blob candidates: what the namespace's manifests, entries and links name.
            Map<Digest, Boolean> candidates = new HashMap<>();
            long[] roots = new long[3];
            for (Table table : BY_REPOSITORY) {
                List<byte[]> keys = new ArrayList<>();
                forEachUnder(table, ns, e -> {
                    keys.add(e.key());
                    String[] parts = Keys.split(e.key());
                    repositories.add(parts[0]);
                    String last = parts.length == 2 ? parts[1] : "";
                    switch (table) {
                        case TAGS -> roots[0]++;
                        case MANIFESTS -> {
                            roots[1]++;
                            if (Digest.isValid(last) && RepositoryName.isValid(parts[0])) {
                                for (Digest d : manifests.references(ManifestIndex.decode(Digest.parse(last),
                                        e.value()))) {
                                    candidates.put(d, Boolean.TRUE);
                                }
                            }
                        }
                        case ENTRIES -> {
                            roots[2]++;
                            layers(e.value(), d -> candidates.put(d, Boolean.TRUE));
                        }
                        case LINKS -> {
                            if (Digest.isValid(last)) {
                                candidates.put(Digest.parse(last), Boolean.TRUE);
                            }
                        }
                        default -> { }
                    }
                }, table == Table.MANIFESTS || table == Table.ENTRIES);
                records.put(table, keys);
            }
            List<byte[]> catalog = new ArrayList<>();
            if (kv.get(Table.REPOSITORIES, Keys.utf8(ns)) != null) {
                catalog.add(Keys.utf8(ns));
            }
            forEachKey(Table.REPOSITORIES, Keys.utf8(ns + "/"), catalog::add);
            catalog.forEach(k -> repositories.add(Keys.string(k)));

            if (!candidates.isEmpty()) {
                keepWhatOthersUse(ns, candidates);
            }
            Map<Digest, Long> unshared = new LinkedHashMap<>();
            candidates.forEach((d, free) -> {
                long size = free ? blobs.size(d) : -1;
                if (size >= 0) {
                    unshared.put(d, size);
                }
            });
            if (!dryRun) {
                removeRecords(records, catalog);
                if (!unshared.isEmpty()) {
                    // Another repository may have gained a link to one of them since the scan.
                    Map<Digest, Boolean> again = new HashMap<>();
                    unshared.keySet().forEach(d -> again.put(d, Boolean.TRUE));
                    linksOutside(ns, again);
                    unshared.keySet().removeIf(d -> !again.get(d));
                }
            }
            long count = 0;
            long total = 0;
            List<String> listed = new ArrayList<>();
            for (Map.Entry<Digest, Long> b : unshared.entrySet()) {
                Digest d = b.getKey();
                if (dryRun || guard.removeIfUnreferenced(d, () -> removeBlob(d))) {
                    count++;
                    total += b.getValue();
                    if (listed.size() < LISTED) {
                        listed.add(d.toString());
                    }
                }
            }
            return new Report(clock.instant(), ns, dryRun, List.copyOf(repositories), roots[0], roots[1], roots[2],
                    count, total, listed, (System.nanoTime() - started) / 1_000_000);
        } finally {
            guard.endCollection();
        }
    }

    /** Unmarks ({@code false}) the candidates a manifest, entry or link outside {@code ns} references. */
    private void keepWhatOthersUse(String ns, Map<Digest, Boolean> candidates) {
        new ManifestIndex(kv).forEach((repo, m) -> {
            if (!under(repo.toString(), ns)) {
                for (Digest d : manifests.references(m)) {
                    candidates.computeIfPresent(d, (k, v) -> Boolean.FALSE);
                }
            }
        });
        new EntryIndex(kv).forEach((namespace, key, entry) -> {
            if (entry != null && !under(namespace.toString(), ns)) {
                for (LayerDescriptor layer : entry.getLayersList()) {
                    if (Digest.isValid(layer.getDigest())) {
                        candidates.computeIfPresent(Digest.parse(layer.getDigest()), (k, v) -> Boolean.FALSE);
                    }
                }
            }
        });
        linksOutside(ns, candidates);
    }

    /** Unmarks the candidates linked to a repository outside {@code ns}: keys only, one pass. */
    private void linksOutside(String ns, Map<Digest, Boolean> candidates) {
        forEachKey(Table.LINKS, new byte[0], key -> {
            String[] parts = Keys.split(key);
            if (parts.length == 2 && !under(parts[0], ns) && Digest.isValid(parts[1])) {
                candidates.computeIfPresent(Digest.parse(parts[1]), (k, v) -> Boolean.FALSE);
            }
        });
    }

    private void removeRecords(Map<Table, List<byte[]>> records, List<byte[]> catalog) {
        KeyValueStore.Batch batch = kv.batch();
        int pending = 0;
        for (Map.Entry<Table, List<byte[]>> t : records.entrySet()) {
            for (byte[] key : t.getValue()) {
                batch.delete(t.getKey(), key);
                Root root = root(t.getKey(), key);
                if (root != null) {
                    access.forget(batch, root);
                }
                if (++pending == PAGE) {
                    batch.commit(true);
                    batch = kv.batch();
                    pending = 0;
                }
            }
        }
        for (byte[] key : catalog) {
            batch.delete(Table.REPOSITORIES, key);
        }
        batch.commit(true);
    }

    /** The root a record is, for its access record; null for records that are not roots. */
    private static Root root(Table table, byte[] key) {
        String[] parts = Keys.split(key);
        if (parts.length != 2) {
            return null;
        }
        return switch (table) {
            case TAGS -> new Root(Root.Kind.TAG, parts[0], parts[1]);
            case MANIFESTS -> new Root(Root.Kind.MANIFEST, parts[0], parts[1]);
            case ENTRIES -> new Root(Root.Kind.ENTRY, parts[0], parts[1]);
            default -> null;
        };
    }

    /** The bucket's copy first (in a cluster), then the records, then this node's bytes. */
    private boolean removeBlob(Digest d) {
        try {
            if (shared != null && !shared.remove(d)) {
                return false;
            }
            KeyValueStore.Batch batch = kv.batch();
            blobs.delete(batch, d);
            bytes.deleteInline(batch, d); // a small blob's bytes go with its record
            releases.delete(batch, d);
            batch.commit(false); // as the collector: a record outliving its file is forgotten at start
            bytes.delete(d);
            return true;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void layers(byte[] value, Consumer<Digest> action) {
        try {
            for (LayerDescriptor layer : dev.layercache.api.v1.Entry.parseFrom(value).getLayersList()) {
                if (Digest.isValid(layer.getDigest())) {
                    action.accept(Digest.parse(layer.getDigest()));
                }
            }
        } catch (com.google.protobuf.InvalidProtocolBufferException unreadable) {
            // still a root of the namespace, one that names no blob
        }
    }

    /** Every record of {@code table} of the repository {@code ns} and those below it. */
    private void forEachUnder(Table table, String ns, Consumer<KeyValueStore.Entry> action, boolean values) {
        for (byte[] prefix : new byte[][] {Keys.prefix(ns), Keys.utf8(ns + "/")}) {
            if (values) {
                byte[] after = null;
                while (true) {
                    List<KeyValueStore.Entry> page = kv.scan(table, prefix, after, PAGE);
                    page.forEach(action);
                    if (page.size() < PAGE) {
                        break;
                    }
                    after = page.get(page.size() - 1).key();
                }
            } else {
                forEachKey(table, prefix, key -> action.accept(new KeyValueStore.Entry(key, null)));
            }
        }
    }

    private void forEachKey(Table table, byte[] prefix, Consumer<byte[]> action) {
        byte[] after = null;
        while (true) {
            List<byte[]> page = kv.scanKeys(table, prefix, after, PAGE);
            page.forEach(action);
            if (page.size() < PAGE) {
                return;
            }
            after = page.get(page.size() - 1);
        }
    }
}
