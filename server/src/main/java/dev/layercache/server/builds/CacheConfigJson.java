package dev.layercache.server.builds;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.server.core.manifest.CacheConfig;
import dev.layercache.server.core.manifest.CacheConfig.CacheInput;
import dev.layercache.server.core.manifest.CacheConfig.CacheLayer;
import dev.layercache.server.core.manifest.CacheConfig.CacheRecord;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * Writes a {@link CacheConfig} back as BuildKit's JSON (the field names of its
 * {@code cache/remotecache/v1} package), so that the export kept for the next comparison is read
 * by the same reader, with the same checks, as a pushed one. Only what a comparison needs is
 * written: layers (blob and parent) and records (digest, results, chains, inputs); layer
 * annotations and times are left out, since the previous export's steps are never named.
 */
final class CacheConfigJson {
    private CacheConfigJson() {
    }

    static byte[] write(ObjectMapper json, CacheConfig config) {
        ObjectNode root = json.createObjectNode();
        ArrayNode layers = root.putArray("layers");
        for (CacheLayer l : config.layers()) {
            layers.addObject().put("blob", l.blob().toString()).put("parent", l.parent());
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
