package dev.layercache.server.registry;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.Reference;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.core.Root;
import dev.layercache.server.core.manifest.Descriptor;
import dev.layercache.server.core.manifest.ImageIndex;
import dev.layercache.server.core.manifest.ImageManifest;
import dev.layercache.server.core.manifest.Manifest;
import dev.layercache.server.core.manifest.ManifestParser;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.ManifestIndex;
import dev.layercache.server.metadata.ManifestIndex.StoredManifest;
import dev.layercache.server.metadata.ReferrerIndex;
import dev.layercache.server.metadata.ReleaseIndex;
import dev.layercache.server.metadata.RepositoryIndex;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.metadata.TagIndex;
import dev.layercache.server.metadata.TombstoneIndex;
import dev.layercache.server.retention.AccessTracker;
import dev.layercache.server.retention.ReferenceGuard;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Manifests and tags with OCI semantics. Manifests are stored byte for byte and served with the
 * media type they were pushed with; any media type is accepted. Before a manifest is stored, every
 * blob it references must be readable through the repository (an index's children may be
 * manifests or, as in BuildKit's registry cache, blobs), of the size its descriptor states.
 *
 * <p>The JSON is read once per use into typed records by {@link ManifestParser}; what is stored and
 * served is always the client's bytes, never a serialization of those records.
 */
public final class ManifestService {

    /** The outcome of a push: the manifest's digest, its subject (or null), and the manifest as read. */
    public record PutResult(Digest digest, Digest subject, Manifest manifest) {
    }

    private final KeyValueStore kv;
    private final ManifestIndex manifests;
    private final TagIndex tags;
    private final ReferrerIndex referrers;
    private final RepositoryIndex repositories;
    private final TombstoneIndex tombstones;
    private final ReleaseIndex releases;
    private final BlobService blobs;
    private final Clock clock;
    private final ManifestParser parser;

    private final AccessTracker access;
    private final ReferenceGuard guard;

    public ManifestService(KeyValueStore kv, BlobService blobs, ObjectMapper json, AccessTracker access,
                           ReferenceGuard guard, Clock clock) {
        this.access = access;
        this.clock = clock;
        this.releases = new ReleaseIndex(kv);
        this.guard = guard;
        this.kv = kv;
        this.manifests = new ManifestIndex(kv);
        this.tags = new TagIndex(kv);
        this.referrers = new ReferrerIndex(kv);
        this.repositories = new RepositoryIndex(kv);
        this.tombstones = new TombstoneIndex(kv);
        this.blobs = blobs;
        this.parser = new ManifestParser(json);
    }

    public PutResult put(RepositoryName repo, Reference reference, String contentType, byte[] content) {
        return store(repo, reference, contentType, content, true);
    }

    /**
     * Stores a manifest fetched from an upstream registry by a mirror ({@code mirror.MirrorService}):
     * checked as a push is, except that the blobs it names need not be here yet, since a mirror
     * fetches each when a client first asks for it.
     */
    public PutResult putMirrored(RepositoryName repo, Reference reference, String contentType, byte[] content) {
        return store(repo, reference, contentType, content, false);
    }

    private PutResult store(RepositoryName repo, Reference reference, String contentType, byte[] content,
                            boolean referencesMustExist) {
        Digest digest = reference instanceof Reference.ByDigest d && d.digest().algorithm() != Digest.Algorithm.SHA256
                ? Digest.of(d.digest().algorithm(), d.digest().algorithm().newMessageDigest().digest(content))
                : Digest.sha256(content);
        if (reference instanceof Reference.ByDigest d && !d.digest().equals(digest)) {
            throw new RegistryException(ErrorCode.DIGEST_INVALID,
                    "manifest content has digest " + digest + ", not " + d.digest(), d.digest().toString());
        }
        Manifest manifest = parser.parse(contentType, content);
        Digest subject = manifest.subject() == null ? null : manifest.subject().digest();
        // Checked and committed under the references' locks: collection cannot take a blob
        // between the check and the commit (see ReferenceGuard).
        guard.publishing(manifest.references(), () -> {
            if (referencesMustExist) {
                checkReferences(repo, manifest);
            }
            KeyValueStore.Batch batch = kv.batch();
            // The bytes as they came: the digest is the client's, and so is every byte of the pull.
            manifests.put(batch, repo, new StoredManifest(digest, manifest.mediaType(), content));
            if (reference instanceof Reference.ByTag t) {
                tags.put(batch, repo, t.tag(), digest);
                tombstones.delete(batch, repo.toString(), t.tag().toString());
            }
            if (subject != null) {
                referrers.put(batch, repo, subject, digest);
            }
            repositories.put(batch, repo);
            batch.commit(true);
            return null;
        });
        if (reference instanceof Reference.ByTag t) {
            access.touch(new Root(Root.Kind.TAG, repo.toString(), t.tag().toString()));
        }
        access.touch(new Root(Root.Kind.MANIFEST, repo.toString(), digest.toString()));
        return new PutResult(digest, subject, manifest);
    }

    /**
     * The digests a stored manifest refers to (see {@link Manifest#references()}): what must exist
     * for it to be pulled, and what collection must keep. Empty when it cannot be read.
     */
    public List<Digest> references(StoredManifest m) {
        try {
            return parsed(m).references();
        } catch (RegistryException e) {
            return List.of();
        }
    }

    /** A stored manifest, typed; MANIFEST_INVALID when it cannot be read. */
    private Manifest parsed(StoredManifest m) {
        return parser.parseStored(m.mediaType(), m.content());
    }

    /** The manifest a reference names; MANIFEST_UNKNOWN when there is none. */
    public StoredManifest get(RepositoryName repo, Reference reference) {
        Digest digest = reference instanceof Reference.ByDigest d ? d.digest()
                : tags.get(repo, ((Reference.ByTag) reference).tag());
        StoredManifest m = digest == null ? null : manifests.get(repo, digest);
        if (m == null) {
            throw new RegistryException(ErrorCode.MANIFEST_UNKNOWN,
                    "manifest unknown to registry: " + repo + ":" + reference, reference.toString());
        }
        used(repo, reference, m);
        return m;
    }

    /**
     * Records a read of {@code m} through {@code reference} for least-recently-used eviction: what
     * {@link #get} does, for an answer given from memory ({@code registry.AnswerCache}).
     */
    public void used(RepositoryName repo, Reference reference, StoredManifest m) {
        access.touch(reference instanceof Reference.ByTag t
                ? new Root(Root.Kind.TAG, repo.toString(), t.tag().toString())
                : new Root(Root.Kind.MANIFEST, repo.toString(), m.digest().toString()));
    }

    /**
     * Deletes a tag (by tag) or a manifest with every tag pointing at it (by digest), like CNCF
     * Distribution. A manifest's blobs are released with it: a collection may take those that no
     * other root holds at once, without waiting out the grace period (see {@link ReleaseIndex}).
     */
    public void delete(RepositoryName repo, Reference reference) {
        delete(repo, reference, ReleaseIndex.Scope.DELETED);
    }

    private void delete(RepositoryName repo, Reference reference, ReleaseIndex.Scope release) {
        StoredManifest m = get(repo, reference);
        KeyValueStore.Batch batch = kv.batch();
        long now = clock.millis();
        if (reference instanceof Reference.ByTag t) {
            tags.delete(batch, repo, t.tag().toString());
            tombstones.put(batch, repo.toString(), t.tag().toString(), now);
        } else {
            manifests.delete(batch, repo, m.digest());
            for (String tag : tags.tagsOf(repo, m.digest())) {
                tags.delete(batch, repo, tag);
                tombstones.put(batch, repo.toString(), tag, now);
            }
            Digest subject = subjectOf(m);
            if (subject != null) {
                referrers.delete(batch, repo, subject, m.digest());
            }
            for (Digest blob : references(m)) {
                releases.put(batch, blob, now, release);
            }
        }
        batch.commit(true);
    }

    /**
     * Evicts a tag: it goes (a later miss on it is a capacity miss), and so does its manifest
     * when no other tag and no index of the repository refers to it any more.
     *
     * @return false when the tag no longer exists
     */
    public boolean evictTag(RepositoryName repo, String tag) {
        byte[] target = kv.get(Table.TAGS, Keys.of(repo.toString(), tag));
        if (target == null) {
            return false;
        }
        Digest digest = Digest.parse(Keys.string(target));
        KeyValueStore.Batch batch = kv.batch();
        tags.delete(batch, repo, tag);
        tombstones.put(batch, repo.toString(), tag, clock.millis());
        access.forget(batch, new Root(Root.Kind.TAG, repo.toString(), tag));
        batch.commit(true);
        List<String> others = tags.tagsOf(repo, digest);
        if (others.isEmpty() && !indexesReferring(repo, digest)) {
            evictManifest(repo, digest);
        }
        return true;
    }

    /**
     * Evicts an untagged manifest (with any tag still pointing at it). An index takes along the
     * manifests it lists that no tag and no other index of the repository names any more: they
     * were part of the root that went (the platforms of a multi-platform image).
     */
    public boolean evictManifest(RepositoryName repo, Digest digest) {
        StoredManifest m = manifests.get(repo, digest);
        if (m == null) {
            return false;
        }
        delete(repo, new Reference.ByDigest(digest), ReleaseIndex.Scope.ROOT);
        KeyValueStore.Batch batch = kv.batch();
        access.forget(batch, new Root(Root.Kind.MANIFEST, repo.toString(), digest.toString()));
        batch.commit(false);
        if (MediaTypes.isIndex(m.mediaType())) {
            for (Digest child : references(m)) {
                if (manifests.exists(repo, child) && tags.tagsOf(repo, child).isEmpty()
                        && !indexesReferring(repo, child)) {
                    evictManifest(repo, child);
                }
            }
        }
        return true;
    }

    /** The manifest {@code digest} of {@code repo} as stored, or null; not a use of it. */
    public StoredManifest stored(RepositoryName repo, Digest digest) {
        return manifests.get(repo, digest);
    }

    /** True when an index of {@code repo} lists {@code digest} among its manifests. */
    public boolean indexesReferring(RepositoryName repo, Digest digest) {
        byte[] prefix = Keys.prefix(repo.toString());
        byte[] after = null;
        while (true) {
            List<KeyValueStore.Entry> page = kv.scan(Table.MANIFESTS, prefix, after, 1000);
            for (KeyValueStore.Entry e : page) {
                StoredManifest m = ManifestIndex.decode(Digest.parse(Keys.lastPart(e.key())), e.value());
                if (MediaTypes.isIndex(m.mediaType()) && references(m).contains(digest)) {
                    return true;
                }
            }
            if (page.size() < 1000) {
                return false;
            }
            after = page.get(page.size() - 1).key();
        }
    }

    /**
     * True when {@code tag} named a manifest of {@code repository} that was removed since (and the
     * tag was not pushed again): a miss on it is a capacity miss. The name is the raw path part.
     */
    public boolean tagWasRemoved(String repository, String tag) {
        return tombstones.contains(repository, tag);
    }

    /** Sorted tags of a repository after {@code last}; NAME_UNKNOWN for a repository never pushed to. */
    public List<String> tags(RepositoryName repo, String last, int limit) {
        List<String> page = tags.list(repo, last, limit);
        if (page.isEmpty() && !repositories.exists(repo)) {
            throw new RegistryException(ErrorCode.NAME_UNKNOWN, "repository name not known to registry: " + repo,
                    repo.toString());
        }
        return page;
    }

    public List<String> repositories(String last, int limit) {
        return repositories.list(last, limit);
    }

    /**
     * Descriptors of the manifests in {@code repo} whose subject is {@code subject}, optionally
     * only those of one artifact type. Never fails for an unknown subject: the list is empty.
     */
    public List<Descriptor> referrers(RepositoryName repo, Digest subject, String artifactType) {
        List<Descriptor> out = new ArrayList<>();
        for (Digest d : referrers.referrers(repo, subject, 10_000)) {
            StoredManifest m = manifests.get(repo, d);
            if (m == null) {
                continue;
            }
            Manifest referrer = parsed(m);
            String type = referrer.referrerArtifactType();
            if (artifactType != null && !artifactType.equals(type)) {
                continue;
            }
            out.add(new Descriptor(m.mediaType(), m.digest(), m.content().length, List.of(), referrer.annotations(),
                    null, type));
        }
        return out;
    }

    /**
     * Every referenced blob must be there, and a descriptor that states a size must state the
     * stored one: a client trusts the size to allocate, to show progress and to stop reading,
     * and a pull of a manifest that lies about it fails only later, on every puller. Collects
     * every blob that is missing, then every size that is wrong, for one clear error.
     */
    private void checkReferences(RepositoryName repo, Manifest manifest) {
        Set<Digest> missing = new LinkedHashSet<>();
        List<Map<String, Object>> misstated = new ArrayList<>();
        if (manifest instanceof ImageManifest image) {
            if (image.config() != null) {
                checkBlob(repo, image.config(), "config", missing, misstated);
            }
            checkBlobs(repo, image.layers(), "layers", missing, misstated);
            checkBlobs(repo, image.blobs(), "blobs", missing, misstated);
        } else if (manifest instanceof ImageIndex index) {
            for (int i = 0; i < index.manifests().size(); i++) {
                Descriptor child = index.manifests().get(i);
                Digest d = child.digest();
                // A child is a manifest of this repository or, in BuildKit's cache index, a blob: its
                // size is right if it is right for either.
                StoredManifest m = manifests.get(repo, d);
                long manifestSize = m == null ? -1 : m.content().length;
                long blobSize = blobs.heldSize(repo, d);
                if (manifestSize < 0 && blobSize < 0) {
                    missing.add(d);
                } else if (!statesSize(child, manifestSize) && !statesSize(child, blobSize)) {
                    misstated.add(misstatement("manifests[" + i + "]", d, child, Math.max(manifestSize, blobSize)));
                }
            }
        }
        if (!missing.isEmpty()) {
            List<String> names = missing.stream().map(Digest::toString).toList();
            throw new RegistryException(ErrorCode.MANIFEST_BLOB_UNKNOWN,
                    "manifest references blobs unknown to " + repo + ": " + String.join(", ", names),
                    names.size() == 1 ? names.get(0) : names);
        }
        if (!misstated.isEmpty()) {
            List<String> what = misstated.stream().map(x -> x.get("descriptor") + " says " + x.get("digest")
                    + " has " + x.get("size") + " bytes, it has " + x.get("stored")).toList();
            throw new RegistryException(ErrorCode.MANIFEST_INVALID,
                    "descriptor size does not match the stored content: " + String.join("; ", what),
                    misstated.size() == 1 ? misstated.get(0) : misstated);
        }
        if (MediaTypes.isIndex(manifest.mediaType()) && !(manifest instanceof ImageIndex)) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, "an index needs a manifests array");
        }
    }

    /** Layers or blobs: each but a non-distributable layer must be held, of the size it states. */
    private void checkBlobs(RepositoryName repo, List<Descriptor> list, String field, Set<Digest> missing,
                            List<Map<String, Object>> misstated) {
        for (int i = 0; i < list.size(); i++) {
            if (!list.get(i).isNondistributable()) {
                checkBlob(repo, list.get(i), field + "[" + i + "]", missing, misstated);
            }
        }
    }

    /** A config, layer or blob descriptor: its blob must be held, of the size it states. */
    private void checkBlob(RepositoryName repo, Descriptor descriptor, String where, Set<Digest> missing,
                           List<Map<String, Object>> misstated) {
        long size = blobs.heldSize(repo, descriptor.digest());
        if (size < 0) {
            missing.add(descriptor.digest());
        } else if (!statesSize(descriptor, size)) {
            misstated.add(misstatement(where, descriptor.digest(), descriptor, size));
        }
    }

    /** True when the descriptor states no size, or states {@code actual} (never true for a negative {@code actual}). */
    private static boolean statesSize(Descriptor descriptor, long actual) {
        return !descriptor.statesSize() || (actual >= 0 && descriptor.size() == actual);
    }

    private static Map<String, Object> misstatement(String where, Digest digest, Descriptor descriptor, long stored) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("descriptor", where);
        m.put("digest", digest.toString());
        m.put("size", descriptor.size());
        m.put("stored", stored);
        return m;
    }

    /** The subject a manifest names (a referrer: signature, SBOM...), or null. */
    public Digest subjectOf(StoredManifest m) {
        try {
            Descriptor subject = parsed(m).subject();
            return subject == null ? null : subject.digest();
        } catch (RegistryException e) {
            return null;
        }
    }
}
