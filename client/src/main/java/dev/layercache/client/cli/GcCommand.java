package dev.layercache.client.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code layercache gc}: a garbage collection on the server now. */
@Command(name = "gc", mixinStandardHelpOptions = true,
        header = "Collects the blobs no tag, manifest or entry references (older than the server's grace period).",
        description = "With --dry-run, lists what would go and removes nothing.")
final class GcCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--dry-run", description = "Only list the blobs that would be collected.")
    boolean dryRun;

    @Option(names = "--json", description = "Print the server's JSON as it is.")
    boolean json;

    @Override
    public Integer call() {
        JsonNode report = admin().post("/api/v1/gc" + (dryRun ? "?dry_run=true" : ""));
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(AdminHttp.json(report));
        } else {
            if (dryRun) {
                report.path("digests").forEach(d -> out.println(d.asText()));
            }
            // blobs_scanned counts the blobs stored; referenced counts the distinct digests that the
            // manifests and entries name (manifests and blobs of every repository), so it can exceed it.
            out.printf("%s %d blobs (%s) of %d stored; %d unreferenced kept within the grace period;"
                            + " %d digests referenced by manifests and entries; %d ms%n",
                    dryRun ? "would collect" : "collected", report.path("collected").asLong(),
                    AdminHttp.bytes(report.path("collected_bytes").asLong()), report.path("blobs_scanned").asLong(),
                    report.path("kept_in_grace").asLong(), report.path("referenced").asLong(),
                    report.path("millis").asLong());
        }
        out.flush();
        return ExitCodes.OK;
    }

    private AdminHttp admin() {
        return GlobalOptions.of(spec).admin(spec);
    }
}
