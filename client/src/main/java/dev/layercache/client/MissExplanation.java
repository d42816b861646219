package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Why a lookup missed, with what the server knew of the step at its last publication.
 *
 * @param reason the classification
 * @param stepId the step id of the lookup (empty when it carried none)
 * @param previousKey the key last published for this step id (empty for a new step)
 * @param previousParentKey the parent key at that publication (empty when none)
 * @param previousInstruction the instruction at that publication, when it differs from the lookup's
 * @param instructionChanged whether the instruction changed
 * @param inputChanges the differences in inputs, by path
 */
public record MissExplanation(MissReason reason, String stepId, Optional<CacheKey> previousKey,
                              Optional<CacheKey> previousParentKey, Optional<String> previousInstruction,
                              boolean instructionChanged, List<InputChange> inputChanges) {

    /** Validates and copies the fields. */
    public MissExplanation {
        requireNonNull(reason, "reason");
        requireNonNull(stepId, "stepId");
        requireNonNull(previousKey, "previousKey");
        requireNonNull(previousParentKey, "previousParentKey");
        requireNonNull(previousInstruction, "previousInstruction");
        inputChanges = List.copyOf(requireNonNull(inputChanges, "inputChanges"));
    }

    /**
     * One line for a person, for example
     * {@code INPUTS_CHANGED: package.json modified, src/new.txt added}.
     */
    public String describe() {
        StringBuilder sb = new StringBuilder(reason.name());
        String details = details();
        if (!details.isEmpty()) {
            sb.append(": ").append(details);
        }
        return sb.toString();
    }

    /** The changes alone ("instruction changed; package.json modified"), or a hint for the reason. */
    public String details() {
        StringBuilder sb = new StringBuilder();
        if (instructionChanged) {
            sb.append("instruction changed");
            previousInstruction.ifPresent(p -> sb.append(" (was \"").append(oneLine(p)).append("\")"));
        }
        if (!inputChanges.isEmpty()) {
            if (sb.length() > 0) {
                sb.append("; ");
            }
            sb.append(inputChanges.stream().map(InputChange::toString).collect(Collectors.joining(", ")));
        }
        if (sb.length() == 0) {
            switch (reason) {
                case NEW_STEP -> sb.append("never published before");
                case INPUTS_CHANGED -> sb.append("the step's instruction or inputs changed");
                case PARENT_CHANGED -> sb.append("an earlier step changed");
                case EVICTED -> sb.append("the cache no longer holds this key");
                case UNSPECIFIED -> sb.append("no step identity in the lookup");
                default -> {
                }
            }
        }
        return sb.toString();
    }

    private static String oneLine(String s) {
        String flat = s.replace('\n', ' ');
        return flat.length() <= 60 ? flat : flat.substring(0, 57) + "...";
    }
}
