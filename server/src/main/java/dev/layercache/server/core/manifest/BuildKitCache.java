package dev.layercache.server.core.manifest;

import dev.layercache.server.core.MediaTypes;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * BuildKit's registry cache ({@code --cache-to type=registry}) as one shape, whichever of its two
 * exports a manifest is:
 *
 * <ul>
 *   <li>{@link Shape#INDEX} (the default): an {@link ImageIndex} whose {@code manifests[]} are the
 *       cache's layer blobs (each with {@code containerd.io/uncompressed} and usually
 *       {@code buildkit/createdat} annotations) and one descriptor of the cache config;</li>
 *   <li>{@link Shape#IMAGE_MANIFEST} ({@code image-manifest=true}): an {@link ImageManifest} whose
 *       config is the cache config and whose layers are the cache's layer blobs.</li>
 * </ul>
 *
 * <p>The cache config blob ({@value MediaTypes#BUILDKIT_CACHE_CONFIG}, read with
 * {@link ManifestParser#parseCacheConfig}) says how the layers chain and which build steps (cache
 * records) produced them: see {@link CacheConfig}. Its layers name blobs by digest, which are the
 * digests of {@link #layers()}.
 *
 * @param shape  which export this is
 * @param config the descriptor of the cache config blob
 * @param layers the layer blobs in the order the manifest lists them (the cache config child of
 *               an index left out); a cache may hold several chains, so this is not one stack
 */
public record BuildKitCache(Shape shape, Descriptor config, List<Descriptor> layers) {

    /** How BuildKit exported the cache. */
    public enum Shape {
        /** An index of blobs ({@code image-manifest=false}, the default). */
        INDEX,
        /** An image manifest with the cache config as its config ({@code image-manifest=true}). */
        IMAGE_MANIFEST
    }

    public BuildKitCache {
        layers = List.copyOf(layers);
    }

    /** The cache a manifest is, or empty when it is not BuildKit's cache. */
    public static Optional<BuildKitCache> of(Manifest manifest) {
        if (manifest instanceof ImageManifest image && image.isBuildKitCache()) {
            return Optional.of(new BuildKitCache(Shape.IMAGE_MANIFEST, image.config(), image.layers()));
        }
        if (manifest instanceof ImageIndex index && index.buildKitCacheConfig() != null) {
            List<Descriptor> layers = new ArrayList<>();
            for (Descriptor d : index.manifests()) {
                if (!MediaTypes.BUILDKIT_CACHE_CONFIG.equals(d.mediaType())) {
                    layers.add(d);
                }
            }
            return Optional.of(new BuildKitCache(Shape.INDEX, index.buildKitCacheConfig(), layers));
        }
        return Optional.empty();
    }
}
