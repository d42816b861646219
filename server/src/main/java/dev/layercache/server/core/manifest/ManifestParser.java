package dev.layercache.server.core.manifest;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.RegistryException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The one place where manifest JSON, and the JSON blobs a manifest points at (an image config,
 * BuildKit's cache config), is read into typed records.
 *
 * <p>Parsing never changes what is stored: the registry keeps the bytes the client sent, and these
 * records are views of them. The {@link ObjectMapper} given carries the server's limits on JSON
 * (nesting depth, string length), so a hostile document is refused before it costs stack or memory;
 * the size of a manifest is bounded before it gets here.
 *
 * <p>Every failure is a {@link RegistryException} with {@link ErrorCode#MANIFEST_INVALID} whose
 * message says what is wrong and where ({@code layers[] has an invalid digest}). A descriptor is
 * checked strictly (an object with a valid digest and, if stated, a non-negative integer size);
 * the rest is read leniently, since registries accept and return such documents as they are.
 */
public final class ManifestParser {
    /**
     * How a pushed manifest is read: no key twice (parsers disagree on which one counts, so such a
     * document means one thing here and another to a client) and nothing after the object.
     */
    private final ObjectReader pushed;
    /** How a stored manifest or a blob is read: it was checked when it came, or is not ours to refuse. */
    private final ObjectReader stored;

    public ManifestParser(ObjectMapper json) {
        this.stored = json.reader();
        this.pushed = json.reader(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
                .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    }

    /**
     * A manifest as pushed, checked as a registry checks it before storing it: a JSON object whose
     * media type is well formed and agrees with the Content-Type, schemaVersion 2 for the OCI and
     * Docker v2 types, well-formed descriptors, and never both an index's {@code manifests} and
     * an image's config, layers or blobs.
     *
     * @param contentType the request's Content-Type (parameters ignored), or null when it has none
     */
    public Manifest parse(String contentType, byte[] content) {
        JsonNode root = tree(pushed, content);
        String mediaType = mediaTypeOf(contentType, root);
        checkSchemaVersion(root, mediaType);
        return build(root, mediaType, true);
    }

    /**
     * A manifest as stored, with the media type it was stored with. It was checked when pushed, so
     * only what cannot be read fails here (a manifest stored by an older, more lenient version).
     */
    public Manifest parseStored(String mediaType, byte[] content) {
        return build(tree(stored, content), mediaType, false);
    }

    /**
     * An image's config blob, or empty when it is not JSON or holds more JSON values than a cache
     * config may (its layers can still be analysed, only not named after their instructions).
     */
    public Optional<ImageConfig> parseImageConfig(byte[] content) {
        JsonNode root;
        try {
            CacheConfigReader.boundValues(stored.getFactory(), content, "image config");
            root = stored.readTree(content);
        } catch (IOException | RegistryException e) {
            return Optional.empty();
        }
        List<ImageConfig.History> history = new ArrayList<>();
        if (root != null) {
            for (JsonNode h : root.path("history")) {
                history.add(new ImageConfig.History(h.path("created_by").asText(""), h.path("comment").asText(""),
                        h.path("empty_layer").asBoolean(false)));
            }
        }
        return Optional.of(new ImageConfig(history));
    }

    /**
     * BuildKit's inline cache in an image config (key {@value ImageConfig#INLINE_CACHE}) as a cache
     * config whose layers are the manifest's, named from the config's history where their
     * descriptors do not name them: see {@link InlineCacheReader} for the format.
     *
     * @param imageConfig the config blob of {@code manifest}
     * @param manifest    the image manifest whose config it is
     * @return the cache, or empty when the config carries none
     * @throws RegistryException ({@link ErrorCode#MANIFEST_INVALID}) when the config is not a JSON
     *         object, or the cache cannot be read (not base64, not JSON, an index out of range, a
     *         loop, too many records, diff IDs that do not match the manifest's layers)
     */
    public Optional<CacheConfig> parseInlineCache(byte[] imageConfig, ImageManifest manifest) {
        return InlineCacheReader.read(stored, imageConfig, manifest);
    }

    /** A BuildKit cache config blob ({@value MediaTypes#BUILDKIT_CACHE_CONFIG}); see {@link CacheConfig}. */
    public CacheConfig parseCacheConfig(byte[] content) {
        CacheConfigReader.boundValues(stored.getFactory(), content, "cache config");
        JsonNode root;
        try {
            root = stored.readTree(content);
        } catch (JsonProcessingException e) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID,
                    "cache config is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, "cache config is not valid JSON");
        }
        return CacheConfigReader.read(root);
    }

    // --- manifests ------------------------------------------------------------------------------

    private static JsonNode tree(ObjectReader reader, byte[] content) {
        JsonNode root;
        try {
            root = reader.readTree(content);
        } catch (JsonProcessingException e) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID,
                    "manifest is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, "manifest is not valid JSON");
        }
        if (root == null || !root.isObject()) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, "manifest must be a JSON object");
        }
        return root;
    }

    /**
     * The typed manifest. Fields are read in a fixed order (subject, config, layers, blobs,
     * manifests) so that a document with several faults is always refused for the same one.
     */
    private static Manifest build(JsonNode root, String mediaType, boolean pushed) {
        Descriptor subject = descriptor(root.get("subject"), "subject");
        Descriptor config = descriptor(root.get("config"), "config");
        List<Descriptor> layers = descriptors(root, "layers");
        List<Descriptor> blobs = descriptors(root, "blobs");
        List<Descriptor> manifests = descriptors(root, "manifests");
        String artifactType = text(root, "artifactType");
        Map<String, String> annotations = strings(root.get("annotations"));
        if (!root.path("manifests").isArray()) {
            return new ImageManifest(mediaType, config, layers, blobs, subject, artifactType, annotations);
        }
        if (pushed && (config != null || !layers.isEmpty() || !blobs.isEmpty())) {
            // A client could read it either way: as an index, or as an image whose blobs the
            // registry would then have to hold. Neither OCI nor Docker defines such a document.
            throw new RegistryException(ErrorCode.MANIFEST_INVALID,
                    "a manifest with a manifests array is an index: it cannot also name a config, layers or blobs");
        }
        return new ImageIndex(mediaType, manifests, subject, artifactType, annotations);
    }

    private static String mediaTypeOf(String contentType, JsonNode root) {
        String type = mediaTypeAsPushed(contentType, root);
        if (!MediaTypes.isWellFormed(type)) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, "invalid media type: "
                    + (type.length() > 80 ? type.substring(0, 77) + "..." : type).replaceAll("\\p{Cntrl}", "?"));
        }
        return type;
    }

    private static String mediaTypeAsPushed(String contentType, JsonNode root) {
        String declared = text(root, "mediaType");
        String header = contentType == null ? null : contentType.split(";", 2)[0].trim();
        if (header != null && !header.isEmpty()) {
            if (declared != null && !declared.equals(header)) {
                throw new RegistryException(ErrorCode.MANIFEST_INVALID,
                        "mediaType " + declared + " does not match Content-Type " + header);
            }
            return header;
        }
        if (declared != null) {
            return declared;
        }
        if (root.path("schemaVersion").asInt() == 1) {
            return root.has("signatures") ? MediaTypes.DOCKER_MANIFEST_V1_SIGNED : MediaTypes.DOCKER_MANIFEST_V1;
        }
        return root.has("manifests") ? MediaTypes.OCI_INDEX : MediaTypes.OCI_MANIFEST;
    }

    /** An OCI or Docker v2 manifest or index says schemaVersion 2; one that says anything else is not one. */
    private static void checkSchemaVersion(JsonNode root, String mediaType) {
        JsonNode version = root.get("schemaVersion");
        boolean v2 = mediaType.equals(MediaTypes.OCI_MANIFEST) || mediaType.equals(MediaTypes.OCI_INDEX)
                || mediaType.equals(MediaTypes.DOCKER_MANIFEST) || mediaType.equals(MediaTypes.DOCKER_MANIFEST_LIST);
        if (v2 && version != null && !(version.isIntegralNumber() && version.asLong() == 2)) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, "schemaVersion must be 2 for " + mediaType);
        }
    }

    /** The descriptors of an array field; empty when the field is absent or null. Null elements are skipped. */
    private static List<Descriptor> descriptors(JsonNode root, String field) {
        JsonNode array = root.get(field);
        if (array == null || array.isNull()) {
            return List.of();
        }
        if (!array.isArray()) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, field + " must be an array");
        }
        List<Descriptor> out = new ArrayList<>(array.size());
        for (JsonNode element : array) {
            Descriptor d = descriptor(element, field + "[]");
            if (d != null) {
                out.add(d);
            }
        }
        return out;
    }

    /** The descriptor in {@code node}, null when the field is absent or null. */
    private static Descriptor descriptor(JsonNode node, String where) {
        if (node == null || node.isNull()) {
            return null;
        }
        JsonNode digest = node.get("digest");
        if (!node.isObject() || digest == null || !digest.isTextual()) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, where + " must be a descriptor with a digest");
        }
        if (!Digest.isValid(digest.asText())) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, where + " has an invalid digest");
        }
        JsonNode size = node.get("size");
        if (size != null && (!size.canConvertToLong() || size.asLong() < 0)) {
            throw new RegistryException(ErrorCode.MANIFEST_INVALID, where + " has an invalid size");
        }
        return new Descriptor(text(node, "mediaType"), Digest.parse(digest.asText()),
                size == null ? Descriptor.UNSTATED : size.asLong(), textList(node.get("urls")),
                strings(node.get("annotations")), platform(node.get("platform")), text(node, "artifactType"));
    }

    /** A platform, null when absent; one that is not an object is a platform of unknown parts. */
    private static Platform platform(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        return new Platform(text(node, "os"), text(node, "architecture"), text(node, "variant"),
                text(node, "os.version"), textList(node.get("os.features")));
    }

    // --- lenient reading of optional fields -----------------------------------------------------

    /** A string field, null when absent or not a string. */
    static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v != null && v.isTextual() ? v.asText() : null;
    }

    /** The string values of an object in order (others left out); empty when it is not an object. */
    static Map<String, String> strings(JsonNode node) {
        Map<String, String> out = new LinkedHashMap<>();
        if (node != null && node.isObject()) {
            node.fields().forEachRemaining(e -> {
                if (e.getValue().isTextual()) {
                    out.put(e.getKey(), e.getValue().asText());
                }
            });
        }
        return out;
    }

    /** The strings of an array (others left out); empty when it is not an array. */
    private static List<String> textList(JsonNode node) {
        List<String> out = new ArrayList<>();
        if (node != null && node.isArray()) {
            for (JsonNode e : node) {
                if (e.isTextual()) {
                    out.add(e.asText());
                }
            }
        }
        return out;
    }
}
