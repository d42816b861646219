package dev.layercache.server.core.manifest;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import java.io.IOException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a {@link CacheConfig} from its JSON tree, with the types BuildKit writes it with (Go's
 * {@code encoding/json}): a field of the wrong type is an error, an unknown field is ignored, a
 * null or missing one has its zero value. Then checks every index (see {@link CacheConfig}).
 */
final class CacheConfigReader {
    /** Go's zero {@code time.Time}, which BuildKit writes for a time it does not know. */
    private static final Instant GO_ZERO_TIME = Instant.parse("0001-01-01T00:00:00Z");

    /**
     * The most layers, and the most records, a cache config may have. A build of a few hundred
     * steps exports a few thousand records in {@code mode=max}; BuildKit's importers refuse a
     * cache config over 1 MiB, which holds about 12,000 records of a key alone.
     * This leaves room for fifty thousand steps and refuses what no BuildKit writes.
     */
    static final int MAX_ENTRIES = 100_000;

    /**
     * The most JSON values (objects, arrays, strings, numbers, literals) a cache config or an
     * image config may hold, counted before a tree of them is built (an inline cache's records
     * are bounded by {@link InlineCacheReader#MAX_BASE64_CHARS}). A tree costs up to some 85
     * bytes of heap per value however short its text ({@code {}} is two bytes), so without this
     * the 16 MiB a cache config may be read at would cost 450 MiB of heap or more (and a node
     * exits on {@code OutOfMemoryError}); with it, 170 MiB at worst. BuildKit writes a value per 8
     * bytes or more (digests, times), so 16 MiB of its JSON holds fewer than two million, and its
     * importers refuse a config over 1 MiB anyway.
     */
    static final int MAX_VALUES = 2_000_000;

    private CacheConfigReader() {
    }

    /**
     * Refuses {@code content} when it holds more than {@link #MAX_VALUES} JSON values, counted by
     * streaming (no tree is built). Says nothing of content that is not JSON: the reader that
     * follows says why, with its own message.
     *
     * @param what what the content is, for the message ("cache config")
     */
    static void boundValues(JsonFactory factory, byte[] content, String what) {
        long values = 0;
        try (JsonParser p = factory.createParser(content)) {
            for (JsonToken t = p.nextToken(); t != null; t = p.nextToken()) {
                if (t != JsonToken.END_OBJECT && t != JsonToken.END_ARRAY && t != JsonToken.FIELD_NAME
                        && ++values > MAX_VALUES) {
                    throw new RegistryException(ErrorCode.MANIFEST_INVALID,
                            what + " holds more than " + MAX_VALUES + " JSON values, more than are read");
                }
            }
        } catch (IOException e) {
            // not JSON, or too deeply nested: the tree reader refuses it with its own message
        }
    }

    static CacheConfig read(JsonNode root) {
        if (root == null || !root.isObject()) {
            throw invalid("cache config must be a JSON object");
        }
        List<CacheConfig.CacheLayer> layers = new ArrayList<>();
        List<JsonNode> layerNodes = array(root, "layers", "layers");
        bound(layerNodes.size(), "layers");
        for (int i = 0; i < layerNodes.size(); i++) {
            layers.add(layer(object(layerNodes.get(i), "layers[" + i + "]"), "layers[" + i + "]"));
        }
        return read(layers, array(root, "records", "records"));
    }

    /**
     * A cache config from a layer table known otherwise and the JSON array of its records (or null,
     * for none): BuildKit's inline cache carries only the records ({@link InlineCacheReader}).
     * The records are read and checked as in {@link #read(JsonNode)}.
     */
    static CacheConfig read(List<CacheConfig.CacheLayer> layers, JsonNode recordArray) {
        if (recordArray != null && !recordArray.isNull() && !recordArray.isArray()) {
            throw invalid("records must be an array");
        }
        List<JsonNode> recordNodes = new ArrayList<>();
        if (recordArray != null) {
            recordArray.forEach(recordNodes::add);
        }
        return read(layers, recordNodes);
    }

    private static CacheConfig read(List<CacheConfig.CacheLayer> layers, List<JsonNode> recordNodes) {
        bound(layers.size(), "layers");
        bound(recordNodes.size(), "records");
        List<CacheConfig.CacheRecord> records = new ArrayList<>();
        for (int i = 0; i < recordNodes.size(); i++) {
            records.add(record(object(recordNodes.get(i), "records[" + i + "]"), "records[" + i + "]"));
        }
        CacheConfig config = new CacheConfig(layers, records);
        checkIndexes(config);
        return config;
    }

    private static CacheConfig.CacheLayer layer(JsonNode node, String where) {
        String blob = string(node, "blob", where);
        if (blob == null || !Digest.isValid(blob)) {
            throw invalid(where + ".blob must be a digest");
        }
        JsonNode a = node.get("annotations");
        CacheConfig.LayerAnnotations annotations = null;
        if (a != null && !a.isNull()) {
            String at = where + ".annotations";
            object(a, at);
            String diffId = string(a, "diffID", at);
            if (diffId != null && !Digest.isValid(diffId)) {
                throw invalid(at + ".diffID must be a digest");
            }
            Map<String, String> additional = new LinkedHashMap<>();
            JsonNode more = a.get("additional");
            if (more != null && !more.isNull()) {
                object(more, at + ".additional").fields().forEachRemaining(e -> {
                    if (!e.getValue().isTextual()) {
                        throw invalid(at + ".additional." + e.getKey() + " must be a string");
                    }
                    additional.put(e.getKey(), e.getValue().asText());
                });
            }
            long size = longInteger(a, "size", at, Descriptor.UNSTATED);
            if (size < 0 && size != Descriptor.UNSTATED) {
                throw invalid(at + ".size must not be negative");
            }
            annotations = new CacheConfig.LayerAnnotations(string(a, "mediaType", at),
                    diffId == null ? null : Digest.parse(diffId), size, time(a, "createdAt", at), additional);
        }
        return new CacheConfig.CacheLayer(Digest.parse(blob), integer(node, "parent", where, 0), annotations);
    }

    private static CacheConfig.CacheRecord record(JsonNode node, String where) {
        String digest = string(node, "digest", where);
        if (digest == null || digest.isEmpty()) {
            throw invalid(where + ".digest must be a cache key");
        }
        List<CacheConfig.CacheResult> results = new ArrayList<>();
        List<JsonNode> resultNodes = array(node, "layers", where + ".layers");
        for (int i = 0; i < resultNodes.size(); i++) {
            String at = where + ".layers[" + i + "]";
            JsonNode r = object(resultNodes.get(i), at);
            results.add(new CacheConfig.CacheResult(integer(r, "layer", at, 0), time(r, "createdAt", at)));
        }
        List<CacheConfig.ChainedResult> chains = new ArrayList<>();
        List<JsonNode> chainNodes = array(node, "chains", where + ".chains");
        for (int i = 0; i < chainNodes.size(); i++) {
            String at = where + ".chains[" + i + "]";
            JsonNode c = object(chainNodes.get(i), at);
            List<Integer> indexes = new ArrayList<>();
            List<JsonNode> indexNodes = array(c, "layers", at + ".layers");
            for (int j = 0; j < indexNodes.size(); j++) {
                indexes.add(intValue(indexNodes.get(j), at + ".layers[" + j + "]"));
            }
            chains.add(new CacheConfig.ChainedResult(indexes, time(c, "createdAt", at)));
        }
        List<List<CacheConfig.CacheInput>> inputs = new ArrayList<>();
        List<JsonNode> inputNodes = array(node, "inputs", where + ".inputs");
        for (int i = 0; i < inputNodes.size(); i++) {
            String at = where + ".inputs[" + i + "]";
            List<CacheConfig.CacheInput> links = new ArrayList<>();
            JsonNode list = inputNodes.get(i);
            if (!list.isNull()) {
                if (!list.isArray()) {
                    throw invalid(at + " must be an array");
                }
                for (int j = 0; j < list.size(); j++) {
                    String lt = at + "[" + j + "]";
                    JsonNode link = object(list.get(j), lt);
                    String selector = string(link, "selector", lt);
                    links.add(new CacheConfig.CacheInput(selector == null || selector.isEmpty() ? null : selector,
                            integer(link, "link", lt, 0)));
                }
            }
            inputs.add(links);
        }
        return new CacheConfig.CacheRecord(digest, results, chains, inputs);
    }

    /**
     * Refuses a table longer than {@link #MAX_ENTRIES}. The checks and the comparison of exports
     * are linear, so this is not about time: it refuses, with a message that says so, a document
     * no build writes before its records are held in memory as objects.
     */
    private static void bound(int count, String table) {
        if (count > MAX_ENTRIES) {
            throw invalid(table + " has " + count + " entries, more than the " + MAX_ENTRIES + " read");
        }
    }

    /** Every index names an entry of its table, and following parents or input links never loops. */
    private static void checkIndexes(CacheConfig config) {
        int layerCount = config.layers().size();
        for (int i = 0; i < layerCount; i++) {
            int parent = config.layers().get(i).parent();
            if (parent != CacheConfig.CacheLayer.NO_PARENT && (parent < 0 || parent >= layerCount)) {
                throw invalid("layers[" + i + "].parent is " + parent + ", not a layer");
            }
        }
        // Each layer has one parent: walk up from each until a layer already known to reach a base.
        int[] known = new int[layerCount]; // 0 not yet, 1 on the current walk, 2 reaches a base
        for (int i = 0; i < layerCount; i++) {
            List<Integer> walk = new ArrayList<>();
            for (int l = i; l != CacheConfig.CacheLayer.NO_PARENT && known[l] != 2; l = config.layers().get(l).parent()) {
                if (known[l] == 1) {
                    throw invalid("layers[" + l + "] is its own ancestor");
                }
                known[l] = 1;
                walk.add(l);
            }
            walk.forEach(l -> known[l] = 2);
        }
        int recordCount = config.records().size();
        for (int r = 0; r < recordCount; r++) {
            CacheConfig.CacheRecord record = config.records().get(r);
            for (CacheConfig.CacheResult result : record.results()) {
                if (result.layer() < 0 || result.layer() >= layerCount) {
                    throw invalid("records[" + r + "] has a result at layer " + result.layer() + ", not a layer");
                }
            }
            for (CacheConfig.ChainedResult chain : record.chains()) {
                for (int layer : chain.layers()) {
                    if (layer < 0 || layer >= layerCount) {
                        throw invalid("records[" + r + "] has a chain through layer " + layer + ", not a layer");
                    }
                }
            }
            for (List<CacheConfig.CacheInput> input : record.inputs()) {
                for (CacheConfig.CacheInput link : input) {
                    if (link.link() < 0 || link.link() >= recordCount) {
                        throw invalid("records[" + r + "] has an input from record " + link.link() + ", not a record");
                    }
                }
            }
        }
        int[] state = new int[recordCount]; // 0 unvisited, 1 on the current path, 2 done
        for (int r = 0; r < recordCount; r++) {
            visit(config, r, state);
        }
    }

    /** Depth-first over input links, without recursion (a long chain of steps must not cost stack). */
    private static void visit(CacheConfig config, int start, int[] state) {
        if (state[start] != 0) {
            return;
        }
        List<int[]> stack = new ArrayList<>(); // {record, next input link to follow}
        stack.add(new int[] {start, 0});
        state[start] = 1;
        while (!stack.isEmpty()) {
            int[] top = stack.get(stack.size() - 1);
            List<Integer> links = links(config.records().get(top[0]));
            if (top[1] == links.size()) {
                state[top[0]] = 2;
                stack.remove(stack.size() - 1);
                continue;
            }
            int next = links.get(top[1]++);
            if (state[next] == 1) {
                throw invalid("records[" + next + "] depends on itself through its inputs");
            }
            if (state[next] == 0) {
                state[next] = 1;
                stack.add(new int[] {next, 0});
            }
        }
    }

    private static List<Integer> links(CacheConfig.CacheRecord record) {
        List<Integer> out = new ArrayList<>();
        for (List<CacheConfig.CacheInput> input : record.inputs()) {
            for (CacheConfig.CacheInput link : input) {
                out.add(link.link());
            }
        }
        return out;
    }

    // --- Go's encoding/json rules ---------------------------------------------------------------

    private static JsonNode object(JsonNode node, String where) {
        if (!node.isObject()) {
            throw invalid(where + " must be an object");
        }
        return node;
    }

    /** The elements of an array field; empty when it is absent or null. */
    private static List<JsonNode> array(JsonNode node, String field, String where) {
        JsonNode v = node.get(field);
        List<JsonNode> out = new ArrayList<>();
        if (v == null || v.isNull()) {
            return out;
        }
        if (!v.isArray()) {
            throw invalid(where + " must be an array");
        }
        v.forEach(out::add);
        return out;
    }

    private static String string(JsonNode node, String field, String where) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw invalid(where + "." + field + " must be a string");
        }
        return v.asText();
    }

    /** An int field ({@code absent} when missing or null), as Go reads it into an {@code int}. */
    private static int integer(JsonNode node, String field, String where, int absent) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? absent : intValue(v, where + "." + field);
    }

    /** An int64 field ({@code absent} when missing or null). */
    private static long longInteger(JsonNode node, String field, String where, long absent) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            return absent;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw invalid(where + "." + field + " must be an integer");
        }
        return v.asLong();
    }

    private static int intValue(JsonNode v, String where) {
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw invalid(where + " must be an integer");
        }
        return v.asInt();
    }

    private static Instant time(JsonNode node, String field, String where) {
        String text = string(node, field, where);
        if (text == null) {
            return null;
        }
        try {
            Instant t = OffsetDateTime.parse(text).toInstant();
            return t.equals(GO_ZERO_TIME) ? null : t;
        } catch (DateTimeParseException e) {
            throw invalid(where + "." + field + " must be an RFC 3339 time");
        }
    }

    private static RegistryException invalid(String message) {
        return new RegistryException(ErrorCode.MANIFEST_INVALID, message.startsWith("cache config")
                ? message : "cache config: " + message);
    }
}
