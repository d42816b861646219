package dev.layercache.client.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code layercache sharing}: how much layer sharing saves across the cache. */
@Command(name = "sharing", mixinStandardHelpOptions = true,
        header = "Shows logical against physical layer bytes across the cache, and the most shared layers.",
        description = {"Logical: every manifest's layers summed. Physical: each distinct layer once.",
            "Only repositories you may read are counted."})
final class SharingCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--json", description = "Print the server's JSON as it is.")
    boolean json;

    @Override
    public Integer call() {
        JsonNode s = admin().get("/api/v1/sharing");
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(AdminHttp.json(s));
            out.flush();
            return ExitCodes.OK;
        }
        out.printf("%d manifests in %d repositories, %d distinct layers%n", s.path("manifests").asLong(),
                s.path("repositories").asLong(), s.path("layers").asLong());
        out.printf("logical %s, physical %s: sharing saves %s (x%.2f)%n", AdminHttp.bytes(s.path("logical_bytes").asLong()),
                AdminHttp.bytes(s.path("physical_bytes").asLong()), AdminHttp.bytes(s.path("saved_bytes").asLong()),
                s.path("sharing_ratio").asDouble());
        if (!s.path("top_shared").isEmpty()) {
            out.printf("%n%-19s %10s %5s %10s  %s%n", "layer", "size", "refs", "saved", "repositories");
            for (JsonNode l : s.path("top_shared")) {
                List<String> repos = new ArrayList<>();
                l.path("repositories").forEach(r -> repos.add(r.asText()));
                out.printf("%-19s %10s %5d %10s  %s%n", l.path("digest").asText().substring(0, 19),
                        AdminHttp.bytes(l.path("size").asLong()), l.path("references").asLong(),
                        AdminHttp.bytes(l.path("saved_bytes").asLong()), String.join(", ", repos));
            }
        }
        if (!s.path("by_repository").isEmpty()) {
            out.printf("%n%-30s %9s %10s %10s %10s%n", "repository", "manifests", "logical", "unique", "shared");
            for (JsonNode r : s.path("by_repository")) {
                out.printf("%-30s %9d %10s %10s %10s%n", r.path("repository").asText(), r.path("manifests").asLong(),
                        AdminHttp.bytes(r.path("logical_bytes").asLong()), AdminHttp.bytes(r.path("unique_bytes").asLong()),
                        AdminHttp.bytes(r.path("shared_bytes").asLong()));
            }
        }
        out.flush();
        return ExitCodes.OK;
    }

    private AdminHttp admin() {
        return GlobalOptions.of(spec).admin(spec);
    }
}
