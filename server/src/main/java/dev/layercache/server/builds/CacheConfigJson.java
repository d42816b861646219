package dev.layercache.server.builds;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.manifest.CacheConfig;
import dev.layercache.server.core.manifest.CacheConfig.CacheInput;
import dev.layercache.server.core.manifest.CacheConfig.CacheLayer;
import dev.layercache.server.core.manifest.CacheConfig.CacheRecord;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;

/**
 * Writes a {@link CacheConfig} back as BuildKit's JSON (the field names of its
 * {@code cache/remotecache/v1} package), so that the export kept for the next comparison is read
 * by the same reader, with the same checks, as a pushed one. Only what a comparison needs is
 * written: layers (blob, parent and the step's description) and records (digest, results, chains,
 * inputs); times and other annotations are left out. The description is kept because a reused
 * step that the new export carries without a result is named from the previous export
 * ({@link ExportComparison}: dockerd 20.10's inline cache does that).
 */
final class CacheConfigJson {
    private CacheConfigJson() {
    }

    /**
     * @param descriptions step names by layer blob from the manifest ({@link ExportComparison#descriptions}),
     *                     for layers whose own annotations do not name their step
     */
    static byte[] write(ObjectMapper json, CacheConfig config, Map<Digest, String> descriptions) {
        ObjectNode root = json.createObjectNode();
        ArrayNode layers = root.putArray("layers");
        for (CacheLayer l : config.layers()) {
            ObjectNode layer = layers.addObject().put("blob", l.blob().toString()).put("parent", l.parent());
            String description = l.annotations() == null ? null
                    : l.annotations().additional().get(CacheConfig.DESCRIPTION);
            if (description == null) {
                description = descriptions.get(l.blob());
            }
            if (description != null && !description.isEmpty()) {
                layer.putObject("annotations").putObject("additional")
                        .put(CacheConfig.DESCRIPTION, BuildRecord.clip(description));
            }
        }
        ArrayNode records = root.putArray("records");
        for (CacheRecord r : config.records()) {
            ObjectNode record = records.addObject().put("digest", r.digest());
            if (!r.results().isEmpty()) {
                ArrayNode results = record.putArray("layers");
                r.results().forEach(result -> results.addObject().put("layer", result.layer()));
            }
            if (!r.chains().isEmpty()) {
                ArrayNode chains = record.putArray("chains");
                for (CacheConfig.ChainedResult chain : r.chains()) {
                    ArrayNode indexes = chains.addObject().putArray("layers");
                    chain.layers().forEach(indexes::add);
                }
            }
            if (!r.inputs().isEmpty()) {
                ArrayNode inputs = record.putArray("inputs");
                for (List<CacheInput> input : r.inputs()) {
                    ArrayNode alternatives = inputs.addArray();
                    for (CacheInput link : input) {
                        ObjectNode l = alternatives.addObject();
                        if (link.selector() != null) {
                            l.put("selector", link.selector());
                        }
                        l.put("link", link.link());
                    }
                }
            }
        }
        try {
            return json.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
