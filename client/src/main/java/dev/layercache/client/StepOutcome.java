package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.util.List;

/**
 * What {@link BuildCache#run} did for one step: reused the cache (a hit) or ran the step and
 * published its result (a miss).
 *
 * @param step the step
 * @param lookup the lookup's result: on a miss, why it missed
 * @param entry the entry now in the cache for the step's key (found or published)
 * @param layerFiles the step's layers as local files, in order: fetched on a hit (empty when the
 *     build cache does not fetch), the step's own files on a miss
 */
public record StepOutcome(Step step, LookupResult lookup, CacheEntry entry, List<Path> layerFiles) {

    /** Validates and copies the fields. */
    public StepOutcome {
        requireNonNull(step, "step");
        requireNonNull(lookup, "lookup");
        requireNonNull(entry, "entry");
        layerFiles = List.copyOf(requireNonNull(layerFiles, "layerFiles"));
    }

    /** Whether the step came from the cache. */
    public boolean isHit() {
        return lookup.isHit();
    }
}
