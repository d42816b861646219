package dev.layercache.server.builds;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.manifest.BuildKitCache;
import dev.layercache.server.core.manifest.CacheConfig;
import dev.layercache.server.core.manifest.ManifestParser;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a cache config the way BuildKit's {@code cache/remotecache/v1} exporter does, from a
 * description of the build's steps, so that tests read it back with
 * {@link ManifestParser#parseCacheConfig} as the server will:
 *
 * <ul>
 *   <li>a record per cache key: {@code digest} (the step's definition only, never its inputs),
 *       {@code inputs} as one list of {@code {selector, link}} alternatives per input,
 *       {@code layers} (the results) pointing at the top of the step's layer chain;</li>
 *   <li>layers chained by {@code parent}, {@code -1} for a base layer and left out when 0 (Go's
 *       {@code omitempty}), with {@code annotations} ({@code createdAt}, and the step's
 *       {@code buildkit/description} in {@code additional} when asked);</li>
 *   <li>both tables sorted as BuildKit's {@code sortConfig} sorts them (layers by blob, records by
 *       digest), so that file order is not build order;</li>
 *   <li>the two registry shapes around it: the index whose {@code manifests[]} are the layers and
 *       the cache config, and the image manifest whose config is the cache config; both carry
 *       {@code buildkit/createdat} and {@code buildkit/description} on the layer descriptors.</li>
 * </ul>
 * Public for the over-HTTP tests ({@code buildkit/RealExport} gives its fake layer digests real
 * bytes and pushes the export).
 */
public final class BuildKitExport {
    static final ManifestParser PARSER = new ManifestParser(new ObjectMapper());
    private static final String LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

    /** An input alternative: the step {@code from} of this export, read through {@code selector} (null: none). */
    public record Link(String selector, String from) {
    }

    private record Node(String name, String digest, String description, boolean result, List<List<Link>> inputs) {
    }

    private final Map<String, Node> nodes = new LinkedHashMap<>();
    /** Content keys that say where files come from, not what they hold (see {@link #session}). */
    private final java.util.Set<String> sessions = new java.util.HashSet<>();
    private boolean descriptionsInConfig = true;

    public static Link link(String from) {
        return new Link(null, from);
    }

    public static Link link(String selector, String from) {
        return new Link(selector, from);
    }

    /** A cache key digest, as BuildKit writes it: {@code sha256:} of something. */
    public static String key(String text) {
        return Digest.sha256(text.getBytes(StandardCharsets.UTF_8)).toString();
    }

    /** A step with a result layer, each input given as its alternatives. */
    @SafeVarargs
    public final BuildKitExport step(String name, String definition, String description, List<Link>... inputs) {
        nodes.put(name, new Node(name, key(definition), description, true, List.of(inputs)));
        return this;
    }

    /** A step whose result this export does not carry ({@code mode=min} for another stage). */
    @SafeVarargs
    public final BuildKitExport keyOnly(String name, String definition, List<Link>... inputs) {
        nodes.put(name, new Node(name, key(definition), null, false, List.of(inputs)));
        return this;
    }

    /** A record with no inputs and no results: a content checksum, the local context. */
    public BuildKitExport contentKey(String name, String definition) {
        return keyOnly(name, definition);
    }

    /**
     * The local context's key: a content key that is the client's session, new in every build,
     * and says nothing of the files read through it (their checksum does). Unlike other inputs,
     * it leaves the blobs of the steps reading it unchanged, as a step BuildKit finds in the
     * cache keeps its layer.
     */
    public BuildKitExport session(String name, String definition) {
        sessions.add(name);
        return keyOnly(name, definition);
    }

    /** Leave descriptions out of the cache config (they are then only on the manifest's descriptors). */
    public BuildKitExport descriptionsOnDescriptorsOnly() {
        descriptionsInConfig = false;
        return this;
    }

    /** The blob of a step's layer: what it built depends on its definition and on everything it read. */
    private String blob(Node n, Map<String, String> blobs) {
        StringBuilder what = new StringBuilder(n.digest());
        for (List<Link> input : n.inputs()) {
            for (Link l : input) {
                if (sessions.contains(l.from())) {
                    continue;
                }
                what.append('|').append(l.selector()).append('>').append(nodes.get(l.from()).digest())
                        .append('=').append(blobs.getOrDefault(l.from(), ""));
            }
        }
        return key(what.toString());
    }

    /** The cache config JSON. */
    public String json() {
        // Compute blobs and layer chains in definition order (inputs are defined before their users).
        Map<String, String> blobs = new HashMap<>();
        Map<String, String> parentBlob = new HashMap<>();
        for (Node n : nodes.values()) {
            String below = null;
            if (!n.inputs().isEmpty() && !n.inputs().get(0).isEmpty()) {
                below = blobs.get(n.inputs().get(0).get(0).from());
            }
            if (n.result()) {
                blobs.put(n.name(), blob(n, blobs));
                parentBlob.put(n.name(), below);
            } else if (below != null) {
                blobs.put(n.name(), below); // the chain it would stack on, for its users' blobs
            }
        }
        List<Node> layerNodes = new ArrayList<>();
        for (Node n : nodes.values()) {
            if (n.result()) {
                layerNodes.add(n);
            }
        }
        layerNodes.sort(Comparator.comparing(n -> blobs.get(n.name())));
        Map<String, Integer> layerIndex = new HashMap<>();
        for (int i = 0; i < layerNodes.size(); i++) {
            layerIndex.put(blobs.get(layerNodes.get(i).name()), i);
        }
        List<Node> recordNodes = new ArrayList<>(nodes.values());
        recordNodes.sort(Comparator.comparing(Node::digest).thenComparing(Node::name));
        Map<String, Integer> recordIndex = new HashMap<>();
        for (int i = 0; i < recordNodes.size(); i++) {
            recordIndex.put(recordNodes.get(i).name(), i);
        }
        StringBuilder sb = new StringBuilder("{\"layers\":[");
        for (int i = 0; i < layerNodes.size(); i++) {
            Node n = layerNodes.get(i);
            String below = parentBlob.get(n.name());
            int parent = below == null ? -1 : layerIndex.get(below);
            sb.append(i > 0 ? "," : "").append("{\"blob\":\"").append(blobs.get(n.name())).append('"');
            if (parent != 0) {
                sb.append(",\"parent\":").append(parent);
            }
            sb.append(",\"annotations\":{\"mediaType\":\"").append(LAYER).append("\",\"diffID\":\"")
                    .append(key("diff " + blobs.get(n.name()))).append("\",\"size\":1234,")
                    .append("\"createdAt\":\"2026-12-01T10:00:00.123456789Z\"");
            if (descriptionsInConfig && n.description() != null) {
                sb.append(",\"additional\":{\"").append(ExportComparison.DESCRIPTION).append("\":\"")
                        .append(n.description()).append("\"}");
            }
            sb.append("}}");
        }
        sb.append("],\"records\":[");
        for (int i = 0; i < recordNodes.size(); i++) {
            Node n = recordNodes.get(i);
            sb.append(i > 0 ? "," : "").append('{');
            if (n.result()) {
                sb.append("\"layers\":[{\"layer\":").append(layerIndex.get(blobs.get(n.name())))
                        .append(",\"createdAt\":\"2026-12-01T10:00:00Z\"}],");
            }
            sb.append("\"digest\":\"").append(n.digest()).append('"');
            if (!n.inputs().isEmpty()) {
                sb.append(",\"inputs\":[");
                for (int j = 0; j < n.inputs().size(); j++) {
                    sb.append(j > 0 ? "," : "").append('[');
                    List<Link> alternatives = new ArrayList<>(n.inputs().get(j));
                    alternatives.sort(Comparator.comparing(l -> recordIndex.get(l.from())));
                    for (int k = 0; k < alternatives.size(); k++) {
                        Link l = alternatives.get(k);
                        sb.append(k > 0 ? "," : "").append('{');
                        if (l.selector() != null) {
                            sb.append("\"selector\":\"").append(l.selector()).append("\",");
                        }
                        sb.append("\"link\":").append(recordIndex.get(l.from())).append('}');
                    }
                    sb.append(']');
                }
                sb.append(']');
            }
            sb.append('}');
        }
        return sb.append("]}").toString();
    }

    public CacheConfig config() {
        return PARSER.parseCacheConfig(json().getBytes(StandardCharsets.UTF_8));
    }

    /** The registry export around the cache config, in one of BuildKit's two shapes, as parsed. */
    BuildKitCache manifest(BuildKitCache.Shape shape) {
        String type = shape == BuildKitCache.Shape.INDEX ? MediaTypes.OCI_INDEX : MediaTypes.OCI_MANIFEST;
        return BuildKitCache.of(PARSER.parse(type, manifestJson(shape).getBytes(StandardCharsets.UTF_8)))
                .orElseThrow();
    }

    /**
     * The registry export around the cache config, in one of BuildKit's two shapes, as JSON: every
     * layer descriptor states {@code "size":1234} (the layer blobs are fake digests), the cache
     * config's descriptor its real digest and size.
     */
    public String manifestJson(BuildKitCache.Shape shape) {
        byte[] config = json().getBytes(StandardCharsets.UTF_8);
        String configDescriptor = "{\"mediaType\":\"" + MediaTypes.BUILDKIT_CACHE_CONFIG + "\",\"digest\":\""
                + Digest.sha256(config) + "\",\"size\":" + config.length + "}";
        Map<String, String> blobs = new LinkedHashMap<>();
        CacheConfig parsed = config();
        StringBuilder layers = new StringBuilder();
        for (CacheConfig.CacheRecord r : parsed.records()) {
            if (r.results().isEmpty()) {
                continue;
            }
            String blob = parsed.layers().get(r.results().get(0).layer()).blob().toString();
            Node n = nodes.values().stream().filter(x -> x.digest().equals(r.digest()) && x.result()).findFirst()
                    .orElseThrow();
            blobs.put(blob, n.description());
        }
        for (Map.Entry<String, String> b : blobs.entrySet()) {
            layers.append(layers.length() > 0 ? "," : "").append("{\"mediaType\":\"").append(LAYER)
                    .append("\",\"digest\":\"").append(b.getKey()).append("\",\"size\":1234,\"annotations\":{")
                    .append("\"buildkit/createdat\":\"2026-12-01T10:00:00Z\",\"containerd.io/uncompressed\":\"")
                    .append(key("diff " + b.getKey())).append('"');
            if (b.getValue() != null) {
                layers.append(",\"").append(ExportComparison.DESCRIPTION).append("\":\"").append(b.getValue())
                        .append('"');
            }
            layers.append("}}");
        }
        return shape == BuildKitCache.Shape.INDEX
                ? "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_INDEX + "\",\"manifests\":[" + layers
                        + (layers.length() > 0 ? "," : "") + configDescriptor + "]}"
                : "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"config\":"
                        + configDescriptor + ",\"layers\":[" + layers + "]}";
    }
}
