package dev.layercache.server.core.manifest;

import java.util.ArrayList;
import java.util.List;

/**
 * The part of an image's config blob (OCI image config, Docker image JSON) this server reads:
 * its history, which says what each layer was made by. Read with
 * {@link ManifestParser#parseImageConfig}.
 *
 * @param history the history entries in order, empty layers included
 */
public record ImageConfig(List<History> history) {
    /**
     * The key of an image config under which BuildKit writes its inline cache
     * ({@code --cache-to type=inline}, {@code BUILDKIT_INLINE_CACHE=1}): read it with
     * {@link ManifestParser#parseInlineCache}.
     */
    public static final String INLINE_CACHE = "moby.buildkit.cache.v0";

    public ImageConfig {
        history = List.copyOf(history);
    }

    /**
     * One history entry. A text field that is missing is empty; one that is not a string holds its
     * value as text, as the server always read it.
     *
     * @param createdBy  {@code created_by}: the instruction, such as {@code RUN make}
     * @param comment    {@code comment}
     * @param emptyLayer {@code empty_layer}: true when the step made no layer (ENV, LABEL...)
     */
    public record History(String createdBy, String comment, boolean emptyLayer) {
    }

    /**
     * The instruction of each history entry that made a layer, in order, so that the n-th is the
     * n-th layer's: {@code created_by}, else the comment, else {@code "unknown"}.
     */
    public List<String> layerInstructions() {
        List<String> out = new ArrayList<>();
        for (History h : history) {
            if (h.emptyLayer()) {
                continue;
            }
            String by = h.createdBy().trim();
            out.add(!by.isEmpty() ? by : h.comment().isEmpty() ? "unknown" : h.comment());
        }
        return out;
    }
}
