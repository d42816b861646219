package dev.layercache.loadtest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.client.BlobSource;
import dev.layercache.client.CacheKey;
import dev.layercache.client.Digest;
import dev.layercache.loadtest.FleetRun.Publication;
import dev.layercache.loadtest.OciRegistryClient.UploadStyle;
import dev.layercache.loadtest.FleetWorkload.BuildPlan;
import dev.layercache.loadtest.FleetWorkload.PlannedStep;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Builds the way {@code buildah build --layers --cache-from R --cache-to R} uses a registry
 * (see REAL-CLIENTS.md): after each step's key is known, {@code GET /v2/R/manifests/<64-hex
 * key>}, a 404 being a miss.
 *
 * <ul>
 *   <li>On a hit buildah pulls the cached intermediate image: its config and the layers the
 *       machine lacks, which on a fresh builder is the step's own layer (the layers before it
 *       came with the earlier steps' hits, or were built here).</li>
 *   <li>On a miss the step runs and buildah pushes the intermediate image under the key's tag:
 *       {@code HEAD} for each of its layers (all but the new one exist), the new layer uploaded
 *       with {@code POST}, one chunked {@code PATCH} and {@code PUT ?digest=}, the same for the
 *       config, then the manifest by tag.</li>
 * </ul>
 *
 * <p>The intermediate image is the whole image up to the step, so its manifest lists every layer
 * so far, the step's last. A tag, once pushed, stays: the model is {@link PublishedKeys}.
 */
final class BuildahBuilder implements SimulatedBuilder {
    static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    static final String OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
    /** The media types buildah (containers/image) accepts for a manifest, one Accept line each. */
    private static final List<String> ACCEPT = List.of(OCI_MANIFEST,
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            "application/vnd.docker.distribution.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.index.v1+json");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final FleetRun run;
    private final PublishedKeys tags;
    private final OciRegistryClient registry;

    private BuildahBuilder(FleetRun run, PublishedKeys tags) {
        this.run = run;
        this.tags = tags;
        this.registry = new OciRegistryClient(run.config.registry);
    }

    /** Makes the builders of a run: each its own HTTP client (as on its own machine), one model of the tags. */
    static Supplier<SimulatedBuilder> factory(FleetRun run) {
        PublishedKeys tags = new PublishedKeys();
        return () -> new BuildahBuilder(run, tags);
    }

    /** The tag buildah gives the cached image of a step: the key's 64 hex characters. */
    static String tagOf(CacheKey key) {
        return key.digest().hex();
    }

    @Override
    public void connect() throws IOException, InterruptedException {
        registry.checkApi();
    }

    @Override
    public void build(BuildPlan plan, FleetStats stats) throws IOException, InterruptedException {
        String repository = run.namespace(plan.project());
        List<PlannedStep> image = new ArrayList<>();
        Set<Digest> onThisMachine = new HashSet<>();
        for (PlannedStep s : plan.steps()) {
            CacheKey key = s.key();
            boolean first = run.firstLookup(key);
            boolean publishedBefore = tags.isPublished(key);
            long t0 = System.nanoTime();
            Optional<OciRegistryClient.Manifest> cached = registry.getManifest(repository, tagOf(key), ACCEPT);
            stats.lookupMicros.recordValue((System.nanoTime() - t0) / 1000);
            Expectation expected = tags.expectation(key, publishedBefore);
            if (cached.isEmpty() && expected == Expectation.HIT) {
                stats.capacityMissLookups.increment(); // the tag was there: the node must count a capacity miss
            }
            stats.step(new FleetStats.StepLookup(repository + ":" + tagOf(key).substring(0, 12) + " "
                    + s.step().stepId(), s.layer().size(), first, expected, publishedBefore, cached.isPresent(),
                    Optional.empty()));
            image.add(s);
            if (cached.isPresent()) {
                pull(repository, cached.get(), image, onThisMachine, stats);
            } else {
                runAndPush(repository, s, image, onThisMachine, stats);
            }
        }
    }

    private void pull(String repository, OciRegistryClient.Manifest manifest, List<PlannedStep> image,
                      Set<Digest> onThisMachine, FleetStats stats) throws IOException, InterruptedException {
        JsonNode m = JSON.readTree(manifest.body());
        List<String> layers = new ArrayList<>();
        m.path("layers").forEach(l -> layers.add(l.path("digest").asText()));
        List<String> expected = image.stream().map(s -> s.layer().digest().toString()).toList();
        if (!layers.equals(expected)) {
            throw new IOException("the cached image of " + image.get(image.size() - 1).step().stepId()
                    + " lists layers " + layers + ", not " + expected);
        }
        if (run.config.referenceOnly) {
            return;
        }
        registry.getSmallBlob(repository, Digest.parse(m.path("config").path("digest").asText()));
        for (PlannedStep s : image) {
            if (onThisMachine.add(s.layer().digest())) {
                long t0 = System.nanoTime();
                stats.bytesDownloaded.add(registry.fetchBlob(repository, s.layer().digest(), s.layer().size()));
                stats.downloadMicros.recordValue((System.nanoTime() - t0) / 1000);
            }
        }
    }

    private void runAndPush(String repository, PlannedStep step, List<PlannedStep> image,
                            Set<Digest> onThisMachine, FleetStats stats) throws IOException, InterruptedException {
        Digest digest = step.layer().digest(); // "running" the step: its layer made and hashed
        onThisMachine.add(digest);
        List<Map<String, Object>> layerDescriptors = new ArrayList<>();
        List<String> diffIds = new ArrayList<>();
        List<Map<String, Object>> history = new ArrayList<>();
        for (PlannedStep s : image) {
            SyntheticLayer layer = s.layer();
            boolean present = registry.blobExists(repository, layer.digest());
            if (!present) {
                long t0 = System.nanoTime();
                registry.pushBlob(repository, layer.digest(), layer.size(), layer, UploadStyle.POST_PATCH_PUT);
                stats.uploadMicros.recordValue((System.nanoTime() - t0) / 1000);
                stats.blobsUploaded.increment();
                stats.bytesUploaded.add(layer.size());
            } else if (s == step) {
                stats.blobsAlreadyPresent.increment(); // another builder pushed the same layer
            }
            layerDescriptors.add(descriptor(SyntheticLayer.MEDIA_TYPE, layer.digest(), layer.size()));
            diffIds.add(layer.digest().toString());
            history.add(Map.of("created_by", s.step().instruction()));
        }
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("architecture", "amd64");
        config.put("os", "linux");
        config.put("config", Map.of());
        config.put("rootfs", Map.of("type", "layers", "diff_ids", diffIds));
        config.put("history", history);
        byte[] configBytes = JSON.writeValueAsBytes(config);
        Digest configDigest = Digest.sha256(configBytes);
        if (!registry.blobExists(repository, configDigest)) {
            registry.pushBlob(repository, configDigest, configBytes.length,
                    BlobSource.ofBytes(configBytes), UploadStyle.POST_PATCH_PUT);
        }
        Map<String, Object> manifest = new LinkedHashMap<>();
        manifest.put("schemaVersion", 2);
        manifest.put("mediaType", OCI_MANIFEST);
        manifest.put("config", descriptor(OCI_CONFIG, configDigest, configBytes.length));
        manifest.put("layers", layerDescriptors);

        tags.beginPublishing(step.key());
        boolean published = false;
        try {
            registry.putManifest(repository, tagOf(step.key()), OCI_MANIFEST, JSON.writeValueAsBytes(manifest));
            published = true;
        } finally {
            tags.endPublishing(step.key(), published);
        }
        run.published(new Publication(repository, tagOf(step.key()), step.key(), digest));
    }

    static Map<String, Object> descriptor(String mediaType, Digest digest, long size) {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("mediaType", mediaType);
        d.put("digest", digest.toString());
        d.put("size", size);
        return d;
    }

    @Override
    public void close() {
        // HttpClient has no close in Java 17; its connections go with it.
    }
}
