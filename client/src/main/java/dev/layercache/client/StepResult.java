package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Map;

/**
 * What a step produced when it ran: its layer files, in order, and attributes to store with them.
 *
 * @param layers the layer files
 * @param attributes small string attributes (for example the step's image configuration fragment)
 */
public record StepResult(List<LayerFile> layers, Map<String, String> attributes) {

    /** Validates and copies the fields. */
    public StepResult {
        layers = List.copyOf(requireNonNull(layers, "layers"));
        attributes = Map.copyOf(requireNonNull(attributes, "attributes"));
    }

    /** Layers without attributes. */
    public static StepResult of(List<LayerFile> layers) {
        return new StepResult(layers, Map.of());
    }
}
