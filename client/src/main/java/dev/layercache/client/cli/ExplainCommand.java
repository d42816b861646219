package dev.layercache.client.cli;

import dev.layercache.client.BuildExplanation;
import dev.layercache.client.BuildRecord;
import dev.layercache.client.CacheKey;
import dev.layercache.client.LayerCacheClient;
import dev.layercache.client.Lookup;
import dev.layercache.client.MissExplanation;
import dev.layercache.client.Step;
import dev.layercache.client.StepVerdict;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code layercache explain}: why a build's steps hit or missed. */
@Command(name = "explain", mixinStandardHelpOptions = true,
        header = "Explains why a build's steps missed.",
        description = {"Explains a build's cache misses: one row per step (hit or miss, the reason, what changed),",
            "the root cause (the first step that missed for a reason of its own) and a summary.",
            "The steps are a build record (--lookups FILE, written by 'lookup --record FILE' or the client",
            "library's BuildRecord: a layercache.v1.ExplainBuildRequest in protobuf text format), or STEP_ID=KEY pairs in build order",
            "(each step's parent is the key before it; the reasons are then given without what changed).",
            "Exits with 1 when any step missed."})
final class ExplainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    NamespaceOption ns;

    @Option(names = "--lookups", paramLabel = "FILE", description = "A build record: written by 'lookup --record FILE' (or BuildRecord).")
    Path lookups;

    @Parameters(paramLabel = "STEP_ID=KEY", arity = "0..*", description = "The build's steps, in order.")
    List<String> steps = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        List<Lookup> all = new ArrayList<>();
        // Steps given as STEP_ID=KEY carry no instruction or inputs: what the server says changed
        // in those is an artifact of the omission, not a change.
        Set<Integer> bare = new HashSet<>();
        String namespace = ns.namespace;
        if (lookups != null) {
            BuildRecord record = BuildRecord.read(lookups);
            all.addAll(record.lookups());
            if ((namespace == null || namespace.isEmpty()) && !record.namespace().isEmpty()) {
                namespace = record.namespace();
            }
        }
        Optional<CacheKey> parent = all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1).key());
        for (String s : steps) {
            int eq = s.lastIndexOf('=');
            if (eq <= 0) {
                throw new CliException(ExitCodes.INVALID, "a step is STEP_ID=KEY, not " + s);
            }
            CacheKey key = CacheKey.parse(s.substring(eq + 1));
            Step identity = Step.builder(s.substring(0, eq)).parent(parent).build();
            bare.add(all.size());
            all.add(new Lookup(key, Optional.of(identity)));
            parent = Optional.of(key);
        }
        if (all.isEmpty()) {
            throw new CliException(ExitCodes.INVALID, "no steps: give --lookups FILE or STEP_ID=KEY pairs");
        }
        if (namespace == null || namespace.isEmpty()) {
            namespace = ns.require();
        }
        try (LayerCacheClient client = global().connect(spec, Progress.forTerminal(spec.commandLine().getErr(),
                global().verbose))) {
            BuildExplanation e = client.explainBuild(NamespaceName.check(namespace), all);
            if (!bare.isEmpty()) {
                List<StepVerdict> verdicts = new ArrayList<>();
                for (int i = 0; i < e.steps().size(); i++) {
                    StepVerdict v = e.steps().get(i);
                    verdicts.add(!bare.contains(i) ? v : new StepVerdict(v.key(), v.stepId(), v.instruction(), v.hit(),
                            v.miss().map(m -> new MissExplanation(m.reason(), m.stepId(), m.previousKey(),
                                    m.previousParentKey(), Optional.empty(), false, List.of()))));
                }
                e = BuildExplanation.fromVerdicts(verdicts);
            }
            spec.commandLine().getOut().print(e.render());
            spec.commandLine().getOut().flush();
            return e.hits() == e.steps().size() ? ExitCodes.OK : ExitCodes.NOT_FOUND;
        }
    }

    private GlobalOptions global() {
        return GlobalOptions.of(spec);
    }
}
