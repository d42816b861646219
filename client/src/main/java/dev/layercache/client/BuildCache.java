package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The builder loop over a {@link LayerCacheClient}, for one build: for each step, compute its
 * key, look it up (with the step's identity, so that misses are explained), on a hit fetch its
 * layers, on a miss run the step and publish its layers (uploading only the blobs the namespace
 * lacks) and entry.
 *
 * <pre>{@code
 * BuildCache cache = BuildCache.builder(client, "team/app").layerDirectory(layers).build();
 * Optional<CacheKey> parent = Optional.empty();
 * for (MyStep s : steps) {
 *     Step step = Step.builder("team/app:Dockerfile#" + s.index())
 *             .parent(parent).instruction(s.instruction())
 *             .inputs(StepInput.fromPaths(context, s.inputPaths())).build();
 *     StepOutcome outcome = cache.run(step, st -> StepResult.of(s.execute()));
 *     parent = Optional.of(step.key());
 * }
 * System.out.print(cache.report().render());
 * }</pre>
 *
 * <p>One instance accompanies one build: it records the build's lookups in order, for
 * {@link #report()} (what this build's lookups said) and {@link #lookups()} (to save with
 * {@link BuildRecord} for {@code layercache explain}). Not thread-safe.
 */
public final class BuildCache {
    private final LayerCacheClient client;
    private final String namespace;
    private final Optional<Path> layerDirectory;
    private final List<Lookup> lookups = new ArrayList<>();
    private final List<LookupResult> results = new ArrayList<>();

    private BuildCache(Builder b) {
        this.client = b.client;
        this.namespace = b.namespace;
        this.layerDirectory = Optional.ofNullable(b.layerDirectory);
    }

    /** A builder for a build cache over {@code client}, publishing in {@code namespace}. */
    public static Builder builder(LayerCacheClient client, String namespace) {
        return new Builder(client, namespace);
    }

    /** The namespace. */
    public String namespace() {
        return namespace;
    }

    /**
     * Explains, before a build runs, what its steps would find: the keys of a build's steps are
     * known before any runs (each from its parent's), so this says at once which step is the
     * root cause of the misses to come.
     */
    public BuildExplanation explain(List<Step> steps) {
        requireNonNull(steps, "steps");
        return client.explainBuild(namespace, steps.stream().map(Lookup::of).toList());
    }

    /** Looks a step up (with its identity), and records the lookup for this build. */
    public LookupResult lookup(Step step) {
        requireNonNull(step, "step");
        Lookup lookup = Lookup.of(step);
        LookupResult result = client.getEntry(namespace, lookup);
        lookups.add(lookup);
        results.add(result);
        return result;
    }

    /**
     * Fetches an entry's layers into the layer directory ({@code DIR/sha256/HEX}, an OCI
     * layout's blob tree), downloading only the files not there yet, and returns their paths in
     * layer order.
     *
     * @throws IllegalStateException when the build cache has no layer directory
     */
    public List<Path> fetchLayers(CacheEntry entry) throws IOException {
        requireNonNull(entry, "entry");
        Path dir = layerDirectory.orElseThrow(() -> new IllegalStateException("no layer directory configured"));
        Map<Digest, Path> targets = new LinkedHashMap<>();
        List<Path> paths = new ArrayList<>();
        for (Layer layer : entry.layers()) {
            Path p = dir.resolve(layer.digest().algorithm().prefix()).resolve(layer.digest().hex());
            targets.put(layer.digest(), p);
            paths.add(p);
        }
        client.downloadBlobs(namespace, targets, false);
        return paths;
    }

    /**
     * Publishes a step's result: uploads the layer blobs the namespace lacks, then the entry
     * under the step's key, with its identity. Returns the stored entry.
     */
    public CacheEntry publish(Step step, StepResult result) throws IOException {
        requireNonNull(step, "step");
        requireNonNull(result, "result");
        List<BlobUpload> uploads = new ArrayList<>();
        CacheEntry.Builder entry = CacheEntry.builder(step).attributes(result.attributes());
        for (LayerFile f : result.layers()) {
            BlobUpload u = BlobUpload.ofFile(f.file());
            uploads.add(u);
            entry.layer(new Layer(u.digest(), u.size(), f.mediaType(), f.uncompressedDigest()));
        }
        client.uploadBlobs(namespace, uploads);
        return client.putEntry(namespace, entry.build());
    }

    /**
     * One turn of the builder loop: looks the step up; on a hit fetches its layers (when a layer
     * directory is configured); on a miss runs {@code runner} and publishes what it produced.
     */
    public StepOutcome run(Step step, StepRunner runner) throws IOException {
        requireNonNull(step, "step");
        requireNonNull(runner, "runner");
        LookupResult lookup = lookup(step);
        if (lookup.isHit()) {
            CacheEntry entry = lookup.entry().orElseThrow();
            List<Path> files = layerDirectory.isPresent() ? fetchLayers(entry) : List.of();
            return new StepOutcome(step, lookup, entry, files);
        }
        StepResult result;
        try {
            result = runner.run(step);
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("step " + step.stepId() + " failed: " + e.getMessage(), e);
        }
        for (LayerFile f : result.layers()) {
            if (!Files.isRegularFile(f.file())) {
                throw new IOException("step " + step.stepId() + " produced no file " + f.file());
            }
        }
        CacheEntry entry = publish(step, result);
        return new StepOutcome(step, lookup, entry,
                result.layers().stream().map(LayerFile::file).toList());
    }

    /** The lookups of this build so far, in order. */
    public List<Lookup> lookups() {
        return List.copyOf(lookups);
    }

    /**
     * What this build's lookups said, in the form of {@link LayerCacheClient#explainBuild}: each
     * step hit or missed (and why, as the server classified it at the lookup), the first miss of
     * a reason of its own as the root cause, and a summary. Asks the server nothing: after the
     * build published its misses, {@code explainBuild} would find them all.
     */
    public BuildExplanation report() {
        List<StepVerdict> verdicts = new ArrayList<>();
        for (int i = 0; i < results.size(); i++) {
            LookupResult r = results.get(i);
            Step step = lookups.get(i).step().orElseThrow();
            verdicts.add(new StepVerdict(r.key(), step.stepId(), step.instruction(), r.isHit(), r.miss()));
        }
        return BuildExplanation.fromVerdicts(verdicts);
    }

    /** Runs a step that missed and returns what it produced. */
    @FunctionalInterface
    public interface StepRunner {
        /** Runs {@code step}; its layer files must exist when this returns. */
        StepResult run(Step step) throws Exception;
    }

    /** Configures a {@link BuildCache}. */
    public static final class Builder {
        private final LayerCacheClient client;
        private final String namespace;
        private Path layerDirectory;

        private Builder(LayerCacheClient client, String namespace) {
            this.client = requireNonNull(client, "client");
            this.namespace = requireNonNull(namespace, "namespace");
        }

        /**
         * Where layers of hits are fetched to ({@code DIR/sha256/HEX}); without one, hits only
         * return the layers' descriptors.
         */
        public Builder layerDirectory(Path directory) {
            this.layerDirectory = requireNonNull(directory, "directory");
            return this;
        }

        /** The build cache. */
        public BuildCache build() {
            return new BuildCache(this);
        }
    }
}
