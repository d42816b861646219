package dev.layercache.client.cli;

import dev.layercache.client.BuildRecord;
import dev.layercache.client.CacheEntry;
import dev.layercache.client.CacheKey;
import dev.layercache.client.Digest;
import dev.layercache.client.Layer;
import dev.layercache.client.LayerCacheClient;
import dev.layercache.client.Lookup;
import dev.layercache.client.LookupResult;
import dev.layercache.client.MissExplanation;
import dev.layercache.client.Step;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code layercache lookup}: looks a key up. */
@Command(name = "lookup", mixinStandardHelpOptions = true,
        header = "Looks a cache key up; explains a miss.",
        description = {"Looks a cache key up. The key is --key, or computed from --parent, --instruction and the inputs;",
            "with --step-id the server says why a miss missed.",
            "On a hit prints 'hit KEY' then one 'layer DIGEST SIZE MEDIA_TYPE' line per layer and",
            "'attribute NAME=VALUE' lines; on a miss prints 'miss KEY: REASON: details' and exits with 1.",
            "With --record FILE, each lookup of a build is added to FILE, which 'explain --lookups FILE' reads."})
final class LookupCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    NamespaceOption ns;

    @Option(names = "--key", paramLabel = "KEY", description = "The key to look up.")
    String key;

    @Mixin
    StepOptions step;

    @Option(names = "--fetch", paramLabel = "DIR",
            description = "On a hit, download the layers into DIR/sha256/HEX.")
    Path fetch;

    @Option(names = "--record", paramLabel = "FILE",
            description = {"Append this lookup (step id, instruction, inputs, key) to the build record FILE,"
                    + " created by the first lookup, for 'explain --lookups FILE'. Start each build with a new FILE."})
    Path record;

    @Override
    public Integer call() throws Exception {
        String namespace = ns.require();
        Lookup lookup = lookup(key, step);
        PrintWriter out = spec.commandLine().getOut();
        Progress progress = Progress.forTerminal(spec.commandLine().getErr(), global().verbose);
        try (LayerCacheClient client = global().connect(spec, progress)) {
            LookupResult r = client.getEntry(namespace, lookup);
            if (record != null) {
                append(record, namespace, lookup);
            }
            if (r.isHit()) {
                CacheEntry e = r.entry().orElseThrow();
                out.println("hit " + e.key());
                for (Layer l : e.layers()) {
                    out.println("layer " + l.digest() + " " + l.size() + " " + l.mediaType());
                }
                e.attributes().forEach((k, v) -> out.println("attribute " + k + "=" + v));
                out.flush();
                if (fetch != null) {
                    Map<Digest, Path> targets = new LinkedHashMap<>();
                    for (Layer l : e.layers()) {
                        targets.put(l.digest(), fetch.resolve(l.digest().algorithm().prefix()).resolve(l.digest().hex()));
                    }
                    progress.start("fetching", targets.size(), e.totalSize());
                    try {
                        client.downloadBlobs(namespace, targets, false);
                    } finally {
                        progress.finish();
                    }
                }
                return ExitCodes.OK;
            }
            MissExplanation m = r.miss().orElseThrow();
            out.println("miss " + r.key() + ": " + m.describe());
            out.flush();
            return ExitCodes.NOT_FOUND;
        }
    }

    /** Adds {@code lookup} to the build record {@code file}: read, appended, atomically replaced. */
    static void append(Path file, String namespace, Lookup lookup) throws IOException {
        List<Lookup> lookups = new ArrayList<>();
        if (Files.exists(file)) {
            BuildRecord existing;
            try {
                existing = BuildRecord.read(file);
            } catch (IllegalArgumentException e) {
                throw new CliException(ExitCodes.INVALID, "--record " + file + " is not a build record: give a new file");
            }
            if (!existing.namespace().equals(namespace)) {
                throw new CliException(ExitCodes.INVALID, "--record " + file + " records a build of "
                        + existing.namespace() + ", not " + namespace + ": give a new file");
            }
            lookups.addAll(existing.lookups());
        }
        lookups.add(lookup);
        new BuildRecord(namespace, lookups).write(file);
    }

    static Lookup lookup(String key, StepOptions step) throws IOException {
        if (key == null && !step.describesStep()) {
            throw new CliException(ExitCodes.INVALID, "give --key KEY, or --instruction (and --parent, inputs)"
                    + " to compute it");
        }
        Optional<CacheKey> explicit = key == null ? Optional.empty() : Optional.of(CacheKey.parse(key));
        if (!step.describesStep() && step.stepId == null) {
            return Lookup.of(explicit.orElseThrow());
        }
        Step s = step.step();
        return new Lookup(explicit.orElse(s.key()), Optional.of(s));
    }

    private GlobalOptions global() {
        return GlobalOptions.of(spec);
    }
}
