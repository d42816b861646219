package dev.layercache.server.buildkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.server.builds.BuildKitExport;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.manifest.BuildKitCache;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.Registry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A standalone BuildKit's registry-cache export ({@code --cache-to type=registry}) made of real
 * bytes, and pushed the way BuildKit's pusher pushes it (containerd's {@code pusher.go}, see
 * {@link BuildKitRegistryCacheTest}). It starts from a {@link BuildKitExport}, whose cache config
 * and manifest name fake layer digests: each fake layer gets bytes of its own (the same bytes
 * for the same fake digest, so that an unchanged step pushes the same blob again), and its digest
 * and size replace the fake ones in the cache config and the manifest; the cache config's
 * descriptor is then written for the rewritten config.
 *
 * <p>What this leaves as BuildKit would not write it: BuildKit sorts the layer table by blob
 * digest, and the rewritten table keeps the order of the fake digests. The server reads the
 * table through its indexes and never by its order.
 */
public final class RealExport {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LAYER_DESCRIPTOR = Pattern.compile("\"digest\":\"(sha256:[0-9a-f]{64})\",\"size\":1234");

    final BuildKitCache.Shape shape;
    /** The layer blobs, by digest, in the manifest's order. */
    final Map<String, byte[]> layers;
    final byte[] config;
    private final String manifest;

    private RealExport(BuildKitCache.Shape shape, Map<String, byte[]> layers, byte[] config, String manifest) {
        this.shape = shape;
        this.layers = layers;
        this.config = config;
        this.manifest = manifest;
    }

    /** The export of {@code export} in {@code shape}, with real layer blobs. */
    public static RealExport of(BuildKitExport export, BuildKitCache.Shape shape) {
        String config = export.json();
        String manifest = export.manifestJson(shape);
        String configDescriptor = descriptor(config.getBytes(StandardCharsets.UTF_8));
        Map<String, byte[]> layers = new LinkedHashMap<>();
        Matcher m = LAYER_DESCRIPTOR.matcher(manifest);
        StringBuilder rewritten = new StringBuilder();
        while (m.find()) {
            String fake = m.group(1);
            byte[] content = content(fake);
            String real = Registry.sha256(content);
            layers.put(real, content);
            config = config.replace(fake, real);
            m.appendReplacement(rewritten, Matcher.quoteReplacement(
                    "\"digest\":\"" + real + "\",\"size\":" + content.length));
        }
        m.appendTail(rewritten);
        for (Map.Entry<String, byte[]> l : layers.entrySet()) {
            assertTrue(config.contains(l.getKey()), "every layer of the manifest is in the cache config");
        }
        assertEquals(layers.size(), export.config().layers().size(), "the manifest lists every layer");
        return new RealExport(shape, layers, config.getBytes(StandardCharsets.UTF_8), rewritten.toString())
                .replacingConfigDescriptor(configDescriptor);
    }

    /** The same layers around another cache config blob (a hostile one, a padded one). */
    RealExport withConfig(byte[] other) {
        return new RealExport(shape, layers, other, manifest).replacingConfigDescriptor(descriptor(config));
    }

    /** The cache config with every {@code from} replaced by {@code to} (the manifest describes the new config). */
    RealExport replacingInConfig(String from, String to) {
        String c = new String(config, StandardCharsets.UTF_8);
        assertTrue(c.contains(from), from + " is in the cache config");
        return new RealExport(shape, layers, c.replace(from, to).getBytes(StandardCharsets.UTF_8), manifest)
                .replacingConfigDescriptor(descriptor(config));
    }

    /** The manifest with every {@code from} replaced by {@code to}. */
    RealExport replacingInManifest(String from, String to) {
        assertTrue(manifest.contains(from), from + " is in the manifest");
        return new RealExport(shape, layers, config, manifest.replace(from, to));
    }

    /**
     * The export whose manifest does not list {@code layer}, though its cache config still names
     * it: pushed without it, the repository does not hold it.
     */
    RealExport droppingLayer(String layer) {
        try {
            ObjectNode root = (ObjectNode) JSON.readTree(manifest);
            ArrayNode list = (ArrayNode) root.path(shape == BuildKitCache.Shape.INDEX ? "manifests" : "layers");
            ArrayNode kept = list.arrayNode();
            list.forEach(d -> {
                if (!layer.equals(d.path("digest").asText())) {
                    kept.add(d);
                }
            });
            assertEquals(list.size() - 1, kept.size(), layer + " is listed once");
            root.set(shape == BuildKitCache.Shape.INDEX ? "manifests" : "layers", kept);
            Map<String, byte[]> rest = new LinkedHashMap<>(layers);
            rest.remove(layer);
            return new RealExport(shape, rest, config, JSON.writeValueAsString(root));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The {@code containerd.io/uncompressed} annotation of a layer's descriptor: its diff ID. */
    String diffId(String layer) {
        try {
            for (JsonNode d : JSON.readTree(manifest).path(shape == BuildKitCache.Shape.INDEX ? "manifests" : "layers")) {
                if (layer.equals(d.path("digest").asText())) {
                    return d.path("annotations").path("containerd.io/uncompressed").asText();
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        throw new AssertionError(layer + " is not in the manifest");
    }

    /** The manifest whose cache config descriptor, {@code old}, is replaced by this config's. */
    private RealExport replacingConfigDescriptor(String old) {
        assertTrue(manifest.contains(old), "the manifest describes its cache config");
        return new RealExport(shape, layers, config, manifest.replace(old, descriptor(config)));
    }

    private static String descriptor(byte[] config) {
        return "\"digest\":\"" + Registry.sha256(config) + "\",\"size\":" + config.length;
    }

    String mediaType() {
        return shape == BuildKitCache.Shape.INDEX ? MediaTypes.OCI_INDEX : MediaTypes.OCI_MANIFEST;
    }

    byte[] manifest() {
        return manifest.getBytes(StandardCharsets.UTF_8);
    }

    public String manifestDigest() {
        return Registry.sha256(manifest());
    }

    String configDigest() {
        return Registry.sha256(config);
    }

    List<String> layerDigests() {
        return new ArrayList<>(layers.keySet());
    }

    /** Pushes every blob and then the manifest under {@code tag}: the manifest PUT's answer. */
    public Http.Reply push(int port, String repo, String tag) throws IOException {
        return push(port, repo, tag, Set.of(), List.of());
    }

    /**
     * Pushes as BuildKit's pusher does: each blob (layers, then the cache config) is {@code HEAD}ed
     * and, when missing, uploaded in one {@code POST} and one {@code PUT ?digest=}; then the
     * manifest is {@code HEAD}ed by tag and {@code PUT}.
     *
     * @param skip    blobs not to push (a cache config naming layers the repository lacks)
     * @param headers more header lines on every request (credentials)
     */
    Http.Reply push(int port, String repo, String tag, Set<String> skip, List<String> headers) throws IOException {
        Map<String, byte[]> blobs = new LinkedHashMap<>(layers);
        blobs.put(configDigest(), config);
        for (Map.Entry<String, byte[]> b : blobs.entrySet()) {
            if (skip.contains(b.getKey())) {
                continue;
            }
            List<String> accept = with(headers, "Accept: application/octet-stream, */*");
            Http.Reply head = Http.exchange(port, "HEAD", "/v2/" + repo + "/blobs/" + b.getKey(), accept, null);
            if (head.status() == 200) {
                continue;
            }
            assertEquals(404, head.status(), "HEAD " + b.getKey());
            Http.Reply post = Http.exchange(port, "POST", "/v2/" + repo + "/blobs/uploads/", headers, null);
            assertEquals(202, post.status(), post.text());
            Http.Reply put = Http.exchange(port, "PUT", post.header("Location") + "?digest=" + b.getKey(),
                    with(headers, "Content-Type: application/octet-stream"), b.getValue());
            assertEquals(201, put.status(), put.text());
        }
        Http.exchange(port, "HEAD", "/v2/" + repo + "/manifests/" + tag, with(headers, "Accept: " + mediaType()), null);
        return Http.exchange(port, "PUT", "/v2/" + repo + "/manifests/" + tag,
                with(headers, "Content-Type: " + mediaType()), manifest());
    }

    private static List<String> with(List<String> headers, String line) {
        List<String> out = new ArrayList<>(headers);
        out.add(line);
        return out;
    }

    /** A layer's bytes: 1 to 5 KB, the same for the same fake digest. */
    private static byte[] content(String fake) {
        Random r = new Random(fake.hashCode());
        byte[] out = new byte[1000 + r.nextInt(4000)];
        r.nextBytes(out);
        return out;
    }
}
