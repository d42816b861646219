package dev.layercache.server.entries;

import dev.layercache.api.v1.ExplainBuildResponseOrBuilder;
import dev.layercache.api.v1.InputChange;
import dev.layercache.api.v1.Lookup;
import dev.layercache.api.v1.MissExplanation;
import dev.layercache.api.v1.MissReason;
import dev.layercache.api.v1.StepVerdict;
import java.util.List;
import java.util.Locale;

/** The one paragraph of an explained build that a person reads first. */
final class BuildSummary {
    private BuildSummary() {
    }

    static String of(ExplainBuildResponseOrBuilder build, List<Lookup> lookups) {
        List<StepVerdict> steps = build.getStepsList();
        long misses = steps.stream().filter(s -> !s.getHit()).count();
        if (steps.isEmpty()) {
            return "no steps";
        }
        if (misses == 0) {
            return "all " + steps.size() + " steps hit the cache";
        }
        int root = build.getRootCauseIndex();
        if (root < 0) {
            int first = 0;
            while (steps.get(first).getHit()) {
                first++;
            }
            return misses + " of " + steps.size() + " steps missed; the first miss, " + name(first, lookups)
                    + ", has no recorded history to compare with (" + reason(steps.get(first).getMiss()) + ")";
        }
        MissExplanation miss = steps.get(root).getMiss();
        StringBuilder sb = new StringBuilder();
        sb.append(name(root, lookups)).append(" missed: ").append(reason(miss));
        String changes = changes(miss);
        if (!changes.isEmpty()) {
            sb.append(": ").append(changes);
        }
        List<Integer> cascades = new java.util.ArrayList<>();
        for (int i = root + 1; i < steps.size(); i++) {
            if (!steps.get(i).getHit() && steps.get(i).getMiss().getReason() == MissReason.PARENT_CHANGED) {
                cascades.add(i + 1);
            }
        }
        if (!cascades.isEmpty()) {
            sb.append("; ").append(numbers(cascades)).append(" missed")
                    .append(" because of it");
        }
        long otherOwn = 0;
        for (int i = root + 1; i < steps.size(); i++) {
            StepVerdict s = steps.get(i);
            if (!s.getHit() && s.getMiss().getReason() != MissReason.PARENT_CHANGED) {
                otherOwn++;
            }
        }
        if (otherOwn > 0) {
            sb.append("; ").append(otherOwn).append(" later step").append(otherOwn == 1 ? "" : "s")
                    .append(" also missed for reasons of their own");
        }
        return sb.toString();
    }

    /** "step 4", "steps 4 to 6" or "steps 4, 6, 7". */
    private static String numbers(List<Integer> steps) {
        if (steps.size() == 1) {
            return "step " + steps.get(0);
        }
        boolean contiguous = steps.get(steps.size() - 1) - steps.get(0) == steps.size() - 1;
        if (contiguous) {
            return "steps " + steps.get(0) + " to " + steps.get(steps.size() - 1);
        }
        return "steps " + String.join(", ", steps.stream().map(String::valueOf).toList());
    }

    private static String name(int index, List<Lookup> lookups) {
        Lookup l = lookups.get(index);
        String instruction = l.getStep().getInstruction();
        return "step " + (index + 1) + (instruction.isEmpty() ? "" : " (" + instruction + ")");
    }

    static String reason(MissExplanation miss) {
        return switch (miss.getReason()) {
            case NEW_STEP -> "a step never built before";
            case INPUTS_CHANGED -> "its instruction or inputs changed";
            case PARENT_CHANGED -> "an earlier step changed";
            case EVICTED -> "its result was in the cache and has been removed";
            default -> "no step identity given";
        };
    }

    private static String changes(MissExplanation miss) {
        StringBuilder sb = new StringBuilder();
        if (miss.getInstructionChanged()) {
            sb.append("instruction was '").append(miss.getPreviousInstruction()).append("'");
        }
        for (InputChange c : miss.getInputChangesList()) {
            if (sb.length() > 0) {
                sb.append(", ");
            }
            sb.append(c.getPath()).append(' ').append(c.getKind().name().toLowerCase(Locale.ROOT));
        }
        return sb.toString();
    }
}
