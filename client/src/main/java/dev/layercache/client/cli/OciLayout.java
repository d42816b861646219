package dev.layercache.client.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.client.Digest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * An OCI image layout directory ({@code oci-layout}, {@code index.json}, {@code blobs/ALG/HEX})
 * and the manifests in it: what push-layout and pull-layout read and write.
 */
final class OciLayout {
    static final String REF_NAME = "org.opencontainers.image.ref.name";
    static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
    static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
    static final String DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
    static final Set<String> MANIFEST_TYPES = Set.of(OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_LIST);
    private static final Pattern TAG = Pattern.compile("[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");
    static final ObjectMapper JSON = new ObjectMapper();

    /** A content descriptor: what a manifest or index.json says of a blob. */
    record Descriptor(String mediaType, Digest digest, long size, Map<String, String> annotations) {
        String refName() {
            return annotations.getOrDefault(REF_NAME, "");
        }

        boolean isManifest() {
            return MANIFEST_TYPES.contains(mediaType);
        }
    }

    private final Path dir;

    OciLayout(Path dir) {
        this.dir = dir;
    }

    Path dir() {
        return dir;
    }

    static boolean isTag(String s) {
        return TAG.matcher(s).matches();
    }

    Path blob(Digest d) {
        return dir.resolve("blobs").resolve(d.algorithm().prefix()).resolve(d.hex());
    }

    /** Checks that the directory is a layout; returns index.json's descriptors. */
    List<Descriptor> readIndex() throws IOException {
        if (!Files.isRegularFile(dir.resolve("oci-layout"))) {
            throw new CliException(ExitCodes.INVALID, dir + " is not an OCI image layout (no oci-layout file)");
        }
        Path index = dir.resolve("index.json");
        if (!Files.isRegularFile(index)) {
            throw new CliException(ExitCodes.INVALID, dir + " is not an OCI image layout (no index.json)");
        }
        return descriptors(parse(Files.readAllBytes(index), "index.json").get("manifests"), "index.json");
    }

    static JsonNode parse(byte[] json, String what) {
        try {
            JsonNode node = JSON.readTree(json);
            if (node == null || !node.isObject()) {
                throw new CliException(ExitCodes.INVALID, what + " is not a JSON object");
            }
            return node;
        } catch (IOException e) {
            throw new CliException(ExitCodes.INVALID, what + " is not valid JSON: " + e.getMessage());
        }
    }

    static List<Descriptor> descriptors(JsonNode array, String what) {
        List<Descriptor> out = new ArrayList<>();
        if (array == null || array.isNull()) {
            return out;
        }
        if (!array.isArray()) {
            throw new CliException(ExitCodes.INVALID, what + ": descriptors are not an array");
        }
        for (JsonNode n : array) {
            out.add(descriptor(n, what));
        }
        return out;
    }

    static Descriptor descriptor(JsonNode n, String what) {
        if (n == null || !n.isObject() || !n.path("digest").isTextual() || !n.path("size").canConvertToLong()) {
            throw new CliException(ExitCodes.INVALID, what + ": a descriptor without digest or size");
        }
        Digest digest;
        try {
            digest = Digest.parse(n.get("digest").asText());
        } catch (IllegalArgumentException e) {
            throw new CliException(ExitCodes.INVALID, what + ": " + e.getMessage());
        }
        Map<String, String> annotations = new LinkedHashMap<>();
        n.path("annotations").properties().forEach(f -> annotations.put(f.getKey(), f.getValue().asText()));
        return new Descriptor(n.path("mediaType").asText(""), digest, n.get("size").asLong(), annotations);
    }

    /**
     * The children of a manifest: an index's manifests, an image manifest's config and layers.
     * {@code mediaType} is the descriptor's; the manifest's own field decides when it is empty.
     */
    static List<Descriptor> children(byte[] manifest, String mediaType, String what) {
        JsonNode root = parse(manifest, what);
        List<Descriptor> out = new ArrayList<>();
        if (root.has("manifests")) {
            out.addAll(descriptors(root.get("manifests"), what));
        }
        if (root.has("config")) {
            out.add(descriptor(root.get("config"), what));
        }
        if (root.has("layers")) {
            out.addAll(descriptors(root.get("layers"), what));
        }
        return out;
    }

    /** The media type of a manifest: the descriptor's, else its own field, else by shape. */
    static String manifestType(String descriptorType, byte[] manifest, String what) {
        if (descriptorType != null && !descriptorType.isEmpty()) {
            return descriptorType;
        }
        JsonNode root = parse(manifest, what);
        String own = root.path("mediaType").asText("");
        if (!own.isEmpty()) {
            return own;
        }
        return root.has("manifests") ? OCI_INDEX : OCI_MANIFEST;
    }

    /** Creates the layout's directory, oci-layout file and blob tree if missing. */
    void create() throws IOException {
        Files.createDirectories(dir.resolve("blobs").resolve("sha256"));
        Path layout = dir.resolve("oci-layout");
        if (!Files.exists(layout)) {
            writeAtomically(layout, "{\"imageLayoutVersion\": \"1.0.0\"}".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Writes a blob (a manifest) unless it is there. */
    void writeBlob(Digest digest, byte[] content) throws IOException {
        Path p = blob(digest);
        if (Files.isRegularFile(p) && Files.size(p) == content.length) {
            return;
        }
        Files.createDirectories(p.getParent());
        writeAtomically(p, content);
    }

    /**
     * Adds a descriptor to index.json: replaces the entry with the same ref name (or, without a
     * ref name, the same digest), keeps every other entry and field.
     */
    void addToIndex(Descriptor d) throws IOException {
        Path index = dir.resolve("index.json");
        ObjectNode root;
        if (Files.isRegularFile(index)) {
            root = (ObjectNode) parse(Files.readAllBytes(index), "index.json");
        } else {
            root = JSON.createObjectNode();
            root.put("schemaVersion", 2);
            root.put("mediaType", OCI_INDEX);
        }
        ArrayNode manifests = root.has("manifests") && root.get("manifests").isArray()
                ? (ArrayNode) root.get("manifests") : root.putArray("manifests");
        for (int i = manifests.size() - 1; i >= 0; i--) {
            JsonNode m = manifests.get(i);
            String ref = m.path("annotations").path(REF_NAME).asText("");
            boolean same = d.refName().isEmpty()
                    ? ref.isEmpty() && d.digest().toString().equals(m.path("digest").asText())
                    : d.refName().equals(ref);
            if (same) {
                manifests.remove(i);
            }
        }
        ObjectNode entry = manifests.addObject();
        entry.put("mediaType", d.mediaType());
        entry.put("digest", d.digest().toString());
        entry.put("size", d.size());
        if (!d.annotations().isEmpty()) {
            ObjectNode a = entry.putObject("annotations");
            d.annotations().forEach(a::put);
        }
        try {
            writeAtomically(index, JSON.writeValueAsBytes(root));
        } catch (JsonProcessingException e) {
            throw new IOException(e);
        }
    }

    static void writeAtomically(Path target, byte[] content) throws IOException {
        Path temp = target.resolveSibling("." + target.getFileName() + ".tmp");
        Files.write(temp, content);
        Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
