package dev.layercache.server.core;

import java.util.regex.Pattern;

/** Media types the server treats specially. Any other media type is stored and served as pushed. */
public final class MediaTypes {
    public static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    public static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
    public static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
    public static final String DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
    public static final String DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    public static final String DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json";
    public static final String BUILDKIT_CACHE_CONFIG = "application/vnd.buildkit.cacheconfig.v0";
    public static final String OCTET_STREAM = "application/octet-stream";

    /** RFC 9110's {@code type "/" subtype}, each a token, without parameters; RFC 6838's length limit. */
    private static final Pattern SYNTAX = Pattern.compile("[A-Za-z0-9!#$%&'*+.^_`|~-]{1,127}/[A-Za-z0-9!#$%&'*+.^_`|~-]{1,127}");

    private MediaTypes() {
    }

    /**
     * True when {@code mediaType} is a media type by the grammar: a stored manifest's type is sent
     * back as its Content-Type, so anything else (a space, a line break) must never be stored.
     */
    public static boolean isWellFormed(String mediaType) {
        return mediaType != null && SYNTAX.matcher(mediaType).matches();
    }

    /** True for the types whose children are listed in {@code manifests[]}. */
    public static boolean isIndex(String mediaType) {
        return OCI_INDEX.equals(mediaType) || DOCKER_MANIFEST_LIST.equals(mediaType);
    }
}
