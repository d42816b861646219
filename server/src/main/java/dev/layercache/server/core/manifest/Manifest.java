package dev.layercache.server.core.manifest;

import dev.layercache.server.core.Digest;
import java.util.List;
import java.util.Map;

/**
 * A manifest document, parsed once by {@link ManifestParser} into the fields this registry reads.
 *
 * <p>It is a view, never a source of bytes: the registry stores and serves the bytes the client
 * sent (the manifest's digest is theirs), and nothing is ever serialized back from these records.
 *
 * <p>A document with a {@code manifests} array is an {@link ImageIndex}; any other document is an
 * {@link ImageManifest} (the OCI and Docker image manifests, artifact manifests, BuildKit's cache
 * manifest, and documents of media types the registry does not know, which it stores all the same).
 */
public sealed interface Manifest permits ImageManifest, ImageIndex {

    /**
     * The media type the manifest is stored and served with: for a push, the Content-Type, else
     * the document's own {@code mediaType}, else one inferred from its shape.
     */
    String mediaType();

    /** The manifest this one refers to (a signature's or an SBOM's image), or null. */
    Descriptor subject();

    /** The document's own {@code artifactType}, or null. */
    String artifactType();

    /** The document's string annotations in document order; empty when none. */
    Map<String, String> annotations();

    /**
     * The digests of the content a manifest needs to be pulled, which collection must keep while
     * the manifest lives: the config, the layers and blobs, an index's children; never the
     * subject, and never a non-distributable layer (see {@link Descriptor#isNondistributable()}).
     */
    List<Digest> references();

    /**
     * The artifact type a referrers listing shows for this manifest: its {@code artifactType},
     * else the media type of its config (OCI distribution spec 1.1), else null.
     */
    String referrerArtifactType();
}
