package dev.layercache.loadtest;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options the floor benchmarks share: how much per round, how many rounds, where the JSON goes. */
final class FloorOptions {
    @Option(names = "--mib", defaultValue = "1024", description = "bytes per round, in MiB")
    int mib;

    @Option(names = "--rounds", defaultValue = "5", description = "measured rounds (after one warm-up round)")
    int rounds;

    @Option(names = "--json", description = "write the results here as JSON")
    Path json;

    long bytes() {
        return (long) mib << 20;
    }
}
