package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A step's cached result: the layers it produced, in order, and small string attributes (for
 * example the image configuration fragment of the step), stored under the step's key.
 *
 * @param key the cache key
 * @param layers the layers, in order
 * @param attributes free-form attributes
 * @param step the identity of the step that produced it, when the builder gave one
 * @param createdAt when the server stored it (empty in an entry not yet published)
 */
public record CacheEntry(CacheKey key, List<Layer> layers, Map<String, String> attributes, Optional<Step> step,
                         Optional<Instant> createdAt) {

    /** Validates and copies the fields. */
    public CacheEntry {
        requireNonNull(key, "key");
        layers = List.copyOf(requireNonNull(layers, "layers"));
        attributes = Collections.unmodifiableMap(new LinkedHashMap<>(requireNonNull(attributes, "attributes")));
        requireNonNull(step, "step");
        requireNonNull(createdAt, "createdAt");
    }

    /** A builder of an entry to publish under {@code key}. */
    public static Builder builder(CacheKey key) {
        return new Builder(key);
    }

    /** A builder of an entry for {@code step}: its key, with the step's identity. */
    public static Builder builder(Step step) {
        requireNonNull(step, "step");
        return new Builder(step.key()).step(step);
    }

    /** The sum of the layer sizes. */
    public long totalSize() {
        return layers.stream().mapToLong(Layer::size).sum();
    }

    /** Builds a {@link CacheEntry} to publish. */
    public static final class Builder {
        private final CacheKey key;
        private final List<Layer> layers = new ArrayList<>();
        private final Map<String, String> attributes = new LinkedHashMap<>();
        private Optional<Step> step = Optional.empty();

        private Builder(CacheKey key) {
            this.key = requireNonNull(key, "key");
        }

        /** Appends a layer. */
        public Builder layer(Layer layer) {
            layers.add(requireNonNull(layer, "layer"));
            return this;
        }

        /** Appends layers, in order. */
        public Builder layers(List<Layer> layers) {
            requireNonNull(layers, "layers").forEach(this::layer);
            return this;
        }

        /** Sets an attribute. */
        public Builder attribute(String name, String value) {
            attributes.put(requireNonNull(name, "name"), requireNonNull(value, "value"));
            return this;
        }

        /** Sets attributes. */
        public Builder attributes(Map<String, String> attributes) {
            requireNonNull(attributes, "attributes").forEach(this::attribute);
            return this;
        }

        /** The identity of the step that produced the entry, so that later misses can be explained. */
        public Builder step(Step step) {
            this.step = Optional.of(requireNonNull(step, "step"));
            return this;
        }

        /** The entry. */
        public CacheEntry build() {
            return new CacheEntry(key, layers, attributes, step, Optional.empty());
        }
    }
}
