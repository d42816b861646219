package dev.layercache.server.core.manifest;

import dev.layercache.server.core.Digest;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * An OCI content descriptor: what a manifest says about one piece of content it points at
 * (a config, a layer, a child manifest, a subject).
 *
 * <p>Only {@link #digest} is required; the parser ({@link ManifestParser}) refuses a descriptor
 * without a valid one, or with a size that is not a non-negative integer. Everything else is
 * read leniently, as it always was: a field of the wrong JSON type is treated as absent, because
 * clients push such documents and expect them back byte for byte.
 *
 * @param mediaType    the media type the descriptor states, or null when it states none (or a non-string)
 * @param digest       the content's digest
 * @param size         the size the descriptor states, or {@link #UNSTATED} when it states none
 * @param urls         where a non-distributable layer can be fetched from (empty when none are given)
 * @param annotations  the descriptor's string annotations in document order (values that are not
 *                     strings, which the spec forbids, are left out); empty when none
 * @param platform     the platform of an index's child, or null when none is given
 * @param artifactType the artifact type a descriptor states (OCI 1.1), or null
 */
public record Descriptor(String mediaType, Digest digest, long size, List<String> urls,
                         Map<String, String> annotations, Platform platform, String artifactType) {

    /** The {@link #size} of a descriptor that states none. */
    public static final long UNSTATED = -1;

    public Descriptor {
        Objects.requireNonNull(digest, "digest");
        urls = List.copyOf(urls);
        // Order kept: a listing built from these (the referrers API) shows them as pushed.
        annotations = Collections.unmodifiableMap(new LinkedHashMap<>(annotations));
    }

    /** A plain descriptor: a media type, a digest and a size, nothing else. */
    public static Descriptor of(String mediaType, Digest digest, long size) {
        return new Descriptor(mediaType, digest, size, List.of(), Map.of(), null, null);
    }

    /** True when the descriptor states a size. */
    public boolean statesSize() {
        return size != UNSTATED;
    }

    /**
     * True for a layer that lives elsewhere by design (a "foreign" Windows base layer, any
     * "nondistributable" type): a registry need not hold it for the manifest to be pulled.
     */
    public boolean isNondistributable() {
        return mediaType != null && (mediaType.contains("foreign") || mediaType.contains("nondistributable"));
    }
}
