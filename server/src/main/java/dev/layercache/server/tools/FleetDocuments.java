package dev.layercache.server.tools;

import dev.layercache.server.core.MediaTypes;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * The OCI documents the simulated builders push, in the shapes buildah and BuildKit give them,
 * written as strings (the tool pushes bytes; the node parses them as a client's would be).
 */
final class FleetDocuments {
    private static final String LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";
    private static final String CONFIG_TYPE = "application/vnd.oci.image.config.v1+json";

    private FleetDocuments() {
    }

    /** buildah's image config for a step: the step key as a label, a diff id and a history entry per layer. */
    static byte[] imageConfig(List<Layer> layers) {
        StringBuilder sb = new StringBuilder("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{")
                .append("\"io.buildah.step\":\"").append(layers.get(layers.size() - 1).key())
                .append("\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
        for (int i = 0; i < layers.size(); i++) {
            sb.append(i > 0 ? "," : "").append('"').append(layers.get(i).digest()).append('"');
        }
        sb.append("]},\"history\":[");
        for (int i = 0; i < layers.size(); i++) {
            sb.append(i > 0 ? "," : "").append("{\"created_by\":\"/bin/sh -c step ").append(i).append("\"}");
        }
        return utf8(sb.append("]}").toString());
    }

    /** An OCI image manifest naming the config and every layer so far. */
    static byte[] imageManifest(String configDigest, int configSize, List<Layer> layers) {
        StringBuilder sb = new StringBuilder("{\"schemaVersion\":2,\"mediaType\":\"").append(MediaTypes.OCI_MANIFEST)
                .append("\",\"config\":{\"mediaType\":\"").append(CONFIG_TYPE).append("\",\"digest\":\"")
                .append(configDigest).append("\",\"size\":").append(configSize).append("},\"layers\":[");
        for (int i = 0; i < layers.size(); i++) {
            sb.append(i > 0 ? "," : "").append(descriptor(LAYER_TYPE, layers.get(i).digest(),
                    layers.get(i).content().length));
        }
        return utf8(sb.append("]}").toString());
    }

    /** A cache config in BuildKit's shape: each record (a step key) with the layer chain that holds it. */
    static byte[] cacheConfig(List<Layer> layers) {
        StringBuilder sb = new StringBuilder("{\"layers\":[");
        for (int i = 0; i < layers.size(); i++) {
            sb.append(i > 0 ? "," : "").append("{\"blob\":\"").append(layers.get(i).digest()).append('"')
                    // Go's omitempty: a base layer says -1, a parent of 0 is left out.
                    .append(i == 0 ? ",\"parent\":-1" : i == 1 ? "" : ",\"parent\":" + (i - 1)).append('}');
        }
        sb.append("],\"records\":[");
        for (int i = 0; i < layers.size(); i++) {
            sb.append(i > 0 ? "," : "").append("{\"digest\":\"sha256:").append(layers.get(i).key())
                    .append("\",\"layers\":[{\"layer\":").append(i).append("}]")
                    .append(i > 0 ? ",\"inputs\":[[{\"link\":" + (i - 1) + "}]]" : "").append('}');
        }
        return utf8(sb.append("]}").toString());
    }

    /** BuildKit's registry export: an OCI index of every layer and, last, the cache config. */
    static byte[] cacheIndex(List<Layer> layers, String configDigest, int configSize) {
        StringBuilder sb = new StringBuilder("{\"schemaVersion\":2,\"mediaType\":\"").append(MediaTypes.OCI_INDEX)
                .append("\",\"manifests\":[");
        for (Layer l : layers) {
            sb.append(descriptor(LAYER_TYPE, l.digest(), l.content().length)).append(',');
        }
        sb.append(descriptor(MediaTypes.BUILDKIT_CACHE_CONFIG, configDigest, configSize));
        return utf8(sb.append("]}").toString());
    }

    private static String descriptor(String mediaType, String digest, long size) {
        return "{\"mediaType\":\"" + mediaType + "\",\"digest\":\"" + digest + "\",\"size\":" + size + "}";
    }

    /** The {@code sha256:} digest of some bytes. */
    static String sha256(byte[] bytes) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
