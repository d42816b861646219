package dev.layercache.server.entries;

import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.InputChange;
import dev.layercache.api.v1.MissExplanation;
import dev.layercache.api.v1.MissReason;
import dev.layercache.api.v1.StepIdentity;
import dev.layercache.api.v1.StepInput;
import java.util.Map;
import java.util.TreeMap;

/**
 * Says why a lookup missed, from what the lookup carries and what was last published for its
 * step identity. The seed chapter's rule made into code: a step's key depends on its parent's
 * key, so one changed step changes every key after it; only the first of them changed for a
 * reason of its own.
 *
 * <ol>
 *   <li>The key was held and removed: {@code EVICTED}.
 *   <li>No step identity: {@code MISS_REASON_UNSPECIFIED}, nothing to compare with.
 *   <li>The step identity was never published: {@code NEW_STEP}.
 *   <li>The last publication had this very key (its entry is gone): {@code EVICTED}.
 *   <li>Same parent key as the last publication, other key: the step's own instruction or
 *       inputs changed, {@code INPUTS_CHANGED}, the root cause.
 *   <li>Other parent key: {@code PARENT_CHANGED}, a cascade of an earlier change.
 * </ol>
 */
final class MissClassifier {
    private MissClassifier() {
    }

    static MissExplanation classify(String key, StepIdentity step, Entry lastPublication, boolean removed) {
        MissExplanation.Builder miss = MissExplanation.newBuilder();
        if (step != null) {
            miss.setStepId(step.getStepId());
        }
        if (lastPublication != null) {
            miss.setPreviousKey(lastPublication.getKey())
                    .setPreviousParentKey(lastPublication.getStep().getParentKey());
            describeChanges(miss, step, lastPublication.getStep());
        }
        if (removed) {
            return miss.setReason(MissReason.EVICTED).build();
        }
        if (step == null || step.getStepId().isEmpty()) {
            return miss.setReason(MissReason.MISS_REASON_UNSPECIFIED).build();
        }
        if (lastPublication == null) {
            return miss.setReason(MissReason.NEW_STEP).build();
        }
        if (lastPublication.getKey().equals(key)) {
            return miss.setReason(MissReason.EVICTED).build();
        }
        if (lastPublication.getStep().getParentKey().equals(step.getParentKey())) {
            return miss.setReason(MissReason.INPUTS_CHANGED).build();
        }
        return miss.setReason(MissReason.PARENT_CHANGED).build();
    }

    /** What differs between the last publication and this lookup: instruction and inputs by path. */
    private static void describeChanges(MissExplanation.Builder miss, StepIdentity now, StepIdentity before) {
        if (now == null || (now.getInstruction().isEmpty() && now.getInputsCount() == 0)) {
            return; // a bare lookup (step id and parent only) says nothing about what it is made of
        }
        if (!now.getInstruction().isEmpty() && !before.getInstruction().equals(now.getInstruction())) {
            miss.setInstructionChanged(true).setPreviousInstruction(before.getInstruction());
        }
        if (now.getInputsCount() == 0 && before.getInputsCount() == 0) {
            return;
        }
        Map<String, StepInput> old = byPath(before);
        Map<String, StepInput> current = byPath(now);
        for (Map.Entry<String, StepInput> e : current.entrySet()) {
            StepInput was = old.get(e.getKey());
            if (was == null) {
                miss.addInputChanges(InputChange.newBuilder().setKind(InputChange.Kind.ADDED).setPath(e.getKey())
                        .setDigest(e.getValue().getDigest()));
            } else if (!was.getDigest().equals(e.getValue().getDigest()) || was.getMode() != e.getValue().getMode()) {
                miss.addInputChanges(InputChange.newBuilder().setKind(InputChange.Kind.MODIFIED).setPath(e.getKey())
                        .setPreviousDigest(was.getDigest()).setDigest(e.getValue().getDigest()));
            }
        }
        for (Map.Entry<String, StepInput> e : old.entrySet()) {
            if (!current.containsKey(e.getKey())) {
                miss.addInputChanges(InputChange.newBuilder().setKind(InputChange.Kind.REMOVED).setPath(e.getKey())
                        .setPreviousDigest(e.getValue().getDigest()));
            }
        }
    }

    private static Map<String, StepInput> byPath(StepIdentity step) {
        Map<String, StepInput> out = new TreeMap<>();
        step.getInputsList().forEach(i -> out.put(i.getPath(), i));
        return out;
    }
}
