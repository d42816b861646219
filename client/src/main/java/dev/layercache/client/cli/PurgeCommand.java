package dev.layercache.client.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code layercache purge PREFIX}: removes a namespace from the server ({@code DELETE /api/v1/namespaces/PREFIX}). */
@Command(name = "purge", mixinStandardHelpOptions = true,
        header = "Removes a namespace: the tags, manifests and cache entries of PREFIX and the repositories below it,"
                + " and the blobs no other repository uses.",
        description = {"PREFIX matches whole path components: team/app takes team/app and team/app/x, never"
                + " team/apple. In a cluster the bucket's copies go too. Needs the admin action.",
            "With --dry-run, lists what would go and removes nothing."})
final class PurgeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "PREFIX", description = "The namespace: a repository name or its leading path components.")
    String prefix;

    @Option(names = "--dry-run", description = "Only list what would be removed.")
    boolean dryRun;

    @Option(names = "--json", description = "Print the server's JSON as it is.")
    boolean json;

    @Override
    public Integer call() {
        if (prefix.isBlank()) {
            throw new CliException(ExitCodes.INVALID, "purge needs a namespace: an empty PREFIX would be every repository");
        }
        JsonNode report = admin().delete("/api/v1/namespaces/" + prefix + (dryRun ? "?dry_run=true" : ""));
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(AdminHttp.json(report));
        } else {
            if (dryRun) {
                report.path("repositories").forEach(r -> out.println("repository " + r.asText()));
                report.path("digests").forEach(d -> out.println("blob " + d.asText()));
            }
            out.printf("%s %s: %d repositories, %d tags, %d manifests, %d entries, %d blobs (%s); %d ms%n",
                    dryRun ? "would purge" : "purged", report.path("namespace").asText(prefix),
                    report.path("repositories").size(), report.path("tags").asLong(),
                    report.path("manifests").asLong(), report.path("entries").asLong(),
                    report.path("blobs").asLong(), AdminHttp.bytes(report.path("bytes").asLong()),
                    report.path("millis").asLong());
        }
        out.flush();
        return ExitCodes.OK;
    }

    private AdminHttp admin() {
        return GlobalOptions.of(spec).admin(spec);
    }
}
