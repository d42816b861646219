package dev.layercache.server.registry;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.Reference;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.retention.AccessTracker;
import dev.layercache.server.retention.ReferenceGuard;
import dev.layercache.server.core.Root;
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
 */
public final class ManifestService {

    /** The outcome of a push. */
    public record PutResult(Digest digest, Digest subject) {
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
    private final ObjectMapper json;
    /**
     * How a pushed manifest is read: no key twice (parsers disagree on which one counts, so such a
     * document means one thing here and another to a client) and nothing after the object.
     */
    private final ObjectReader pushed;

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
        this.json = json;
        this.pushed = json.reader(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
                .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    }

    public PutResult put(RepositoryName repo, Reference reference, String contentType, byte[] content) {
        Digest digest = reference instanceof Reference.ByDigest d && d.digest().algorithm() != Digest.Algorithm.SHA256
                ? Digest.of(d.digest().algorithm(), d.digest().algorithm().newMessageDigest().digest(content))
                : Digest.sha256(content);
        if (reference instanceof Reference.ByDigest d && !d.digest().equals(digest)) {
            throw new RegistryException(ErrorCode.DIGEST_INVALID,
                    "manifest content has digest " + digest + ", not " + d.digest(), d.digest().toString());
        }
        JsonNode root = parse(pushed, content);
        String mediaType = mediaTypeOf(contentType, root);
        checkSchemaVersion(root, mediaType);
        Digest subject = descriptorDigest(root.get("subject"), "subject");
        // Checked and committed under the references' locks: collection cannot take a blob
        // between the check and the commit (see ReferenceGuard).
        guard.publishing(references(root), () -> {
            checkReferences(repo, root, mediaType);
            KeyValueStore.Batch batch = kv.batch();
            manifests.put(batch, repo, new StoredManifest(digest, mediaType, content));
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
        return new PutResult(digest, subject);
    }

    /**
     * The digests a manifest refers to (config, layers, blobs, and an index's manifests), without
     * foreign layers: what must exist for it to be pulled, and what collection must keep.
     */
    public List<Digest> references(JsonNode root) {
        List<Digest> out = new ArrayList<>();
        if (root.has("config")) {
            Digest config = descriptorDigest(root.get("config"), "config");
            if (config != null) {
                out.add(config);
            }
        }
        for (String field : new String[] {"layers", "blobs", "manifests"}) {
            for (JsonNode d : descriptors(root, field)) {
                Digest digest = descriptorDigest(d, field + "[]");
                if (digest != null && !isForeign(d)) {
                    out.add(digest);
                }
            }
        }
        return out;
    }

    /** {@link #references(JsonNode)} of a stored manifest; empty when it cannot be read. */
    public List<Digest> references(StoredManifest m) {
        try {
            return references(parse(m.content()));
        } catch (RegistryException e) {
            return List.of();
        }
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
        access.touch(reference instanceof Reference.ByTag t
                ? new Root(Root.Kind.TAG, repo.toString(), t.tag().toString())
                : new Root(Root.Kind.MANIFEST, repo.toString(), m.digest().toString()));
        return m;
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
    public List<JsonNode> referrers(RepositoryName repo, Digest subject, String artifactType) {
        List<JsonNode> out = new ArrayList<>();
        for (Digest d : referrers.referrers(repo, subject, 10_000)) {
            StoredManifest m = manifests.get(repo, d);
            if (m == null) {
                continue;
            }
            JsonNode root = parse(m.content());
            String type = text(root, "artifactType");
            if (type == null && root.path("config").isObject()) {
                type = text(root.get("config"), "mediaType");
            }
            if (artifactType != null && !artifactType.equals(type)) {
                continue;
            }
            var desc = json.createObjectNode();
            desc.put("mediaType", m.mediaType());
            desc.put("digest", m.digest().toString());
            desc.put("size", m.content().length);
            if (type != null) {
                desc.put("artifactType", type);
            }
            if (root.path("annotations").isObject()) {
                desc.set("annotations", root.get("annotations"));
            }
            out.add(desc);
        }
        return out;
    }

    private JsonNode parse(byte[] content) {
        return parse(json.reader(), content);
    }

    private static JsonNode parse(ObjectReader reader, byte[] content) {
        JsonNode root;
        try {
            root = reader.readTree(content);
        } catch (JsonProcessingException e) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID,
                    "manifest is not valid JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, "manifest is not valid JSON");
        }
        if (root == null || !root.isObject()) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, "manifest must be a JSON object");
        }
        return root;
    }

    private static String mediaTypeOf(String contentType, JsonNode root) {
        String type = mediaTypeAsPushed(contentType, root);
        if (!MediaTypes.isWellFormed(type)) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, "invalid media type: "
                    + (type.length() > 80 ? type.substring(0, 77) + "..." : type).replaceAll("\\p{Cntrl}", "?"));
        }
        return type;
    }

    private static String mediaTypeAsPushed(String contentType, JsonNode root) {
        String declared = text(root, "mediaType");
        String header = contentType == null ? null : contentType.split(";", 2)[0].trim();
        if (header != null && !header.isEmpty()) {
            if (declared != null && !declared.equals(header)) {
                throw new RegistryException(ErrorCode.MANIFEST_INVALID,
                        "mediaType " + declared + " does not match Content-Type " + header);
            }
            return header;
        }
        if (declared != null) {
            return declared;
        }
        if (root.path("schemaVersion").asInt() == 1) {
            return root.has("signatures") ? MediaTypes.DOCKER_MANIFEST_V1_SIGNED : MediaTypes.DOCKER_MANIFEST_V1;
        }
        return root.has("manifests") ? MediaTypes.OCI_INDEX : MediaTypes.OCI_MANIFEST;
    }

    /** An OCI or Docker v2 manifest or index says schemaVersion 2; one that says anything else is not one. */
    private static void checkSchemaVersion(JsonNode root, String mediaType) {
        JsonNode version = root.get("schemaVersion");
        boolean v2 = mediaType.equals(MediaTypes.OCI_MANIFEST) || mediaType.equals(MediaTypes.OCI_INDEX)
                || mediaType.equals(MediaTypes.DOCKER_MANIFEST) || mediaType.equals(MediaTypes.DOCKER_MANIFEST_LIST);
        if (v2 && version != null && !(version.isIntegralNumber() && version.asLong() == 2)) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, "schemaVersion must be 2 for " + mediaType);
        }
    }

    /**
     * Every referenced blob must be there, and a descriptor that states a size must state the
     * stored one: a client trusts the size to allocate, to show progress and to stop reading,
     * and a pull of a manifest that lies about it fails only later, on every puller. Collects
     * every blob that is missing, then every size that is wrong, for one clear error.
     */
    private void checkReferences(RepositoryName repo, JsonNode root, String mediaType) {
        Set<Digest> missing = new LinkedHashSet<>();
        List<Map<String, Object>> misstated = new ArrayList<>();
        if (root.has("config")) {
            checkBlob(repo, root.get("config"), "config", missing, misstated);
        }
        for (String field : new String[] {"layers", "blobs"}) {
            List<JsonNode> list = descriptors(root, field);
            for (int i = 0; i < list.size(); i++) {
                if (!isForeign(list.get(i))) {
                    checkBlob(repo, list.get(i), field + "[" + i + "]", missing, misstated);
                }
            }
        }
        List<JsonNode> children = descriptors(root, "manifests");
        for (int i = 0; i < children.size(); i++) {
            JsonNode child = children.get(i);
            Digest d = descriptorDigest(child, "manifests[]");
            if (d == null) {
                continue;
            }
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
        if (MediaTypes.isIndex(mediaType) && !root.path("manifests").isArray()) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, "an index needs a manifests array");
        }
    }

    /** A config, layer or blob descriptor: its blob must be held, of the size it states. */
    private void checkBlob(RepositoryName repo, JsonNode descriptor, String where, Set<Digest> missing,
                           List<Map<String, Object>> misstated) {
        Digest d = descriptorDigest(descriptor, where);
        if (d == null) {
            return;
        }
        long size = blobs.heldSize(repo, d);
        if (size < 0) {
            missing.add(d);
        } else if (!statesSize(descriptor, size)) {
            misstated.add(misstatement(where, d, descriptor, size));
        }
    }

    /** True when the descriptor states no size, or states {@code actual} (never true for a negative {@code actual}). */
    private static boolean statesSize(JsonNode descriptor, long actual) {
        JsonNode size = descriptor.get("size");
        return size == null || size.isNull() || (actual >= 0 && size.asLong() == actual);
    }

    private static Map<String, Object> misstatement(String where, Digest digest, JsonNode descriptor, long stored) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("descriptor", where);
        m.put("digest", digest.toString());
        m.put("size", descriptor.get("size").asLong());
        m.put("stored", stored);
        return m;
    }

    private static List<JsonNode> descriptors(JsonNode root, String field) {
        JsonNode array = root.get(field);
        if (array == null || array.isNull()) {
            return List.of();
        }
        if (!array.isArray()) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, field + " must be an array");
        }
        List<JsonNode> out = new ArrayList<>(array.size());
        array.forEach(out::add);
        return out;
    }

    /** The digest of a descriptor field, null when the field is absent. */
    private static Digest descriptorDigest(JsonNode descriptor, String where) {
        if (descriptor == null || descriptor.isNull()) {
            return null;
        }
        JsonNode digest = descriptor.get("digest");
        if (!descriptor.isObject() || digest == null || !digest.isTextual()) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, where + " must be a descriptor with a digest");
        }
        if (!Digest.isValid(digest.asText())) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, where + " has an invalid digest");
        }
        JsonNode size = descriptor.get("size");
        if (size != null && (!size.canConvertToLong() || size.asLong() < 0)) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, where + " has an invalid size");
        }
        return Digest.parse(digest.asText());
    }

    /** Layers that live elsewhere by design (Windows base layers): not required to be pushed. */
    private static boolean isForeign(JsonNode descriptor) {
        String type = text(descriptor, "mediaType");
        return type != null && (type.contains("foreign") || type.contains("nondistributable"));
    }

    /** The subject a manifest names (a referrer: signature, SBOM...), or null. */
    public Digest subjectOf(StoredManifest m) {
        try {
            JsonNode subject = json.readTree(m.content()).get("subject");
            return subject == null ? null : descriptorDigest(subject, "subject");
        } catch (java.io.IOException | RegistryException e) {
            return null;
        }
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v != null && v.isTextual() ? v.asText() : null;
    }
}
