package dev.layercache.server.core.manifest;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.MediaTypes;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An image manifest: an OCI image manifest, a Docker v2 schema 2 manifest, an artifact manifest
 * (OCI 1.1 draft, with {@code blobs}), BuildKit's cache manifest (config of type
 * {@value MediaTypes#BUILDKIT_CACHE_CONFIG}), or any other document without a {@code manifests}
 * array.
 *
 * @param mediaType    see {@link Manifest#mediaType()}
 * @param config       the config descriptor, or null when the document has none
 * @param layers       the layers in order, base first (empty when none)
 * @param blobs        the blobs of an artifact manifest (empty when none)
 * @param subject      see {@link Manifest#subject()}
 * @param artifactType see {@link Manifest#artifactType()}
 * @param annotations  see {@link Manifest#annotations()}
 */
public record ImageManifest(String mediaType, Descriptor config, List<Descriptor> layers, List<Descriptor> blobs,
                            Descriptor subject, String artifactType, Map<String, String> annotations)
        implements Manifest {

    public ImageManifest {
        layers = List.copyOf(layers);
        blobs = List.copyOf(blobs);
        annotations = Collections.unmodifiableMap(new LinkedHashMap<>(annotations));
    }

    /** True when this is BuildKit's cache exported as an image manifest ({@code image-manifest=true}). */
    public boolean isBuildKitCache() {
        return config != null && MediaTypes.BUILDKIT_CACHE_CONFIG.equals(config.mediaType());
    }

    @Override
    public String referrerArtifactType() {
        return artifactType != null ? artifactType : config != null ? config.mediaType() : null;
    }

    /** {@inheritDoc} The config counts whatever its media type says: a manifest without it is no image. */
    @Override
    public List<Digest> references() {
        List<Digest> out = new ArrayList<>();
        if (config != null) {
            out.add(config.digest());
        }
        for (List<Descriptor> list : List.of(layers, blobs)) {
            for (Descriptor d : list) {
                if (!d.isNondistributable()) {
                    out.add(d.digest());
                }
            }
        }
        return out;
    }
}
