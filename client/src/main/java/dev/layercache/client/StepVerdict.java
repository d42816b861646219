package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.util.Optional;

/**
 * The verdict on one step of a build, from {@link LayerCacheClient#explainBuild}.
 *
 * @param key the step's key
 * @param stepId the step id (empty when the lookup carried none)
 * @param instruction the instruction of the lookup (empty when it carried no step identity)
 * @param hit whether the key was found
 * @param miss why it missed, when it did
 */
public record StepVerdict(CacheKey key, String stepId, String instruction, boolean hit,
                          Optional<MissExplanation> miss) {

    /** Validates the fields. */
    public StepVerdict {
        requireNonNull(key, "key");
        requireNonNull(stepId, "stepId");
        requireNonNull(instruction, "instruction");
        requireNonNull(miss, "miss");
    }
}
