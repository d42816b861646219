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
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * Builds the way BuildKit's registry cache does ({@code --cache-from type=registry,ref=R:buildcache
 * --cache-to type=registry,ref=R:buildcache,mode=max}), after its sources
 * ({@code cache/remotecache}: {@code v1/spec.go}, {@code v1/doc.go}, {@code export.go}):
 *
 * <ul>
 *   <li>At the start of a build, the cache is imported: {@code HEAD} of the ref (containerd
 *       resolves a tag so, with one comma-joined {@code Accept}), {@code GET} of the manifest by
 *       digest, {@code GET} of its cache config blob. A step whose key has a record there hits;
 *       its layer is downloaded (or, with {@code --reference-only}, only referenced).</li>
 *   <li>At the end the cache is exported, all steps of the build ({@code mode=max}): each layer
 *       that the repository lacks ({@code HEAD} first) pushed with {@code POST} and one
 *       {@code PUT ?digest=} carrying the body, then the cache config, then an OCI image index
 *       listing the layers and the config, {@code PUT} over the ref.</li>
 * </ul>
 *
 * <p>The cache config ({@value #CACHE_CONFIG}) has one layer per step, each the parent of the
 * next, and one record per step: its key as the record digest, its layer, and a link to the
 * record of the step before. The ref holds only the last export: a build that finishes after a
 * newer one takes the newer one's keys off the ref. The model is an {@link OverwrittenValue} of
 * the set of keys the ref lists.
 */
final class BuildKitBuilder implements SimulatedBuilder {
    static final String CACHE_CONFIG = "application/vnd.buildkit.cacheconfig.v0";
    static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
    /** The tag of the cache ref in each project's repository. */
    static final String REF = "buildcache";
    private static final String ACCEPT = String.join(", ", BuildahBuilder.OCI_MANIFEST, OCI_INDEX,
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json", "*/*");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final FleetRun run;
    private final Model model;
    private final OciRegistryClient registry;

    /** The model of the registry that the builders of a run share: each project's ref, and every key ever exported. */
    private static final class Model {
        final Map<Integer, OverwrittenValue<Set<CacheKey>>> refs = new ConcurrentHashMap<>();
        final Set<CacheKey> everExported = ConcurrentHashMap.newKeySet();
    }

    private BuildKitBuilder(FleetRun run, Model model) {
        this.run = run;
        this.model = model;
        this.registry = new OciRegistryClient(run.config.registry);
    }

    /** Makes the builders of a run: each its own HTTP client (as on its own machine), one model of the refs. */
    static Supplier<SimulatedBuilder> factory(FleetRun run) {
        Model model = new Model();
        return () -> new BuildKitBuilder(run, model);
    }

    /** A step's result as the imported cache config lists it. */
    private record CachedLayer(Digest blob, long size, String createdAt) {
    }

    @Override
    public void connect() throws IOException, InterruptedException {
        registry.checkApi();
    }

    @Override
    public void build(BuildPlan plan, FleetStats stats) throws IOException, InterruptedException {
        String repository = run.namespace(plan.project());
        OverwrittenValue<Set<CacheKey>> ref = model.refs.computeIfAbsent(plan.project(),
                p -> new OverwrittenValue<>(Set.of()));
        int n = plan.steps().size();
        boolean[] first = new boolean[n];
        boolean[] exportedBefore = new boolean[n];
        for (PlannedStep s : plan.steps()) {
            first[s.index()] = run.firstLookup(s.key());
            exportedBefore[s.index()] = model.everExported.contains(s.key());
        }
        OverwrittenValue.Observation<Set<CacheKey>> observation = ref.beginObservation();
        long t0 = System.nanoTime();
        Imported imported = importCache(repository);
        stats.lookupMicros.recordValue((System.nanoTime() - t0) / 1000);
        List<Set<CacheKey>> possible = ref.endObservation(observation);

        String now = Instant.now().toString();
        List<String> createdAt = new ArrayList<>();
        boolean[] hit = new boolean[n];
        boolean hitExpected = false;
        for (PlannedStep s : plan.steps()) {
            CachedLayer cached = imported.records().get(s.key());
            Expectation expected = Expectation.over(possible, keys -> keys.contains(s.key()));
            hitExpected |= expected == Expectation.HIT;
            stats.step(new FleetStats.StepLookup(repository + ":" + REF + " " + s.step().stepId() + " "
                    + s.key().shortForm(), s.layer().size(), first[s.index()], expected, exportedBefore[s.index()],
                    cached != null, Optional.empty()));
            hit[s.index()] = cached != null;
            if (cached != null) {
                fetch(repository, s, cached, stats);
                createdAt.add(cached.createdAt());
            } else {
                s.layer().digest(); // "running" the step: its layer made and hashed
                createdAt.add(now);
            }
        }
        if (imported.refAbsent() && hitExpected) {
            stats.capacityMissLookups.increment(); // the ref was there: the node must count a capacity miss
        }
        export(repository, plan, hit, createdAt, ref, stats);
    }

    /**
     * What an import found.
     *
     * @param refAbsent whether the {@code HEAD} of the ref answered 404
     * @param records the records of the ref's cache config by key
     */
    private record Imported(boolean refAbsent, Map<CacheKey, CachedLayer> records) {
    }

    /**
     * The records of the ref's cache config by key; none when the ref does not exist (yet, or,
     * against a cache that evicts, any more: then also when its index or config went between
     * the requests, which BuildKit takes as a failed import and builds without the cache).
     */
    private Imported importCache(String repository) throws IOException, InterruptedException {
        Optional<String> digest = registry.headManifest(repository, REF, ACCEPT);
        if (digest.isEmpty()) {
            return new Imported(true, Map.of());
        }
        boolean evicting = run.config.evicting;
        String reference = digest.get().isEmpty() ? REF : digest.get(); // a registry without Docker-Content-Digest
        Optional<OciRegistryClient.Manifest> found = registry.getManifest(repository, reference, List.of(ACCEPT));
        if (found.isEmpty() && evicting) {
            return new Imported(false, Map.of());
        }
        OciRegistryClient.Manifest index = found
                .orElseThrow(() -> new IOException(repository + "@" + reference + " vanished after its HEAD"));
        JsonNode manifests = JSON.readTree(index.body()).path("manifests");
        Map<String, Long> sizes = new HashMap<>();
        String config = null;
        for (JsonNode d : manifests) {
            if (CACHE_CONFIG.equals(d.path("mediaType").asText())) {
                config = d.path("digest").asText();
            } else {
                sizes.put(d.path("digest").asText(), d.path("size").asLong());
            }
        }
        if (config == null) {
            throw new IOException(repository + ":" + REF + " has no " + CACHE_CONFIG + " descriptor");
        }
        Optional<byte[]> configBytes = registry.findSmallBlob(repository, Digest.parse(config), evicting);
        if (configBytes.isEmpty()) {
            return new Imported(false, Map.of());
        }
        JsonNode cacheConfig = JSON.readTree(configBytes.get());
        List<String> layerBlobs = new ArrayList<>();
        cacheConfig.path("layers").forEach(l -> layerBlobs.add(l.path("blob").asText()));
        Map<CacheKey, CachedLayer> records = new HashMap<>();
        for (JsonNode r : cacheConfig.path("records")) {
            JsonNode result = r.path("layers").path(0);
            if (result.isMissingNode()) {
                continue;
            }
            String blob = layerBlobs.get(result.path("layer").asInt());
            records.put(CacheKey.parse(r.path("digest").asText()), new CachedLayer(Digest.parse(blob),
                    sizes.getOrDefault(blob, -1L), result.path("createdAt").asText()));
        }
        return new Imported(false, records);
    }

    private void fetch(String repository, PlannedStep s, CachedLayer cached, FleetStats stats)
            throws IOException, InterruptedException {
        if (!cached.blob().equals(s.layer().digest()) || cached.size() != s.layer().size()) {
            throw new IOException("the cache record of " + s.step().stepId() + " " + s.key().shortForm()
                    + " has layer " + cached.blob() + " of " + cached.size() + " bytes, not " + s.layer().digest()
                    + " of " + s.layer().size());
        }
        if (!run.config.referenceOnly) {
            long t0 = System.nanoTime();
            stats.bytesDownloaded.add(registry.fetchBlob(repository, cached.blob(), cached.size()));
            stats.downloadMicros.recordValue((System.nanoTime() - t0) / 1000);
        }
    }

    private void export(String repository, BuildPlan plan, boolean[] hit, List<String> createdAt,
                        OverwrittenValue<Set<CacheKey>> ref, FleetStats stats) throws IOException, InterruptedException {
        List<Map<String, Object>> layers = new ArrayList<>();
        List<Map<String, Object>> records = new ArrayList<>();
        List<Map<String, Object>> descriptors = new ArrayList<>();
        for (PlannedStep s : plan.steps()) {
            SyntheticLayer layer = s.layer();
            if (!registry.blobExists(repository, layer.digest())) {
                long t0 = System.nanoTime();
                registry.pushBlob(repository, layer.digest(), layer.size(), layer, UploadStyle.POST_PUT);
                stats.uploadMicros.recordValue((System.nanoTime() - t0) / 1000);
                stats.blobsUploaded.increment();
                stats.bytesUploaded.add(layer.size());
            } else if (!hit[s.index()]) {
                stats.blobsAlreadyPresent.increment(); // another builder pushed the same layer
            }
            int i = s.index();
            Map<String, Object> l = new LinkedHashMap<>();
            l.put("blob", layer.digest().toString());
            l.put("parent", i - 1);
            layers.add(l);
            Map<String, Object> record = new LinkedHashMap<>();
            record.put("layers", List.of(Map.of("layer", i, "createdAt", createdAt.get(i))));
            record.put("digest", s.key().toString());
            if (i > 0) {
                record.put("inputs", List.of(List.of(Map.of("link", i - 1))));
            }
            records.add(record);
            Map<String, Object> d = BuildahBuilder.descriptor(SyntheticLayer.MEDIA_TYPE, layer.digest(), layer.size());
            d.put("annotations", Map.of("buildkit/createdat", createdAt.get(i),
                    "containerd.io/uncompressed", layer.digest().toString()));
            descriptors.add(d);
        }
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("layers", layers);
        config.put("records", records);
        byte[] configBytes = JSON.writeValueAsBytes(config);
        Digest configDigest = Digest.sha256(configBytes);
        if (!registry.blobExists(repository, configDigest)) {
            registry.pushBlob(repository, configDigest, configBytes.length, BlobSource.ofBytes(configBytes),
                    UploadStyle.POST_PUT);
        }
        descriptors.add(BuildahBuilder.descriptor(CACHE_CONFIG, configDigest, configBytes.length));
        Map<String, Object> index = new LinkedHashMap<>();
        index.put("schemaVersion", 2);
        index.put("mediaType", OCI_INDEX);
        index.put("manifests", descriptors);

        Set<CacheKey> keys = plan.steps().stream().map(PlannedStep::key).collect(Collectors.toUnmodifiableSet());
        model.everExported.addAll(keys);
        long write = ref.beginWrite(keys);
        boolean exported = false;
        try {
            registry.putManifest(repository, REF, OCI_INDEX, JSON.writeValueAsBytes(index));
            exported = true;
        } finally {
            ref.endWrite(write, exported);
        }
        for (PlannedStep s : plan.steps()) {
            run.published(new Publication(repository, REF, s.key(), s.layer().digest()));
        }
    }

    @Override
    public void close() {
        // HttpClient has no close in Java 17; its connections go with it.
    }
}
