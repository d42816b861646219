package dev.layercache.server.core.manifest;

import java.util.List;

/**
 * The platform an index's child manifest is for. Every field is optional here (the parser takes
 * what is there and never refuses a push over a platform); a field that is absent or not a
 * string is null.
 *
 * @param os           {@code os}, such as {@code linux}
 * @param architecture {@code architecture}, such as {@code amd64}
 * @param variant      {@code variant}, such as {@code v8}
 * @param osVersion    {@code os.version}
 * @param osFeatures   {@code os.features} (empty when none)
 */
public record Platform(String os, String architecture, String variant, String osVersion, List<String> osFeatures) {

    public Platform {
        osFeatures = List.copyOf(osFeatures);
    }

    /** {@code os/architecture[/variant]}, with {@code ?} for a part that is missing. */
    public String label() {
        String s = (os == null ? "?" : os) + "/" + (architecture == null ? "?" : architecture);
        return variant == null || variant.isEmpty() ? s : s + "/" + variant;
    }
}
