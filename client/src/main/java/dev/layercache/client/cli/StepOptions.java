package dev.layercache.client.cli;

import dev.layercache.client.CacheKey;
import dev.layercache.client.Step;
import dev.layercache.client.StepInput;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** A step's identity and the inputs its key is computed from. */
final class StepOptions {
    @Option(names = "--step-id", paramLabel = "ID",
            description = "Stable name of the step (for example team/app:Dockerfile#3), so misses can be explained.")
    String stepId;

    @Option(names = "--parent", paramLabel = "KEY", description = "Key of the step before (none for the first step).")
    String parent;

    @Option(names = "--instruction", paramLabel = "TEXT", description = "The step's canonical instruction.")
    String instruction;

    @Option(names = "--context", paramLabel = "DIR", defaultValue = ".",
            description = "Build context the input paths are relative to (default: the current directory).")
    Path context;

    @Parameters(paramLabel = "INPUT", arity = "0..*",
            description = "Input files or directories (directories: every file below), inside the context.")
    List<Path> inputs = new ArrayList<>();

    boolean describesStep() {
        return instruction != null || parent != null || !inputs.isEmpty();
    }

    /** The step (identity and computed key) the options describe. */
    Step step() throws IOException {
        Step.Builder b = Step.builder(stepId == null ? "" : stepId)
                .instruction(instruction == null ? "" : instruction);
        parentKey().ifPresent(b::parent);
        b.inputs(StepInput.fromPaths(context, inputs));
        return b.build();
    }

    Optional<CacheKey> parentKey() {
        if (parent == null || parent.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(CacheKey.parse(parent));
    }
}
