package dev.layercache.loadtest;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code soak}: fleets of simulated builders in every protocol at once against one running node
 * with a small budget, for a long time, reading the node every few seconds; at the end, whether
 * each series stayed flat. See {@link Soak} for the run, {@link SoakSummary} for the judgement,
 * loadtest/soak.sh for a node started for it.
 */
@Command(name = "soak", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Simulated builders of all protocols at once against a node with a small budget, for a "
                + "long time: disk usage against the budget, RSS, file descriptors, threads, metadata size and "
                + "p99 latencies over time, and whether each stays flat.",
                "Exit code 1 when a build failed, the cache answered what the simulator cannot explain, nothing "
                        + "was evicted, or the blob bytes stayed above the budget; 3 with --fail-on-growth when "
                        + "a resource grew; 2 for invalid options."})
final class SoakCommand implements Callable<Integer> {
    /** Layers for a budget of hundreds of MiB: mostly small, some of a few MiB, a few of tens. */
    static final String SIZE_MIX = "75:4k-256k,23:256k-4m,2:8m-32m";
    private static final Pattern DURATION = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(h|min|m|s)?");

    @Spec
    CommandSpec spec;

    @Option(names = "--registry", defaultValue = "http://127.0.0.1:5000",
            description = "the node's HTTP base URL: OCI builders, /api/v1/store and /metrics (default: ${DEFAULT-VALUE})")
    URI registry;

    @Option(names = "--target", defaultValue = "127.0.0.1:9092", description = "the node's gRPC host:port (default: ${DEFAULT-VALUE})")
    String target;

    @Option(names = "--server-pid", paramLabel = "PID",
            description = "the node's process on this machine: RSS, open file descriptors, threads")
    Long serverPid;

    @Option(names = "--data-dir", paramLabel = "DIR",
            description = "the node's data folder on this machine: bytes of blobs/, uploads/ and metadata/")
    Path dataDir;

    @Option(names = "--duration", defaultValue = "30m", paramLabel = "TIME",
            description = "how long builds start: 30m, 90s, 1h; a bare number is minutes (default: ${DEFAULT-VALUE})")
    String duration;

    @Option(names = "--sample-every", defaultValue = "10", paramLabel = "SECONDS",
            description = "seconds between two readings of the node (default: ${DEFAULT-VALUE})")
    int sampleEvery;

    @Option(names = "--protocol", split = ",", defaultValue = "grpc,oci-buildah,oci-buildkit", paramLabel = "PROTOCOL",
            description = "the fleets, each running beside the others (default: ${DEFAULT-VALUE})")
    List<String> protocols;

    @Option(names = "--builders", defaultValue = "2", description = "builders per protocol (default: ${DEFAULT-VALUE})")
    int builders;

    @Option(names = "--projects", defaultValue = "40",
            description = "projects per protocol: enough that their current builds outgrow a budget of hundreds of "
                    + "MiB, so builders also miss what was evicted (default: ${DEFAULT-VALUE})")
    int projects;

    @Option(names = "--steps", defaultValue = "6", description = "steps per build (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--seed", defaultValue = "1",
            description = "the workload's seed; the n-th protocol (grpc, oci-buildah, oci-buildkit) uses SEED + n, "
                    + "so the fleets push different layers (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--size-mix", defaultValue = SIZE_MIX, paramLabel = "W:MIN-MAX,...",
            description = "layer sizes: weighted classes, log-uniform within each (default: ${DEFAULT-VALUE})")
    String sizeMix;

    @Option(names = "--max-layer-mib", defaultValue = "32", description = "no layer above this many MiB (default: ${DEFAULT-VALUE})")
    long maxLayerMib;

    @Option(names = "--change-rate", defaultValue = "0.3",
            description = "mean probability, per commit, that a step's inputs change (default: ${DEFAULT-VALUE})")
    double changeRate;

    @Option(names = "--change-profile", defaultValue = "ramp", description = "ramp or uniform (default: ${DEFAULT-VALUE})")
    String changeProfile;

    @Option(names = "--commit-probability", defaultValue = "0.5",
            description = "probability that a build starts with a new commit (default: ${DEFAULT-VALUE})")
    double commitProbability;

    @Option(names = "--pause", defaultValue = "0.5", paramLabel = "SECONDS",
            description = "seconds each builder waits between two builds, as a CI runner between two jobs: "
                    + "sets the load with --builders (default: ${DEFAULT-VALUE})")
    double pauseSeconds;

    @Option(names = "--namespace", defaultValue = "soak",
            description = "namespace prefix; each run uses PREFIX/RUN-ID/PROTOCOL/pN (default: ${DEFAULT-VALUE})")
    String namespace;

    @Option(names = "--run-id", description = "default: new for each run")
    String runId;

    @Option(names = "--disk-margin-mib", paramLabel = "MIB",
            description = "how far above the budget blob bytes may be between two lifecycle runs (default: twice "
                    + "what the fleets upload per lifecycle interval, as measured)")
    Double diskMarginMib;

    @Option(names = "--fail-on-growth", description = "exit 3 when a resource series (RSS, heap, direct buffers, "
            + "descriptors, threads, metadata/, blobs/, uploads/) grows")
    boolean failOnGrowth;

    @Option(names = "--json", paramLabel = "FILE", description = "write every sample, the trends and the checks here")
    Path json;

    @Option(names = "--markdown", paramLabel = "FILE", description = "write the summary tables here, for BENCHMARKS.md")
    Path markdown;

    @Override
    public Integer call() throws Exception {
        Soak.Settings settings;
        try {
            if (sampleEvery < 1) {
                throw new IllegalArgumentException("--sample-every must be at least 1");
            }
            if (!(pauseSeconds >= 0)) {
                throw new IllegalArgumentException("--pause must not be negative");
            }
            Duration length = parseDuration(duration);
            Map<Protocol, FleetConfig> fleets = new EnumMap<>(Protocol.class);
            String id = runId != null ? runId : Long.toString(System.currentTimeMillis() / 1000 % 1_000_000_000L, 36);
            for (String name : protocols) {
                Protocol p = Protocol.parse(name);
                fleets.put(p, FleetConfig.builder().builders(builders).projects(projects).steps(steps)
                        .duration(length).warmup(Duration.ZERO).seed(seed + p.ordinal())
                        .sizeMix(SizeMix.parse(sizeMix)).maxLayerBytes(maxLayerMib << 20).changeRate(changeRate)
                        .changeProfile(FleetConfig.ChangeProfile.valueOf(changeProfile.toUpperCase(Locale.ROOT)))
                        .commitProbability(commitProbability).namespacePrefix(namespace).runId(id)
                        .grpcTarget(target).registry(registry).evicting(true).recordPublications(false)
                        .pause(Duration.ofMillis(Math.round(pauseSeconds * 1000))).build());
            }
            settings = new Soak.Settings(fleets, Duration.ofSeconds(sampleEvery));
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage(), e);
        }
        FleetConfig any = settings.fleets().values().iterator().next();
        System.out.printf(Locale.ROOT, "soak: %d builders each of %s against %s and %s for %s, the node read every %d s%n",
                builders, String.join(", ", protocols), registry, target, human(settings.duration()), sampleEvery);
        System.out.printf(Locale.ROOT, "layers %s, run %s%n%n", any.sizeMix, any.runId);
        Soak.Result result;
        try {
            result = Soak.run(settings, new NodeProbe(registry, serverPid, dataDir), System.out);
        } catch (IOException e) {
            System.err.println("soak: " + e.getMessage());
            return 1;
        }
        SoakSummary summary = SoakSummary.of(result, failOnGrowth, diskMarginMib == null ? Double.NaN : diskMarginMib);
        String tables = summary.markdown();
        System.out.println();
        System.out.println(tables);
        if (markdown != null) {
            Files.writeString(markdown, tables);
        }
        if (json != null) {
            Files.write(json, new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
                    .writeValueAsBytes(summary.json()));
        }
        for (Fleet.Result r : result.fleets().values()) {
            FleetStats s = r.measured();
            for (String sample : s.errorSamples()) {
                System.err.println("soak " + r.run().protocol.cliName() + " error: " + sample);
            }
            for (String sample : s.anomalySamples()) {
                System.err.println("soak " + r.run().protocol.cliName() + " anomaly: " + sample);
            }
        }
        return summary.exitCode();
    }

    /**
     * {@code 30m}, {@code 90s}, {@code 1.5h}, {@code 45min}; a bare number is minutes.
     *
     * @throws IllegalArgumentException when it is none of these or not positive
     */
    static Duration parseDuration(String text) {
        Matcher m = DURATION.matcher(text.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new IllegalArgumentException("--duration must be a number with h, m or s, not \"" + text + "\"");
        }
        double value = Double.parseDouble(m.group(1));
        String unit = m.group(2) == null ? "m" : m.group(2);
        double seconds = switch (unit) {
            case "h" -> value * 3600;
            case "s" -> value;
            default -> value * 60;
        };
        if (!(seconds >= 1)) {
            throw new IllegalArgumentException("--duration must be at least a second");
        }
        return Duration.ofMillis(Math.round(seconds * 1000));
    }

    private static String human(Duration d) {
        long s = d.toSeconds();
        return s % 60 == 0 ? s / 60 + " min" : s + " s";
    }
}
