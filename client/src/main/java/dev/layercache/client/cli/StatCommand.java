package dev.layercache.client.cli;

import dev.layercache.client.Digest;
import dev.layercache.client.LayerCacheClient;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code layercache stat}: the sizes of blobs. */
@Command(name = "stat", mixinStandardHelpOptions = true,
        header = "Prints the size of blobs.",
        description = {"Prints 'DIGEST SIZE' for each blob the namespace has, 'DIGEST missing' for the others;",
            "exits with 1 when any is missing."})
final class StatCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    NamespaceOption ns;

    @Parameters(paramLabel = "DIGEST", arity = "1..*", description = "Blob digests (sha256:...).")
    List<String> digests = new ArrayList<>();

    @Override
    public Integer call() {
        String namespace = ns.require();
        List<Digest> parsed = digests.stream().map(Digest::parse).toList();
        PrintWriter out = spec.commandLine().getOut();
        int code = ExitCodes.OK;
        try (LayerCacheClient client = global().connect(spec, Progress.forTerminal(spec.commandLine().getErr(),
                global().verbose))) {
            for (Digest d : parsed) {
                OptionalLong size = client.statBlob(namespace, d);
                if (size.isPresent()) {
                    out.println(d + " " + size.getAsLong());
                } else {
                    out.println(d + " missing");
                    code = ExitCodes.NOT_FOUND;
                }
            }
        }
        out.flush();
        return code;
    }

    private GlobalOptions global() {
        return GlobalOptions.of(spec);
    }
}
