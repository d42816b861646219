package dev.layercache.loadtest;

import dev.layercache.client.BuildCache;
import dev.layercache.client.CacheEntry;
import dev.layercache.client.CacheKey;
import dev.layercache.client.Digest;
import dev.layercache.client.Layer;
import dev.layercache.client.LayerCacheClient;
import dev.layercache.client.LookupResult;
import dev.layercache.client.MissExplanation;
import dev.layercache.client.MissReason;
import dev.layercache.loadtest.FleetRun.Publication;
import dev.layercache.loadtest.FleetWorkload.BuildPlan;
import dev.layercache.loadtest.FleetWorkload.PlannedStep;
import java.io.IOException;
import java.io.OutputStream;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * Builds through layercache's Java client library, as a builder written against it would: for
 * each step, a lookup with the step's identity ({@link BuildCache#lookup}, so that the server
 * explains a miss); on a hit the entry's layer is downloaded (verified by the client) or, with
 * {@code --reference-only}, only referenced; on a miss the step "runs" (its layer is generated
 * and hashed), the layer is uploaded unless the namespace has it, and the entry is published
 * with the step's identity and parent key.
 *
 * <p>Layers stream from their generator ({@link SyntheticLayer} is a {@code BlobSource}) rather
 * than through {@link BuildCache#publish} and {@link BuildCache#fetchLayers}, which work on
 * files: the simulator writes no layer to disk.
 *
 * <p>Besides hit or miss, the server's reason for each miss is checked against the model of its
 * record of each step id's last publication (see {@link OverwrittenValue}).
 */
final class GrpcBuilder implements SimulatedBuilder {
    private final FleetRun run;
    private final Model model;
    private final LayerCacheClient client;

    /** What the server remembers of a step id's last publication: the key and its parent. */
    private record LastPublication(CacheKey key, Optional<CacheKey> parent) {
    }

    /** The model of the server that the builders of a run share: its entries and its step records. */
    private static final class Model {
        final PublishedKeys entries = new PublishedKeys();
        /** By namespace and step id, as the server keeps them. */
        final ConcurrentHashMap<String, OverwrittenValue<Optional<LastPublication>>> lastPublications =
                new ConcurrentHashMap<>();
    }

    private GrpcBuilder(FleetRun run, Model model) {
        this.run = run;
        this.model = model;
        this.client = LayerCacheClient.builder().target(run.config.grpcTarget).plaintext().build();
    }

    /**
     * Makes the builders of a run: each its own client (its own connection, as on its own
     * machine: one HTTP/2 connection shared by all would queue lookups behind other builders'
     * layers), all one model of the server.
     */
    static Supplier<SimulatedBuilder> factory(FleetRun run) {
        Model model = new Model();
        return () -> new GrpcBuilder(run, model);
    }

    /** A {@code StatBlob} (of the empty blob, whatever the answer): the channel connects, the classes load. */
    @Override
    public void connect() {
        client.statBlob(run.namespace(0), Digest.sha256(new byte[0]));
    }

    @Override
    public void build(BuildPlan plan, FleetStats stats) throws IOException {
        String namespace = run.namespace(plan.project());
        BuildCache cache = BuildCache.builder(client, namespace).build();
        for (PlannedStep s : plan.steps()) {
            CacheKey key = s.key();
            OverwrittenValue<Optional<LastPublication>> lastPublication = model.lastPublications.computeIfAbsent(
                    namespace + " " + s.step().stepId(), id -> new OverwrittenValue<>(Optional.empty()));
            boolean first = run.firstLookup(key);
            boolean publishedBefore = model.entries.isPublished(key);
            OverwrittenValue.Observation<Optional<LastPublication>> observation = lastPublication.beginObservation();
            long t0 = System.nanoTime();
            LookupResult result = cache.lookup(s.step());
            stats.lookupMicros.recordValue((System.nanoTime() - t0) / 1000);
            Expectation expected = model.entries.expectation(key, publishedBefore);
            List<Optional<LastPublication>> possibleLast = lastPublication.endObservation(observation);

            Optional<MissReason> reason = result.miss().map(MissExplanation::reason);
            String description = namespace + " " + s.step().stepId() + " " + key.shortForm();
            stats.step(new FleetStats.StepLookup(description, s.layer().size(), first, expected, publishedBefore,
                    result.isHit(), reason));
            if (reason.orElse(null) == MissReason.EVICTED) {
                stats.capacityMissLookups.increment();
            }
            if (reason.isPresent()) {
                Set<MissReason> possibleReasons = possibleLast.stream().map(last -> reasonAgainst(s, last))
                        .collect(Collectors.toCollection(HashSet::new));
                if (run.config.evicting && model.entries.publishingBegan(key)) {
                    // The key was published and may have been evicted since: the server remembers
                    // that, whatever the step id published after it.
                    possibleReasons.add(MissReason.EVICTED);
                }
                if (!possibleReasons.contains(reason.get())) {
                    stats.reasonMismatch(description + ": server said " + reason.get() + ", expected one of "
                            + possibleReasons);
                }
            }
            if (result.isHit()) {
                fetch(namespace, s, result.entry().orElseThrow(), stats);
            } else {
                runAndPublish(namespace, s, lastPublication, stats);
            }
        }
    }

    /** The reason the server must give for a miss of {@code s} if the step id's last publication was {@code last}. */
    private static MissReason reasonAgainst(PlannedStep s, Optional<LastPublication> last) {
        if (last.isEmpty()) {
            return MissReason.NEW_STEP;
        }
        if (last.get().key().equals(s.key())) {
            return MissReason.EVICTED;
        }
        return last.get().parent().equals(s.step().parentKey()) ? MissReason.INPUTS_CHANGED
                : MissReason.PARENT_CHANGED;
    }

    private void fetch(String namespace, PlannedStep s, CacheEntry entry, FleetStats stats) throws IOException {
        Digest expected = s.layer().digest();
        if (entry.layers().size() != 1 || !entry.layers().get(0).digest().equals(expected)
                || entry.layers().get(0).size() != s.layer().size()) {
            throw new IOException("the entry of " + s.step().stepId() + " " + s.key().shortForm() + " lists "
                    + entry.layers() + ", not its one layer " + expected + " of " + s.layer().size() + " bytes");
        }
        if (!run.config.referenceOnly) {
            // The client verifies the SHA-256 as the bytes arrive; the bytes themselves are not needed.
            long t0 = System.nanoTime();
            stats.bytesDownloaded.add(client.downloadBlob(namespace, expected, OutputStream.nullOutputStream()));
            stats.downloadMicros.recordValue((System.nanoTime() - t0) / 1000);
        }
    }

    private void runAndPublish(String namespace, PlannedStep s,
                               OverwrittenValue<Optional<LastPublication>> lastPublication, FleetStats stats)
            throws IOException {
        SyntheticLayer layer = s.layer();
        Digest digest = layer.digest(); // "running" the step: its layer made and hashed
        long t0 = System.nanoTime();
        if (client.uploadBlob(namespace, digest, layer.size(), layer)) {
            stats.uploadMicros.recordValue((System.nanoTime() - t0) / 1000);
            stats.blobsUploaded.increment();
            stats.bytesUploaded.add(layer.size());
        } else {
            stats.blobsAlreadyPresent.increment();
        }
        CacheEntry entry = CacheEntry.builder(s.step())
                .layer(Layer.of(digest, layer.size(), SyntheticLayer.MEDIA_TYPE))
                .attribute("created_by", s.step().instruction())
                .build();
        model.entries.beginPublishing(s.key());
        long write = lastPublication.beginWrite(Optional.of(new LastPublication(s.key(), s.step().parentKey())));
        boolean published = false;
        try {
            client.putEntry(namespace, entry);
            published = true;
        } finally {
            lastPublication.endWrite(write, published);
            model.entries.endPublishing(s.key(), published);
        }
        run.published(new Publication(namespace, s.key().toString(), s.key(), digest));
    }

    @Override
    public void close() {
        client.close();
    }
}
