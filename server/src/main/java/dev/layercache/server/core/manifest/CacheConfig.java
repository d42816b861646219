package dev.layercache.server.core.manifest;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.MediaTypes;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * BuildKit's cache config ({@value MediaTypes#BUILDKIT_CACHE_CONFIG}, format v0), the blob that
 * makes a set of layers a build cache (see {@link BuildKitCache} for the manifests that carry it).
 * Read with {@link ManifestParser#parseCacheConfig}; field names in the JSON follow BuildKit's
 * {@code cache/remotecache/v1} package and are given with each component below.
 *
 * <p>It is two tables that refer to each other by position:
 * <ul>
 *   <li>{@link #layers()}: layer blobs, each with the index of the layer it is stacked on, so that
 *       every layer is the top of a chain from a base layer ({@link #chain(int)});</li>
 *   <li>{@link #records()}: the cache records, one per build step (an LLB vertex output) whose
 *       result the cache holds or depends on. A record is identified by its cache key
 *       ({@link CacheRecord#digest()}); its {@link CacheRecord#inputs()} link it to the records of
 *       the steps it took its inputs from, and its {@link CacheRecord#results()} name the layer
 *       chain the step produced. A record without results is a step whose output was not exported
 *       (its key still matters: later steps are keyed on it); a record without inputs is a root
 *       (a source: an image, a local context, a git checkout).</li>
 * </ul>
 * A build that finds a step's key among the records can reuse the step's result instead of
 * running it; that is what a registry cache is for.
 *
 * <p>Everything positional is checked when parsed: every parent, result and chain index names a
 * layer, every input link names a record, and neither layers nor records form a loop, so a
 * consumer can follow them without guards. Times are null when BuildKit wrote none (or Go's zero
 * time, {@code 0001-01-01T00:00:00Z}, which means the same).
 *
 * @param layers  {@code layers}: the layer table, in file order
 * @param records {@code records}: the record table, in file order
 */
public record CacheConfig(List<CacheLayer> layers, List<CacheRecord> records) {

    /**
     * The annotation with which BuildKit gives a layer the step that made it, such as
     * {@code [2/4] COPY app.txt /app/}: in a layer's {@link LayerAnnotations#additional()}, or on
     * the layer's descriptor in a manifest.
     */
    public static final String DESCRIPTION = "buildkit/description";

    public CacheConfig {
        layers = List.copyOf(layers);
        records = List.copyOf(records);
    }

    /**
     * One layer of the cache.
     *
     * @param blob        {@code blob}: the digest of the layer blob, one of the cache manifest's layers
     * @param parent      {@code parent}: the index of the layer this one is stacked on, or
     *                    {@link #NO_PARENT} for a base layer. BuildKit leaves the field out when it
     *                    is 0 (Go's {@code omitempty}), so a missing parent means layer 0.
     * @param annotations {@code annotations}: what BuildKit recorded of the layer, or null (older
     *                    BuildKit versions put these on the manifest's descriptors instead)
     */
    public record CacheLayer(Digest blob, int parent, LayerAnnotations annotations) {
        /** The {@link #parent} of a base layer. */
        public static final int NO_PARENT = -1;
    }

    /**
     * What BuildKit recorded of a layer when it exported it.
     *
     * @param mediaType  {@code mediaType}: the layer blob's media type, or null
     * @param diffId     {@code diffID}: the digest of the uncompressed layer tar, or null
     * @param size       {@code size}: the blob's size in bytes, or {@link Descriptor#UNSTATED}
     * @param createdAt  {@code createdAt}: when the layer was made, or null
     * @param additional {@code additional}: any other annotations, in file order (empty when none)
     */
    public record LayerAnnotations(String mediaType, Digest diffId, long size, Instant createdAt,
                                   Map<String, String> additional) {
        public LayerAnnotations {
            additional = Collections.unmodifiableMap(new LinkedHashMap<>(additional));
        }
    }

    /**
     * A cache record: one build step's output, by cache key.
     *
     * @param digest  {@code digest}: the step's cache key. Not a content digest (it is not the
     *                digest of any blob), so it is kept as text.
     * @param results {@code layers}: the layer chains the step produced, each by the index of its
     *                top layer (empty when the result was not exported)
     * @param chains  {@code chains}: results given as explicit lists of layers (BuildKit's merge
     *                and diff ops), empty when none
     * @param inputs  {@code inputs}: for each input of the step, in the step's input order, the
     *                records it may come from (an input is satisfied by any of them)
     */
    public record CacheRecord(String digest, List<CacheResult> results, List<ChainedResult> chains,
                              List<List<CacheInput>> inputs) {
        public CacheRecord {
            results = List.copyOf(results);
            chains = List.copyOf(chains);
            List<List<CacheInput>> copy = new ArrayList<>(inputs.size());
            for (List<CacheInput> input : inputs) {
                copy.add(List.copyOf(input));
            }
            inputs = List.copyOf(copy);
        }

        /** True for a step that takes no input from another record (a source). */
        public boolean isRoot() {
            return inputs.stream().allMatch(List::isEmpty);
        }
    }

    /**
     * A result of a record: the chain of layers ending at {@link #layer}.
     *
     * @param layer     {@code layer}: the index of the chain's top layer
     * @param createdAt {@code createdAt}: when the result was made, or null
     */
    public record CacheResult(int layer, Instant createdAt) {
    }

    /**
     * A result given as a list of layers rather than one chain.
     *
     * @param layers    {@code layers}: the indexes of the layers, bottom first
     * @param createdAt {@code createdAt}: when the result was made, or null
     */
    public record ChainedResult(List<Integer> layers, Instant createdAt) {
        public ChainedResult {
            layers = List.copyOf(layers);
        }
    }

    /**
     * A link from a record's input to the record it came from.
     *
     * @param selector {@code selector}: what of that record's output the input takes (a path, for
     *                 a step that copies part of another's result), or null for all of it
     * @param link     {@code link}: the index of the record the input comes from
     */
    public record CacheInput(String selector, int link) {
    }

    /** The chain of layers ending at layer {@code top}, base first. */
    public List<CacheLayer> chain(int top) {
        List<CacheLayer> out = new ArrayList<>();
        for (int i = top; i != CacheLayer.NO_PARENT; i = layers.get(i).parent()) {
            out.add(layers.get(i));
        }
        Collections.reverse(out);
        return out;
    }

    /** The distinct layer blobs the config names, in file order. */
    public Set<Digest> blobs() {
        Set<Digest> out = new LinkedHashSet<>();
        for (CacheLayer l : layers) {
            out.add(l.blob());
        }
        return out;
    }
}
