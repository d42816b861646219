package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * Why a build's steps hit or missed: one verdict per step in build order, the first step that
 * missed for a reason of its own (the root cause), and the server's summary for a person.
 *
 * @param steps one verdict per step, in build order
 * @param rootCauseIndex the index in {@code steps} of the root cause; empty when every step hit
 *     or none can be blamed
 * @param summary one paragraph for a person, from the server
 */
public record BuildExplanation(List<StepVerdict> steps, OptionalInt rootCauseIndex, String summary) {

    /** Validates and copies the fields. */
    public BuildExplanation {
        steps = List.copyOf(requireNonNull(steps, "steps"));
        requireNonNull(rootCauseIndex, "rootCauseIndex");
        requireNonNull(summary, "summary");
    }

    /**
     * An explanation made from verdicts alone, without asking the server: the root cause is the
     * first miss for a reason of the step's own ({@link MissReason#isRootCause()}), and the summary
     * names it and counts the misses after it.
     */
    public static BuildExplanation fromVerdicts(List<StepVerdict> verdicts) {
        requireNonNull(verdicts, "verdicts");
        int root = -1;
        for (int i = 0; i < verdicts.size() && root < 0; i++) {
            if (verdicts.get(i).miss().map(m -> m.reason().isRootCause()).orElse(false)) {
                root = i;
            }
        }
        StringBuilder summary = new StringBuilder();
        long misses = verdicts.stream().filter(v -> !v.hit()).count();
        if (misses == 0) {
            summary.append(verdicts.isEmpty() ? "" : "every step hit");
        } else if (root < 0) {
            summary.append(misses).append(misses == 1 ? " step" : " steps")
                    .append(" missed, none for a reason of its own");
        } else {
            StepVerdict v = verdicts.get(root);
            summary.append("step ").append(root + 1).append(" (")
                    .append(v.instruction().isEmpty() ? v.stepId() : oneLine(v.instruction())).append(") missed: ")
                    .append(v.miss().orElseThrow().describe());
            long after = verdicts.stream().skip(root + 1).filter(x -> !x.hit()).count();
            if (after > 0) {
                summary.append("; ").append(after).append(after == 1 ? " later step" : " later steps")
                        .append(" missed because of it");
            }
        }
        return new BuildExplanation(verdicts, root >= 0 ? OptionalInt.of(root) : OptionalInt.empty(),
                summary.toString());
    }

    /** The root-cause verdict, if any. */
    public Optional<StepVerdict> rootCause() {
        return rootCauseIndex.isPresent() && rootCauseIndex.getAsInt() < steps.size()
                ? Optional.of(steps.get(rootCauseIndex.getAsInt()))
                : Optional.empty();
    }

    /** How many steps hit. */
    public long hits() {
        return steps.stream().filter(StepVerdict::hit).count();
    }

    /**
     * A table for a person: one row per step (number from 1, step id, hit or miss, reason,
     * instruction, what changed), the root cause marked with {@code <-- root cause}, then the
     * count of hits and the summary.
     */
    public String render() {
        String[] headers = {"#", "STEP", "RESULT", "REASON", "INSTRUCTION", "CHANGES"};
        String[][] rows = new String[steps.size()][];
        for (int i = 0; i < steps.size(); i++) {
            StepVerdict v = steps.get(i);
            String reason = "";
            String changes = "";
            if (!v.hit() && v.miss().isPresent()) {
                MissExplanation m = v.miss().get();
                reason = m.reason().name();
                changes = m.details();
            }
            if (rootCauseIndex.isPresent() && rootCauseIndex.getAsInt() == i) {
                changes = changes + "   <-- root cause";
            }
            rows[i] = new String[] {Integer.toString(i + 1), v.stepId().isEmpty() ? v.key().shortForm() : v.stepId(),
                v.hit() ? "hit" : "miss", reason, oneLine(v.instruction()), changes};
        }
        int[] widths = new int[headers.length];
        for (int c = 0; c < headers.length; c++) {
            widths[c] = headers[c].length();
            for (String[] row : rows) {
                widths[c] = Math.max(widths[c], row[c].length());
            }
        }
        StringBuilder sb = new StringBuilder();
        appendRow(sb, headers, widths);
        for (String[] row : rows) {
            appendRow(sb, row, widths);
        }
        sb.append('\n').append(hits()).append(" of ").append(steps.size()).append(" steps hit");
        rootCause().ifPresent(v -> sb.append("; root cause: step ").append(rootCauseIndex.getAsInt() + 1)
                .append(v.stepId().isEmpty() ? "" : " (" + v.stepId() + ")"));
        sb.append('\n');
        if (!summary.isEmpty()) {
            sb.append(summary).append('\n');
        }
        return sb.toString();
    }

    private static void appendRow(StringBuilder sb, String[] cells, int[] widths) {
        StringBuilder line = new StringBuilder();
        for (int c = 0; c < cells.length; c++) {
            line.append(cells[c]);
            if (c < cells.length - 1) {
                line.append(" ".repeat(widths[c] - cells[c].length() + 2));
            }
        }
        sb.append(line.toString().stripTrailing()).append('\n');
    }

    private static String oneLine(String s) {
        String flat = s.replace('\n', ' ');
        return flat.length() <= 50 ? flat : flat.substring(0, 47) + "...";
    }
}
