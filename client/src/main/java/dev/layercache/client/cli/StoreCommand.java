package dev.layercache.client.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code layercache store}: the server's disk usage, budget, and last collection and scrub. */
@Command(name = "store", mixinStandardHelpOptions = true,
        header = "Shows the server's disk usage against its budget, and its last lifecycle run, collection and scrub.")
final class StoreCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--json", description = "Print the server's JSON as it is.")
    boolean json;

    @Override
    public Integer call() {
        JsonNode store = admin().get("/api/v1/store");
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(AdminHttp.json(store));
            out.flush();
            return ExitCodes.OK;
        }
        JsonNode usage = store.path("usage");
        long budget = store.path("budget").path("max_disk_bytes").asLong();
        out.printf("blobs      %s in %d blobs%s%n", AdminHttp.bytes(usage.path("bytes").asLong()),
                usage.path("blobs").asLong(), budget > 0
                        ? String.format(java.util.Locale.ROOT, " (%.1f%% of a %s budget)",
                                100.0 * usage.path("bytes").asLong() / budget, AdminHttp.bytes(budget))
                        : " (no budget)");
        out.printf("roots      %d tags, %d manifests, %d entries%n", usage.path("tags").asLong(),
                usage.path("manifests").asLong(), usage.path("entries").asLong());
        JsonNode gc = store.path("last_gc");
        out.println(gc.isNull() || gc.isMissingNode() ? "last gc    none yet"
                : String.format("last gc    %s: %d blobs collected (%s), %d kept in grace, %d ms", gc.path("at").asText(),
                        gc.path("collected").asLong(), AdminHttp.bytes(gc.path("collected_bytes").asLong()),
                        gc.path("kept_in_grace").asLong(), gc.path("millis").asLong()));
        JsonNode scrub = store.path("last_scrub");
        out.println(scrub.isNull() || scrub.isMissingNode() ? "last scrub none yet"
                : String.format("last scrub %s: %d blobs checked, %d corrupt, %d missing", scrub.path("at").asText(),
                        scrub.path("blobs").asLong(), scrub.path("corrupt").asInt(), scrub.path("missing").asInt()));
        out.flush();
        return ExitCodes.OK;
    }

    private AdminHttp admin() {
        return GlobalOptions.of(spec).admin(spec);
    }
}
