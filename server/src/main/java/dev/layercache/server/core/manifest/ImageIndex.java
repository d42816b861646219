package dev.layercache.server.core.manifest;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.MediaTypes;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An image index (OCI index, Docker manifest list): a document with a {@code manifests} array.
 * Its children are usually the manifests of one image for several platforms; in BuildKit's
 * registry cache (the default export) they are instead the cache's layer blobs and its cache
 * config blob (see {@link BuildKitCache}).
 *
 * @param mediaType    see {@link Manifest#mediaType()}
 * @param manifests    the children in document order
 * @param subject      see {@link Manifest#subject()}
 * @param artifactType see {@link Manifest#artifactType()}
 * @param annotations  see {@link Manifest#annotations()}
 */
public record ImageIndex(String mediaType, List<Descriptor> manifests, Descriptor subject, String artifactType,
                         Map<String, String> annotations) implements Manifest {

    public ImageIndex {
        manifests = List.copyOf(manifests);
        annotations = Collections.unmodifiableMap(new LinkedHashMap<>(annotations));
    }

    /**
     * The child of type {@value MediaTypes#BUILDKIT_CACHE_CONFIG}, which makes this index BuildKit's
     * cache rather than an image; null for any other index.
     */
    public Descriptor buildKitCacheConfig() {
        for (Descriptor d : manifests) {
            if (MediaTypes.BUILDKIT_CACHE_CONFIG.equals(d.mediaType())) {
                return d;
            }
        }
        return null;
    }

    /** {@inheritDoc} An index has no config, so this is its own {@code artifactType}. */
    @Override
    public String referrerArtifactType() {
        return artifactType;
    }

    @Override
    public List<Digest> references() {
        List<Digest> out = new ArrayList<>(manifests.size());
        for (Descriptor d : manifests) {
            if (!d.isNondistributable()) {
                out.add(d.digest());
            }
        }
        return out;
    }
}
