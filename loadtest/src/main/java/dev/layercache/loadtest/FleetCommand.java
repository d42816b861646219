package dev.layercache.loadtest;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code fleet}: N simulated builders on M projects with multi-step builds, the workload a build
 * cache really sees, in one or more protocols in turn. See {@link Fleet} for the loop,
 * {@link FleetStats} for what the figures mean, loadtest/README.md for examples.
 */
@Command(name = "fleet", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Simulated builders on projects with multi-step builds: hit rate observed against "
                + "expected, bytes moved and saved, lookup and build latencies.",
                "Exit code 1 when any build failed or the cache answered what the simulator cannot explain."})
final class FleetCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--protocol", split = ",", defaultValue = "grpc", paramLabel = "PROTOCOL",
            description = "grpc, oci-buildah or oci-buildkit; a comma-separated list runs each in turn (default: ${DEFAULT-VALUE})")
    List<String> protocols;

    @Option(names = "--target", defaultValue = "127.0.0.1:9092", description = "gRPC host:port (default: ${DEFAULT-VALUE})")
    String target;

    @Option(names = "--registry", defaultValue = "http://127.0.0.1:5000",
            description = "OCI registry base URL, any registry (default: ${DEFAULT-VALUE})")
    URI registry;

    @Option(names = "--builders", defaultValue = "8", description = "builder threads (default: ${DEFAULT-VALUE})")
    int builders;

    @Option(names = "--projects", defaultValue = "4", description = "projects (default: ${DEFAULT-VALUE})")
    int projects;

    @Option(names = "--steps", defaultValue = "6", description = "steps per build (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--duration", defaultValue = "30",
            description = "seconds, warm-up included, after which no build starts (default: ${DEFAULT-VALUE})")
    int durationSeconds;

    @Option(names = "--warmup", defaultValue = "5",
            description = "seconds of builds reported apart, first (default: ${DEFAULT-VALUE})")
    int warmupSeconds;

    @Option(names = "--builds", defaultValue = "0",
            description = "stop after this many builds in all; 0: only the duration (default: ${DEFAULT-VALUE})")
    long maxBuilds;

    @Option(names = "--seed", defaultValue = "1", description = "the workload's seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--size-mix", defaultValue = SizeMix.DEFAULT, paramLabel = "W:MIN-MAX,...",
            description = "layer sizes: weighted classes, log-uniform within each (default: ${DEFAULT-VALUE})")
    String sizeMix;

    @Option(names = "--max-layer-mib", defaultValue = "256",
            description = "no layer above this many MiB (default: ${DEFAULT-VALUE})")
    long maxLayerMib;

    @Option(names = "--change-rate", defaultValue = "0.1",
            description = "mean probability, per commit, that a step's inputs change (default: ${DEFAULT-VALUE})")
    double changeRate;

    @Option(names = "--change-profile", defaultValue = "ramp",
            description = "ramp: later steps change more often (mean = change rate); uniform (default: ${DEFAULT-VALUE})")
    String changeProfile;

    @Option(names = "--commit-probability", defaultValue = "0.5",
            description = "probability that a build starts with a new commit of its project, "
                    + "else it rebuilds the current one (default: ${DEFAULT-VALUE})")
    double commitProbability;

    @Option(names = "--pause", defaultValue = "0",
            description = "seconds each builder waits between two builds (default: ${DEFAULT-VALUE})")
    double pauseSeconds;

    @Option(names = "--reference-only", description = "on a hit, do not download the layers")
    boolean referenceOnly;

    @Option(names = "--evicting", description = "the cache may evict (a node with a small budget): a miss of a "
            + "published key is a capacity miss (gRPC: when the server says EVICTED), not a fault")
    boolean evicting;

    @Option(names = "--namespace", defaultValue = "fleet",
            description = "namespace prefix; each run uses PREFIX/RUN-ID/PROTOCOL/pN (default: ${DEFAULT-VALUE})")
    String namespace;

    @Option(names = "--run-id", description = "default: new for each run, so that it starts on an empty cache")
    String runId;

    @Option(names = "--json", description = "write the results here as JSON")
    Path json;

    @Override
    public Integer call() throws Exception {
        FleetConfig config;
        List<Protocol> parsed;
        try {
            FleetConfig.Builder b = FleetConfig.builder().builders(builders).projects(projects).steps(steps)
                    .duration(Duration.ofSeconds(durationSeconds)).warmup(Duration.ofSeconds(warmupSeconds))
                    .maxBuilds(maxBuilds).seed(seed).sizeMix(SizeMix.parse(sizeMix)).maxLayerBytes(maxLayerMib << 20)
                    .changeRate(changeRate)
                    .changeProfile(FleetConfig.ChangeProfile.valueOf(changeProfile.toUpperCase(Locale.ROOT)))
                    .commitProbability(commitProbability).referenceOnly(referenceOnly).namespacePrefix(namespace)
                    .grpcTarget(target).registry(registry).evicting(evicting)
                    .pause(Duration.ofMillis(Math.round(pauseSeconds * 1000)));
            if (runId != null) {
                b.runId(runId);
            }
            config = b.build();
            parsed = protocols.stream().map(Protocol::parse).toList();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage(), e);
        }

        Report report = new Report("Fleet: " + config.builders + " builders, " + config.projects + " projects, "
                + config.steps + " steps, " + config.duration.toSeconds() + " s (" + config.warmup.toSeconds()
                + " s warm-up), run " + config.runId);
        boolean faulty = false;
        for (Protocol protocol : parsed) {
            Fleet.Result result;
            try {
                result = Fleet.run(config, protocol, System.console() != null ? System.err : null);
            } catch (IOException e) {
                System.err.println("fleet " + protocol.cliName() + ": " + e.getMessage());
                faulty = true;
                continue;
            }
            addRow(report, result);
            FleetStats m = result.measured();
            FleetStats w = result.warmup();
            long errors = m.errors.sum() + w.errors.sum();
            long unexpected = m.unexpected() + w.unexpected();
            if (errors > 0 || unexpected > 0) {
                faulty = true;
                System.err.println("fleet " + protocol.cliName() + ": " + errors + " failed builds, " + unexpected
                        + " answers the simulator cannot explain (see the report)");
            }
        }
        System.out.println(report.markdown());
        report.write(json);
        return faulty ? 1 : 0;
    }

    /** The figures of one run, in the order README.md explains them. */
    static void addRow(Report report, Fleet.Result result) {
        FleetRun run = result.run();
        FleetConfig c = run.config;
        FleetStats s = result.measured();
        Map<String, Object> row = report.row("fleet " + run.protocol.cliName());
        row.put("endpoint", run.protocol.isOci() ? c.registry.toString() : c.grpcTarget);
        row.put("size_mix", c.sizeMix.toString());
        row.put("change_rate", c.changeRate + " " + c.changeProfile.name().toLowerCase(Locale.ROOT));
        row.put("commit_probability", c.commitProbability);
        row.put("reference_only", c.referenceOnly);
        row.put("measured_s", result.measuredSeconds());
        row.put("builds", s.builds.sum());
        row.put("builds_per_s", s.builds.sum() / result.measuredSeconds());
        row.put("steps_looked_up", s.lookups.sum());
        row.put("hits", s.hits.sum());
        row.put("misses", s.misses());
        row.put("hit_rate_observed_pct", s.hitRateObserved());
        row.put("hit_rate_expected_pct", s.hitRateExpected());
        row.put("misses_new_key", s.missesNewKey.sum());
        row.put("misses_concurrent_build", s.missesConcurrentBuild.sum());
        row.put("misses_ref_overwritten", s.missesRefOverwritten.sum());
        row.put("misses_evicted", s.missesEvicted.sum());
        row.put("capacity_miss_lookups", s.capacityMissLookups.sum());
        row.put("lookups_racing_a_publish", s.racingLookups.sum());
        row.put("unexpected_hits", s.unexpectedHits.sum());
        row.put("unexpected_misses", s.unexpectedMisses.sum());
        if (run.protocol == Protocol.GRPC) {
            row.put("miss_reasons", s.missReasons());
            row.put("miss_reason_mismatches", s.reasonMismatches.sum());
        }
        row.put("uploaded_MiB", s.bytesUploaded.sum() / 1048576.0);
        row.put("downloaded_MiB", s.bytesDownloaded.sum() / 1048576.0);
        row.put("saved_MiB", s.bytesSaved.sum() / 1048576.0);
        row.put("blobs_uploaded", s.blobsUploaded.sum());
        row.put("blobs_already_present", s.blobsAlreadyPresent.sum());
        row.put("lookup_requests", s.lookupMicros.getTotalCount());
        Report.latencies(row, "lookup_", s.lookupMicros);
        Report.latencies(row, "build_", s.buildMicros);
        row.put("layer_uploads", s.uploadMicros.getTotalCount());
        Report.latencies(row, "upload_", s.uploadMicros);
        row.put("layer_downloads", s.downloadMicros.getTotalCount());
        Report.latencies(row, "download_", s.downloadMicros);
        row.put("errors", s.errors.sum());
        row.put("warmup_builds", result.warmup().builds.sum());
        row.put("warmup_errors", result.warmup().errors.sum());
        row.put("warmup_unexpected", result.warmup().unexpected());
        List<String> errors = new ArrayList<>(s.errorSamples());
        errors.addAll(result.warmup().errorSamples());
        if (!errors.isEmpty()) {
            row.put("error_samples", errors);
        }
        List<String> anomalies = new ArrayList<>(s.anomalySamples());
        anomalies.addAll(result.warmup().anomalySamples());
        if (!anomalies.isEmpty()) {
            row.put("anomaly_samples", anomalies);
        }
    }
}
