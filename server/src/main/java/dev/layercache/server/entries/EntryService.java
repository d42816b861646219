package dev.layercache.server.entries;

import com.google.protobuf.Timestamp;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.ExplainBuildResponse;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.api.v1.Lookup;
import dev.layercache.api.v1.LookupResult;
import dev.layercache.api.v1.MissExplanation;
import dev.layercache.api.v1.MissReason;
import dev.layercache.api.v1.StepIdentity;
import dev.layercache.api.v1.StepVerdict;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.retention.AccessTracker;
import dev.layercache.server.retention.ReferenceGuard;
import dev.layercache.server.core.Root;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.ReleaseIndex;
import dev.layercache.server.metadata.RepositoryIndex;
import dev.layercache.server.registry.BlobService;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Native cache entries: a key (the digest of a build step's parent key, instruction and inputs)
 * maps to the layers the step produced. Entries of a namespace may only name blobs the namespace
 * has. Every publication that carries a step identity is remembered per step, which is how
 * misses are explained ({@link MissClassifier}). Inputs arrive validated (value types).
 */
public final class EntryService {
    private final KeyValueStore kv;
    private final EntryStore store;
    private final RepositoryIndex repositories;
    private final ReleaseIndex releases;
    private final BlobService blobs;
    private final Clock clock;

    private final AccessTracker access;
    private final ReferenceGuard guard;

    public EntryService(KeyValueStore kv, BlobService blobs, Clock clock, AccessTracker access, ReferenceGuard guard) {
        this.access = access;
        this.guard = guard;
        this.kv = kv;
        this.store = new EntryStore(kv);
        this.repositories = new RepositoryIndex(kv);
        this.releases = new ReleaseIndex(kv);
        this.blobs = blobs;
        this.clock = clock;
    }

    /** The entry under {@code key}; on a miss, {@link EntryMissException} says why. */
    public Entry get(RepositoryName ns, Digest key, StepIdentity step) {
        LookupResult r = lookup(ns, key, step).result();
        if (r.hasEntry()) {
            return r.getEntry();
        }
        throw new EntryMissException(key.toString(), r.getMiss());
    }

    /**
     * One lookup: the entry or the explanation of the miss, and what it came to for the cache
     * (a hit, a miss, or a capacity miss when the key's entry was here and was evicted).
     */
    public EntryLookup lookup(RepositoryName ns, Digest key, StepIdentity step) {
        Entry entry = store.entry(ns, key);
        if (entry != null) {
            access.touch(new Root(Root.Kind.ENTRY, ns.toString(), key.toString()));
            return EntryLookup.of(LookupResult.newBuilder().setKey(key.toString()).setEntry(entry).build());
        }
        Entry last = step == null || step.getStepId().isEmpty() ? null : store.lastPublication(ns, step.getStepId());
        MissExplanation miss = MissClassifier.classify(key.toString(), step, last, store.wasRemoved(ns, key));
        return EntryLookup.of(LookupResult.newBuilder().setKey(key.toString()).setMiss(miss).build());
    }

    /**
     * Stores {@code entry} under its key, replacing any previous entry in one atomic write.
     * Every layer must be a blob of the namespace ({@link MissingBlobsException} otherwise).
     */
    public Entry put(RepositoryName ns, Digest key, Entry entry) {
        List<Digest> layers = new ArrayList<>();
        for (LayerDescriptor layer : entry.getLayersList()) {
            layers.add(Digest.parse(layer.getDigest()));
        }
        // Checked and committed under the layers' locks (see ReferenceGuard).
        Entry stored = guard.publishing(layers, () -> {
            List<Digest> missing = new ArrayList<>();
            for (Digest d : layers) {
                if (!blobs.holds(ns, d)) {
                    missing.add(d);
                }
            }
            if (!missing.isEmpty()) {
                throw new MissingBlobsException(ns.toString(), missing);
            }
            Instant now = clock.instant();
            Entry e = entry.toBuilder().setKey(key.toString())
                    .setCreatedAt(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()))
                    .build();
            KeyValueStore.Batch batch = kv.batch();
            store.putEntry(batch, ns, e);
            if (e.hasStep() && !e.getStep().getStepId().isEmpty()) {
                store.putPublication(batch, ns, e.toBuilder().clearLayers().clearAttributes().build());
            }
            repositories.put(batch, ns);
            batch.commit(true);
            return e;
        });
        access.touch(new Root(Root.Kind.ENTRY, ns.toString(), key.toString()));
        return stored;
    }

    /**
     * Removes the entry under {@code key}, leaving a tombstone so a later lookup of the key is
     * classified as {@code EVICTED}. The eviction of the lifecycle work calls this too.
     */
    public boolean delete(RepositoryName ns, Digest key) {
        return delete(ns, key, ReleaseIndex.Scope.DELETED);
    }

    /** Evicts the entry under {@code key} (the lifecycle): as {@link #delete}, releasing its layers as an eviction. */
    public boolean evict(RepositoryName ns, Digest key) {
        return delete(ns, key, ReleaseIndex.Scope.ROOT);
    }

    private boolean delete(RepositoryName ns, Digest key, ReleaseIndex.Scope release) {
        Entry entry = store.entry(ns, key);
        if (entry == null) {
            return false;
        }
        KeyValueStore.Batch batch = kv.batch();
        long now = clock.millis();
        store.removeEntry(batch, ns, key, now);
        // Its layers are released with it: collection need not wait out the grace period for
        // those no other root holds (see ReleaseIndex).
        for (LayerDescriptor layer : entry.getLayersList()) {
            if (Digest.isValid(layer.getDigest())) {
                releases.put(batch, Digest.parse(layer.getDigest()), now, release);
            }
        }
        batch.commit(true);
        return true;
    }

    /** Verdicts on a build's lookups, in build order, with the root cause and a summary. */
    public ExplainBuildResponse explain(RepositoryName ns, List<Digest> keys, List<Lookup> lookups) {
        ExplainBuildResponse.Builder out = ExplainBuildResponse.newBuilder().setRootCauseIndex(-1);
        for (int i = 0; i < keys.size(); i++) {
            StepIdentity step = lookups.get(i).hasStep() ? lookups.get(i).getStep() : null;
            LookupResult r = lookup(ns, keys.get(i), step).result();
            StepVerdict.Builder v = StepVerdict.newBuilder().setKey(r.getKey()).setHit(r.hasEntry());
            if (step != null) {
                v.setStepId(step.getStepId());
            }
            if (r.hasMiss()) {
                v.setMiss(r.getMiss());
                if (out.getRootCauseIndex() < 0 && isOwnReason(r.getMiss().getReason())) {
                    out.setRootCauseIndex(i);
                }
            }
            out.addSteps(v);
        }
        return out.setSummary(BuildSummary.of(out, lookups)).build();
    }

    private static boolean isOwnReason(MissReason reason) {
        return reason == MissReason.NEW_STEP || reason == MissReason.INPUTS_CHANGED || reason == MissReason.EVICTED;
    }
}
