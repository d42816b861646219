package dev.layercache.loadtest;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code java -jar layercache-loadtest.jar <benchmark>}: benchmarks with bounded run time. */
@Command(name = "layercache-loadtest", mixinStandardHelpOptions = true,
        description = "Benchmarks of a layercache node (or any OCI registry, where the benchmark allows)",
        subcommands = {GrpcBenchmark.class, HttpBenchmark.class, FleetCommand.class, SoakCommand.class, SideBySide.class,
                LoopbackFloor.class, DiskFloor.class, AuthFloodBenchmark.class, LookupsDuringTransfers.class,
                MirrorPull.class, ClusterBench.class, BucketServer.class, HttpFloorServer.class,
                GrpcFloorServer.class})
public final class Main {
    public static void main(String[] args) {
        System.exit(new CommandLine(new Main()).execute(args));
    }
}
