package dev.layercache.server.core.manifest;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import java.io.IOException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Reads BuildKit's inline cache ({@code --cache-to type=inline}, or dockerd's BuildKit with
 * {@code BUILDKIT_INLINE_CACHE=1}) out of an image config into a {@link CacheConfig}, the way
 * BuildKit's importer rebuilds it ({@code cache/remotecache/import.go}, {@code importInlineCache}).
 *
 * <p>What BuildKit writes ({@code cache/remotecache/inline/inline.go}, {@code ExportForLayers};
 * {@code exporter/containerimage/writer.go}, {@code patchImageConfig}, and dockerd's copy of it):
 * <ul>
 *   <li>the key {@value ImageConfig#INLINE_CACHE} of the image config holds a JSON string, the
 *       base64 (standard alphabet, padded) of a JSON document, because the exporter hands the
 *       config writer a Go {@code []byte} and {@code encoding/json} encodes those so;</li>
 *   <li>that document is only the {@code records} array of a cache config, in the v1 format
 *       ({@link CacheConfig}). There is no layer table: the exporter keeps only the layers that are
 *       in the image, and rewrites each record result's {@code layer} to its depth in its chain
 *       (0 for the base layer), which is its position among the image manifest's layers.</li>
 * </ul>
 * The importer rebuilds the layer table from the manifest: layer {@code i} is the manifest's
 * {@code i}-th layer blob, stacked on layer {@code i - 1}, its uncompressed digest the config's
 * {@code rootfs.diff_ids[i]}, its creation time and description the {@code created} and
 * {@code created_by} of the {@code i}-th history entry that is not an {@code empty_layer}. So does
 * this class, except that a description the layer's descriptor already carries
 * ({@code buildkit/description}, kept by BuildKit's OCI exporter) wins over the history's.
 * BuildKit ignores an inline cache whose config lists another number of diff IDs than the manifest
 * has layers; this class refuses it, so that a user can be told why the cache is lost.
 *
 * <p>Then the records are read and checked by {@link CacheConfigReader}, with its bounds: every
 * index in range, no loop through inputs, at most {@link CacheConfigReader#MAX_ENTRIES} records.
 * Results given as explicit chains ({@code chains}, from merge and diff ops) are not rewritten
 * by BuildKit's inline exporter, so their indexes are checked against the image's layers like the
 * rest, which may refuse an inline cache of a build that used such ops.
 */
final class InlineCacheReader {
    /**
     * The longest base64 text read: 4 Mi characters, 3 MiB of records. The server's JSON limits
     * allow no longer string anyway; this says so with its own message, whatever reader is given.
     */
    static final int MAX_BASE64_CHARS = 1 << 22;

    /** Go's zero {@code time.Time}: no time, as in {@link CacheConfig}. */
    private static final Instant GO_ZERO_TIME = Instant.parse("0001-01-01T00:00:00Z");

    private static final String WHERE = "inline cache (" + ImageConfig.INLINE_CACHE + ")";

    private InlineCacheReader() {
    }

    /** The inline cache of an image config, empty when it carries none (no key, or null). */
    static Optional<CacheConfig> read(ObjectReader json, byte[] imageConfig, ImageManifest manifest) {
        CacheConfigReader.boundValues(json.getFactory(), imageConfig, "image config");
        JsonNode config;
        try {
            config = json.readTree(imageConfig);
        } catch (IOException e) {
            throw invalid("image config is not valid JSON");
        }
        if (config == null || !config.isObject()) {
            throw invalid("image config must be a JSON object");
        }
        JsonNode value = config.get(ImageConfig.INLINE_CACHE);
        if (value == null || value.isNull()) {
            return Optional.empty(); // Go reads both as a nil []byte: no cache
        }
        JsonNode records = records(json, value);
        List<CacheConfig.CacheLayer> layers = layers(config, manifest.layers());
        try {
            return Optional.of(CacheConfigReader.read(layers, records));
        } catch (RegistryException e) {
            String message = e.getMessage().replaceFirst("^cache config: ", "");
            throw invalid(WHERE + " over the image's " + layers.size() + " layers: " + message);
        }
    }

    /** The records array in the value of the key: a base64 string of JSON. */
    private static JsonNode records(ObjectReader json, JsonNode value) {
        if (!value.isTextual()) {
            throw invalid(WHERE + " must be a base64 string");
        }
        String text = value.asText();
        if (text.length() > MAX_BASE64_CHARS) {
            throw invalid(WHERE + " is " + text.length() + " characters of base64, more than the "
                    + MAX_BASE64_CHARS + " read");
        }
        byte[] decoded;
        try {
            // Go's decoder skips line breaks, and only those.
            decoded = Base64.getDecoder().decode(text.replace("\r", "").replace("\n", ""));
        } catch (IllegalArgumentException e) {
            throw invalid(WHERE + " is not valid base64: " + e.getMessage());
        }
        JsonNode records;
        try {
            records = json.readTree(decoded);
        } catch (JsonProcessingException e) {
            throw invalid(WHERE + " is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw invalid(WHERE + " is not valid JSON");
        }
        if (records == null || records.isMissingNode()) {
            throw invalid(WHERE + " is not valid JSON: it is empty"); // as Go's json.Unmarshal says
        }
        if (!(records.isArray() || records.isNull())) {
            throw invalid(WHERE + " must be a JSON array of cache records");
        }
        return records;
    }

    /** The layer table as BuildKit's importer rebuilds it from the manifest and the config. */
    private static List<CacheConfig.CacheLayer> layers(JsonNode config, List<Descriptor> manifestLayers) {
        List<Digest> diffIds = diffIds(config);
        if (diffIds.size() != manifestLayers.size()) {
            throw invalid(WHERE + ": the image config lists " + diffIds.size()
                    + " rootfs.diff_ids for the manifest's " + manifestLayers.size()
                    + " layers, and BuildKit ignores the cache of such an image");
        }
        List<JsonNode> history = layerHistory(config);
        List<CacheConfig.CacheLayer> out = new ArrayList<>(manifestLayers.size());
        for (int i = 0; i < manifestLayers.size(); i++) {
            Descriptor d = manifestLayers.get(i);
            JsonNode h = i < history.size() ? history.get(i) : null;
            String description = d.annotations().get(CacheConfig.DESCRIPTION);
            if (description == null || description.isEmpty()) {
                description = h == null ? null : ManifestParser.text(h, "created_by");
            }
            Map<String, String> additional = new LinkedHashMap<>();
            if (description != null && !description.isEmpty()) {
                additional.put(CacheConfig.DESCRIPTION, description);
            }
            Instant created = h == null ? null : time(h, "history[] of layer " + i);
            CacheConfig.LayerAnnotations annotations = new CacheConfig.LayerAnnotations(d.mediaType(),
                    diffIds.get(i), d.size(), created, additional);
            out.add(new CacheConfig.CacheLayer(d.digest(), i == 0 ? CacheConfig.CacheLayer.NO_PARENT : i - 1,
                    annotations));
        }
        return out;
    }

    private static List<Digest> diffIds(JsonNode config) {
        JsonNode ids = config.path("rootfs").get("diff_ids");
        List<Digest> out = new ArrayList<>();
        if (ids == null || ids.isNull()) {
            return out;
        }
        if (!ids.isArray()) {
            throw invalid(WHERE + ": the image config's rootfs.diff_ids must be an array");
        }
        for (int i = 0; i < ids.size(); i++) {
            JsonNode id = ids.get(i);
            if (!id.isTextual() || !Digest.isValid(id.asText())) {
                throw invalid(WHERE + ": the image config's rootfs.diff_ids[" + i + "] must be a digest");
            }
            out.add(Digest.parse(id.asText()));
        }
        return out;
    }

    /** The history entries that made a layer, in order: the n-th is the n-th layer's. */
    private static List<JsonNode> layerHistory(JsonNode config) {
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode h : config.path("history")) {
            if (h.isObject() && !h.path("empty_layer").asBoolean(false)) {
                out.add(h);
            }
        }
        return out;
    }

    /** A history entry's {@code created}, null when absent; BuildKit fails on one it cannot read. */
    private static Instant time(JsonNode h, String where) {
        String text = ManifestParser.text(h, "created");
        if (text == null) {
            return null;
        }
        try {
            Instant t = OffsetDateTime.parse(text).toInstant();
            return t.equals(GO_ZERO_TIME) ? null : t;
        } catch (DateTimeParseException e) {
            throw invalid(WHERE + ": " + where + " has a created time that is not RFC 3339");
        }
    }

    private static RegistryException invalid(String message) {
        return new RegistryException(ErrorCode.MANIFEST_INVALID, message);
    }
}
