package dev.layercache.server.lifecycle;

import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.core.Root;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.metadata.EntryIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.ManifestIndex;
import dev.layercache.server.metadata.TagIndex;
import dev.layercache.server.registry.ManifestService;
import dev.layercache.server.retention.AccessTracker;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads every root of the store as a {@link Candidate} for the {@link EvictionPolicy}: tags,
 * cache entries, and the manifests no tag or index names. A pass over the tags, manifests and
 * entries, and the access records; with blobs, a lookup per distinct blob too.
 */
final class Candidates {
    private final ManifestService manifests;
    private final AccessTracker access;
    private final BlobIndex blobs;
    private final TagIndex tags;
    private final ManifestIndex manifestIndex;
    private final EntryIndex entries;

    Candidates(KeyValueStore kv, ManifestService manifests, AccessTracker access) {
        this.manifests = manifests;
        this.access = access;
        this.blobs = new BlobIndex(kv);
        this.tags = new TagIndex(kv);
        this.manifestIndex = new ManifestIndex(kv);
        this.entries = new EntryIndex(kv);
    }

    /**
     * Every root with its last use (never recorded: now, so that a store upgraded to access
     * tracking does not lose its roots first) and, with {@code withBlobs}, the blobs it reaches
     * (through an index, its manifests' blobs too) with their sizes. A blob a client was told
     * exists at or after {@code askedSince} (epoch millis; {@code Long.MAX_VALUE}: never) frees
     * nothing: collection keeps it.
     */
    List<Candidate> read(boolean withBlobs, long askedSince) {
        Map<Root, Long> uses = access.lastUses();
        long now = access.now();
        Reach reach = new Reach(askedSince);
        List<Candidate> out = new ArrayList<>();
        Map<RepositoryName, Set<Digest>> tagged = new HashMap<>();
        Map<RepositoryName, Set<Digest>> inIndexes = new HashMap<>();
        tags.forEachTag((repo, tag, target) -> {
            tagged.computeIfAbsent(repo, r -> new HashSet<>()).add(target);
            Root root = new Root(Root.Kind.TAG, repo.toString(), tag);
            Blobs reached = withBlobs ? reach.manifest(repo, manifestIndex.get(repo, target)) : Blobs.NONE;
            out.add(reached.candidate(root, uses.getOrDefault(root, now), false));
        });
        List<ManifestIndex.StoredManifest> untagged = new ArrayList<>();
        List<RepositoryName> untaggedRepositories = new ArrayList<>();
        manifestIndex.forEach((repo, m) -> {
            if (MediaTypes.isIndex(m.mediaType())) {
                inIndexes.computeIfAbsent(repo, r -> new HashSet<>()).addAll(manifests.references(m));
            }
            if (!tagged.getOrDefault(repo, Set.of()).contains(m.digest())) {
                untagged.add(m);
                untaggedRepositories.add(repo);
            }
        });
        for (int i = 0; i < untagged.size(); i++) {
            ManifestIndex.StoredManifest m = untagged.get(i);
            RepositoryName repo = untaggedRepositories.get(i);
            if (inIndexes.getOrDefault(repo, Set.of()).contains(m.digest())) {
                continue;
            }
            Root root = new Root(Root.Kind.MANIFEST, repo.toString(), m.digest().toString());
            Digest subject = manifests.subjectOf(m);
            boolean referrer = subject != null && manifestIndex.exists(repo, subject);
            Blobs reached = withBlobs ? reach.manifest(repo, m) : Blobs.NONE;
            out.add(reached.candidate(root, uses.getOrDefault(root, now), referrer));
        }
        entries.forEach((namespace, key, entry) -> {
            Set<Digest> layers = new LinkedHashSet<>();
            // an unreadable entry still counts as a root, one that frees nothing
            if (withBlobs && entry != null) {
                for (LayerDescriptor layer : entry.getLayersList()) {
                    if (Digest.isValid(layer.getDigest())) {
                        layers.add(Digest.parse(layer.getDigest()));
                    }
                }
            }
            Root root = new Root(Root.Kind.ENTRY, namespace.toString(), key.toString());
            out.add(reach.stored(layers).candidate(root, uses.getOrDefault(root, now), false));
        });
        return out;
    }

    /** Blobs a root holds: digest prefixes, sizes, and what evicting the root could free of each. */
    private record Blobs(long[] ids, long[] sizes, long[] freeable) {
        static final Blobs NONE = new Blobs(new long[0], new long[0], new long[0]);

        Candidate candidate(Root root, long lastUse, boolean referrerOfStoredSubject) {
            return new Candidate(root, lastUse, ids, sizes, freeable, referrerOfStoredSubject);
        }
    }

    /** What roots reach, with the sizes of the blobs looked up once per read. */
    private final class Reach {
        private final long askedSince;
        private final Map<Digest, Long> sizes = new HashMap<>();

        Reach(long askedSince) {
            this.askedSince = askedSince;
        }

        /** The blobs a manifest reaches, an index's manifests' blobs included (nesting bounded); none for null. */
        Blobs manifest(RepositoryName repo, ManifestIndex.StoredManifest m) {
            Set<Digest> reached = new LinkedHashSet<>();
            if (m != null) {
                walk(repo, m, reached, 0);
            }
            return stored(reached);
        }

        private void walk(RepositoryName repo, ManifestIndex.StoredManifest m, Set<Digest> out, int depth) {
            boolean index = MediaTypes.isIndex(m.mediaType());
            for (Digest d : manifests.references(m)) {
                if (out.add(d) && index && depth < 4) {
                    ManifestIndex.StoredManifest child = manifestIndex.get(repo, d);
                    if (child != null) {
                        walk(repo, child, out, depth + 1);
                    }
                }
            }
        }

        /** The stored blobs among {@code digests}. */
        Blobs stored(Set<Digest> digests) {
            long[] ids = new long[digests.size()];
            long[] bytes = new long[digests.size()];
            long[] freeable = new long[digests.size()];
            int n = 0;
            for (Digest d : digests) {
                long size = sizes.computeIfAbsent(d, blobs::size);
                if (size >= 0) {
                    ids[n] = Collector.prefix(d);
                    bytes[n] = size;
                    freeable[n++] = access.blobSeenAt(d) >= askedSince ? 0 : size;
                }
            }
            return new Blobs(Arrays.copyOf(ids, n), Arrays.copyOf(bytes, n), Arrays.copyOf(freeable, n));
        }
    }
}
