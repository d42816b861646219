package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * What a build step is: a stable name, the key of the step before it, its canonical instruction
 * and its inputs, and so its {@linkplain #key() cache key}.
 *
 * <p>The step id names the step across builds (for example {@code team/app:Dockerfile#3}); it
 * must stay the same when the step's content changes, so that the server, which remembers what
 * was last published for every step id, can say why a lookup missed: a new step, a change of the
 * step's own instruction or inputs (a root cause), or only a change of its parent (a cascade).
 *
 * <pre>{@code
 * Step step = Step.builder("team/app:Dockerfile#3")
 *         .parent(previous.key())
 *         .instruction("COPY package.json /app/")
 *         .inputs(StepInput.fromPaths(context, List.of(Path.of("package.json"))))
 *         .build();
 * CacheKey key = step.key();
 * }</pre>
 */
public final class Step {
    private final String stepId;
    private final Optional<CacheKey> parentKey;
    private final String instruction;
    private final List<StepInput> inputs;
    private final CacheKey key;

    private Step(String stepId, Optional<CacheKey> parentKey, String instruction, List<StepInput> inputs) {
        this.stepId = stepId;
        this.parentKey = parentKey;
        this.instruction = instruction;
        List<StepInput> sorted = new ArrayList<>(inputs);
        sorted.sort(CacheKey.INPUT_ORDER);
        this.inputs = List.copyOf(sorted);
        this.key = CacheKey.compute(parentKey, instruction, this.inputs);
    }

    /** A builder for the step named {@code stepId}. */
    public static Builder builder(String stepId) {
        return new Builder(stepId);
    }

    /** The stable name of the step. */
    public String stepId() {
        return stepId;
    }

    /** The key of the step before this one; empty for the first step of a build. */
    public Optional<CacheKey> parentKey() {
        return parentKey;
    }

    /** The canonical instruction. */
    public String instruction() {
        return instruction;
    }

    /** The inputs, sorted in {@link CacheKey#INPUT_ORDER}. */
    public List<StepInput> inputs() {
        return inputs;
    }

    /** The cache key: {@link CacheKey#compute} of the parent key, instruction and inputs. */
    public CacheKey key() {
        return key;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Step s && s.stepId.equals(stepId) && s.key.equals(key);
    }

    @Override
    public int hashCode() {
        return stepId.hashCode() * 31 + key.hashCode();
    }

    @Override
    public String toString() {
        return "Step[" + stepId + " " + key.shortForm() + " " + instruction + "]";
    }

    /** Builds a {@link Step}; only the step id is required. */
    public static final class Builder {
        private final String stepId;
        private Optional<CacheKey> parentKey = Optional.empty();
        private String instruction = "";
        private final List<StepInput> inputs = new ArrayList<>();

        private Builder(String stepId) {
            this.stepId = requireNonNull(stepId, "stepId");
        }

        /** The key of the step before this one (none by default: the first step of a build). */
        public Builder parent(CacheKey parentKey) {
            this.parentKey = Optional.of(requireNonNull(parentKey, "parentKey"));
            return this;
        }

        /** The key of the step before this one, or empty for the first step. */
        public Builder parent(Optional<CacheKey> parentKey) {
            this.parentKey = requireNonNull(parentKey, "parentKey");
            return this;
        }

        /** The canonical instruction (empty by default). */
        public Builder instruction(String instruction) {
            this.instruction = requireNonNull(instruction, "instruction");
            return this;
        }

        /** Adds one input. */
        public Builder input(StepInput input) {
            inputs.add(requireNonNull(input, "input"));
            return this;
        }

        /** Adds inputs, in any order. */
        public Builder inputs(Collection<StepInput> inputs) {
            requireNonNull(inputs, "inputs").forEach(this::input);
            return this;
        }

        /**
         * The step, with its key computed.
         *
         * @throws IllegalArgumentException when two inputs share a path
         */
        public Step build() {
            return new Step(stepId, parentKey, instruction, inputs);
        }
    }
}
