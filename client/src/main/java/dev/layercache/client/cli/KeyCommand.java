package dev.layercache.client.cli;

import dev.layercache.client.CacheKey;
import dev.layercache.client.Step;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code layercache key}: computes a step's cache key locally. */
@Command(name = "key", mixinStandardHelpOptions = true,
        header = "Computes a step's cache key locally.",
        description = {"Computes a step's cache key from its parent key, instruction and inputs (no server).",
            "Prints the key; --encoding prints the canonical bytes that are hashed instead."})
final class KeyCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    StepOptions step;

    @Option(names = "--encoding", description = "Print the canonical encoding whose SHA-256 is the key.")
    boolean encoding;

    @Override
    public Integer call() throws Exception {
        if (step.instruction == null) {
            throw new CliException(ExitCodes.INVALID, "key needs --instruction");
        }
        Step s = step.step();
        if (encoding) {
            spec.commandLine().getOut().print(new String(CacheKey.canonicalEncoding(s.parentKey(), s.instruction(),
                    s.inputs()), StandardCharsets.UTF_8));
        } else {
            spec.commandLine().getOut().println(s.key());
        }
        spec.commandLine().getOut().flush();
        return ExitCodes.OK;
    }
}
