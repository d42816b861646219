package dev.layercache.server.lifecycle;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.entries.EntryService;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.ManifestIndex;
import dev.layercache.server.metadata.Table;
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

    public BlobRepair(KeyValueStore kv, ManifestService manifests, EntryService entries) {
        this.kv = kv;
        this.manifests = manifests;
        this.entries = entries;
    }

    /** Drops {@code digest}'s records and the manifests and entries referring to it; returns the roots dropped. */
    public int forget(Digest digest, String why) {
        List<byte[]> links = new ArrayList<>();
        kv.forEach(Table.LINKS, e -> {
            if (Keys.lastPart(e.key()).equals(digest.toString())) {
                links.add(e.key());
            }
        });
        KeyValueStore.Batch batch = kv.batch();
        batch.delete(Table.BLOBS, Keys.utf8(digest.toString()));
        links.forEach(k -> batch.delete(Table.LINKS, k));
        batch.commit(true);

        List<String[]> needing = new ArrayList<>();
        kv.forEach(Table.MANIFESTS, e -> {
            String[] key = Keys.string(e.key()).split("\0", 2);
            if (Digest.isValid(key[1]) && manifests.references(ManifestIndex.decode(Digest.parse(key[1]), e.value()))
                    .contains(digest)) {
                needing.add(new String[] {"manifest", key[0], key[1]});
            }
        });
        kv.forEach(Table.ENTRIES, e -> {
            try {
                for (LayerDescriptor layer : Entry.parseFrom(e.value()).getLayersList()) {
                    if (layer.getDigest().equals(digest.toString())) {
                        String[] key = Keys.string(e.key()).split("\0", 2);
                        needing.add(new String[] {"entry", key[0], key[1]});
                        return;
                    }
                }
            } catch (InvalidProtocolBufferException corrupt) {
                // not this one's concern
            }
        });
        for (String[] root : needing) {
            RepositoryName repo = RepositoryName.parse(root[1]);
            if (root[0].equals("manifest")) {
                manifests.evictManifest(repo, Digest.parse(root[2]));
            } else {
                entries.evict(repo, Digest.parse(root[2]));
            }
        }
        log.warn("blob {} {}: forgotten with {} manifests and entries that needed it", digest, why, needing.size());
        return needing.size();
    }

}
