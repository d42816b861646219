package dev.layercache.server.builds;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.manifest.CacheConfig;
import dev.layercache.server.core.manifest.ImageConfig;
import dev.layercache.server.core.manifest.ImageManifest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;

/**
 * An image pushed by dockerd's BuildKit with an inline cache ({@code BUILDKIT_INLINE_CACHE=1}),
 * made from a {@link BuildKitExport} the way BuildKit makes it from its cache chains:
 *
 * <ul>
 *   <li>{@code cache/remotecache/inline/inline.go} ({@code ExportForLayers}) keeps the records,
 *       rewrites each result's {@code layer} from an index into the sorted layer table to the
 *       layer's depth in its chain ({@code getSortedLayerIndex}: a base layer is 0, a layer one more
 *       than its parent), drops the layer table and marshals the records array alone;</li>
 *   <li>{@code exporter/containerimage/writer.go} ({@code patchImageConfig}) puts those bytes, a Go
 *       {@code []byte} and so base64 in a JSON string, under {@value ImageConfig#INLINE_CACHE}
 *       beside {@code rootfs.diff_ids} and {@code history};</li>
 *   <li>dockerd pushes a Docker v2 schema 2 manifest whose layers are the image's chain, base
 *       first, with no annotations: the steps' names are only in the history, as the Dockerfile
 *       frontend writes them ({@code COPY app.txt /app/ # buildkit}), with empty-layer entries
 *       (the base image's {@code CMD}, an {@code ENV}) between them.</li>
 * </ul>
 */
final class InlineCacheImage {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    final byte[] config;
    final ImageManifest manifest;

    /**
     * @param export    the build's cache chains (its layers form one chain: a linear Dockerfile)
     * @param createdBy the history's {@code created_by} of each layer, base first
     */
    InlineCacheImage(BuildKitExport export, List<String> createdBy) {
        JsonNode cache = tree(export.json().getBytes(StandardCharsets.UTF_8));
        List<String> blobs = new ArrayList<>();
        List<String> diffIds = new ArrayList<>();
        JsonNode layers = cache.path("layers");
        int[] depth = new int[layers.size()];
        int top = -1;
        for (int i = 0; i < layers.size(); i++) {
            depth[i] = depthOf(layers, i);
            top = top < 0 || depth[i] > depth[top] ? i : top;
        }
        for (int l = top; l != -1; l = layers.get(l).path("parent").asInt(0)) {
            blobs.add(layers.get(l).path("blob").asText());
            diffIds.add(layers.get(l).path("annotations").path("diffID").asText());
        }
        Collections.reverse(blobs);
        Collections.reverse(diffIds);
        if (blobs.size() != createdBy.size()) {
            throw new IllegalArgumentException(blobs.size() + " layers, " + createdBy.size() + " history entries");
        }
        ArrayNode records = (ArrayNode) cache.path("records");
        for (JsonNode r : records) {
            for (JsonNode result : r.path("layers")) {
                ((ObjectNode) result).put("layer", depth[result.path("layer").asInt()]);
            }
        }

        ObjectNode image = JSON.createObjectNode();
        image.put("architecture", "amd64");
        image.putObject("config").putArray("Cmd").add("sh");
        image.put("created", "2026-12-01T10:00:05Z");
        ArrayNode history = image.putArray("history");
        for (int i = 0; i < createdBy.size(); i++) {
            ObjectNode h = history.addObject().put("created", "2026-12-01T10:00:0" + i + "Z")
                    .put("created_by", createdBy.get(i));
            if (i > 0) {
                h.put("comment", "buildkit.dockerfile.v0");
            }
            if (i == 0) {
                history.addObject().put("created", "2024-09-26T21:31:42Z")
                        .put("created_by", "/bin/sh -c #(nop)  CMD [\"sh\"]").put("empty_layer", true);
                history.addObject().put("created", "2026-12-01T10:00:00Z").put("created_by", "ENV APP=/app")
                        .put("comment", "buildkit.dockerfile.v0").put("empty_layer", true);
            }
        }
        // Go's encoding/json writes a []byte as standard, padded base64 on one line.
        image.put(ImageConfig.INLINE_CACHE, Base64.getEncoder().encodeToString(write(records)));
        image.put("os", "linux");
        ObjectNode rootfs = image.putObject("rootfs");
        rootfs.put("type", "layers");
        diffIds.forEach(rootfs.putArray("diff_ids")::add);
        this.config = write(image);

        StringBuilder m = new StringBuilder("{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.DOCKER_MANIFEST
                + "\",\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":"
                + config.length + ",\"digest\":\"" + dev.layercache.server.core.Digest.sha256(config) + "\"},\"layers\":[");
        for (int i = 0; i < blobs.size(); i++) {
            m.append(i > 0 ? "," : "").append("{\"mediaType\":\"").append(LAYER).append("\",\"size\":1234,\"digest\":\"")
                    .append(blobs.get(i)).append("\"}");
        }
        m.append("]}");
        this.manifest = (ImageManifest) BuildKitExport.PARSER.parse(MediaTypes.DOCKER_MANIFEST,
                m.toString().getBytes(StandardCharsets.UTF_8));
    }

    /** The inline cache as the server reads it. */
    CacheConfig cache() {
        return BuildKitExport.PARSER.parseInlineCache(config, manifest).orElseThrow();
    }

    /** The base64 text under the key, decoded: what BuildKit's exporter marshalled. */
    String records() {
        return new String(Base64.getDecoder().decode(tree(config).path(ImageConfig.INLINE_CACHE).asText()),
                StandardCharsets.UTF_8);
    }

    private static int depthOf(JsonNode layers, int i) {
        int d = 0;
        for (int p = layers.get(i).path("parent").asInt(0); p != -1; p = layers.get(p).path("parent").asInt(0)) {
            d++;
        }
        return d;
    }

    private static JsonNode tree(byte[] json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] write(JsonNode node) {
        try {
            return JSON.writeValueAsBytes(node);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
