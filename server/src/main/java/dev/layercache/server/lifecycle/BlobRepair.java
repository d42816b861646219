package dev.layercache.server.lifecycle;

import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.entries.EntryService;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.metadata.EntryIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.LinkIndex;
import dev.layercache.server.metadata.ManifestIndex;
import dev.layercache.server.registry.ManifestService;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forgets a blob whose bytes are lost or rotten, and every root that needs it, so that clients
 * see a miss (and rebuild) rather than a manifest or entry whose layer cannot be served.
 */
public final class BlobRepair {
    private static final Logger log = LoggerFactory.getLogger(BlobRepair.class);

    private final KeyValueStore kv;
    private final ManifestService manifests;
    private final EntryService entries;
    private final BlobIndex blobIndex;
    private final LinkIndex linkIndex;
    private final ManifestIndex manifestIndex;
    private final EntryIndex entryIndex;

    public BlobRepair(KeyValueStore kv, ManifestService manifests, EntryService entries) {
        this.kv = kv;
        this.manifests = manifests;
        this.entries = entries;
        this.blobIndex = new BlobIndex(kv);
        this.linkIndex = new LinkIndex(kv);
        this.manifestIndex = new ManifestIndex(kv);
        this.entryIndex = new EntryIndex(kv);
    }

    /** A root that needs a lost blob. */
    private record Needing(boolean manifest, RepositoryName repository, Digest digest) {
    }

    /** Drops {@code digest}'s records and the manifests and entries referring to it; returns the roots dropped. */
    public int forget(Digest digest, String why) {
        List<RepositoryName> linkedFrom = new ArrayList<>();
        linkIndex.forEach((repo, d, size) -> {
            if (d.equals(digest)) {
                linkedFrom.add(repo);
            }
        });
        KeyValueStore.Batch batch = kv.batch();
        blobIndex.delete(batch, digest);
        linkedFrom.forEach(repo -> linkIndex.delete(batch, repo, digest));
        batch.commit(true);

        List<Needing> needing = new ArrayList<>();
        manifestIndex.forEach((repo, m) -> {
            if (manifests.references(m).contains(digest)) {
                needing.add(new Needing(true, repo, m.digest()));
            }
        });
        entryIndex.forEach((namespace, key, entry) -> {
            if (entry == null) {
                return; // not this one's concern
            }
            for (LayerDescriptor layer : entry.getLayersList()) {
                if (layer.getDigest().equals(digest.toString())) {
                    needing.add(new Needing(false, namespace, key));
                    return;
                }
            }
        });
        for (Needing root : needing) {
            if (root.manifest()) {
                manifests.evictManifest(root.repository(), root.digest());
            } else {
                entries.evict(root.repository(), root.digest());
            }
        }
        log.warn("blob {} {}: forgotten with {} manifests and entries that needed it", digest, why, needing.size());
        return needing.size();
    }

}
