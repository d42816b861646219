package dev.layercache.server.grpc;

import dev.layercache.api.v1.BatchGetEntriesRequest;
import dev.layercache.api.v1.BatchGetEntriesResponse;
import dev.layercache.api.v1.DeleteEntryRequest;
import dev.layercache.api.v1.DeleteEntryResponse;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.api.v1.ExplainBuildRequest;
import dev.layercache.api.v1.ExplainBuildResponse;
import dev.layercache.api.v1.GetEntryRequest;
import dev.layercache.api.v1.GetEntryResponse;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.api.v1.Lookup;
import dev.layercache.api.v1.LookupResult;
import dev.layercache.api.v1.PutEntryRequest;
import dev.layercache.api.v1.PutEntryResponse;
import dev.layercache.api.v1.StepIdentity;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.entries.EntryLookup;
import dev.layercache.server.entries.EntryMissException;
import dev.layercache.server.entries.EntryService;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;

/** {@code layercache.v1.EntryCache}: parse, validate, call {@link EntryService}, answer. */
final class EntryCacheGrpcService extends EntryCacheGrpc.EntryCacheImplBase {
    /** Lookups per batch or explained build. */
    static final int MAX_LOOKUPS = 1000;
    /** Attributes are meant to be small: a few KiB each at most, 64 KiB in all. */
    static final int MAX_ATTRIBUTE_BYTES = 64 << 10;
    static final int MAX_LAYERS = 1000;

    private final EntryService entries;
    private final GrpcMetrics metrics;

    EntryCacheGrpcService(EntryService entries, GrpcMetrics metrics) {
        this.entries = entries;
        this.metrics = metrics;
    }

    @Override
    public void getEntry(GetEntryRequest request, StreamObserver<GetEntryResponse> observer) {
        Calls.unary(observer, () -> {
            RepositoryName ns = Args.namespace(request.getNamespace());
            Digest key = Args.digest("key", request.getKey());
            StepIdentity step = request.hasStep() ? step("step", request.getStep()) : null;
            LookupResult result = counted(ns, key, step);
            if (!result.hasEntry()) {
                throw new EntryMissException(key.toString(), result.getMiss());
            }
            return GetEntryResponse.newBuilder().setEntry(result.getEntry()).build();
        });
    }

    @Override
    public void batchGetEntries(BatchGetEntriesRequest request, StreamObserver<BatchGetEntriesResponse> observer) {
        Calls.unary(observer, () -> {
            RepositoryName ns = Args.namespace(request.getNamespace());
            Args.check(request.getLookupsCount() <= MAX_LOOKUPS, "lookups", "at most " + MAX_LOOKUPS + " per call");
            List<Digest> keys = keys("lookups", request.getLookupsList());
            BatchGetEntriesResponse.Builder out = BatchGetEntriesResponse.newBuilder();
            for (int i = 0; i < keys.size(); i++) {
                Lookup l = request.getLookups(i);
                out.addResults(counted(ns, keys.get(i), l.hasStep() ? l.getStep() : null));
            }
            return out.build();
        });
    }

    @Override
    public void putEntry(PutEntryRequest request, StreamObserver<PutEntryResponse> observer) {
        Calls.unary(observer, () -> {
            RepositoryName ns = Args.namespace(request.getNamespace());
            Args.check(request.hasEntry(), "entry", "required");
            Entry entry = request.getEntry();
            Digest key = Args.digest("entry.key", entry.getKey());
            Args.check(entry.getLayersCount() <= MAX_LAYERS, "entry.layers", "at most " + MAX_LAYERS + " layers");
            for (int i = 0; i < entry.getLayersCount(); i++) {
                layer("entry.layers[" + i + "]", entry.getLayers(i));
            }
            int attributeBytes = 0;
            for (var a : entry.getAttributesMap().entrySet()) {
                attributeBytes += a.getKey().length() + a.getValue().length();
            }
            Args.check(attributeBytes <= MAX_ATTRIBUTE_BYTES, "entry.attributes",
                    "at most " + MAX_ATTRIBUTE_BYTES + " bytes in all");
            if (entry.hasStep()) {
                step("entry.step", entry.getStep());
            }
            return PutEntryResponse.newBuilder().setEntry(entries.put(ns, key, entry)).build();
        });
    }

    @Override
    public void deleteEntry(DeleteEntryRequest request, StreamObserver<DeleteEntryResponse> observer) {
        Calls.unary(observer, () -> {
            RepositoryName ns = Args.namespace(request.getNamespace());
            Digest key = Args.digest("key", request.getKey());
            return DeleteEntryResponse.newBuilder().setDeleted(entries.delete(ns, key)).build();
        });
    }

    @Override
    public void explainBuild(ExplainBuildRequest request, StreamObserver<ExplainBuildResponse> observer) {
        Calls.unary(observer, () -> {
            RepositoryName ns = Args.namespace(request.getNamespace());
            Args.check(request.getStepsCount() <= MAX_LOOKUPS, "steps", "at most " + MAX_LOOKUPS + " per call");
            List<Digest> keys = keys("steps", request.getStepsList());
            return entries.explain(ns, keys, request.getStepsList());
        });
    }

    /** A lookup, handed to the recorder (ExplainBuild's lookups are questions about a build, not lookups). */
    private LookupResult counted(RepositoryName ns, Digest key, StepIdentity step) {
        EntryLookup lookup = entries.lookup(ns, key, step);
        metrics.entry(ns, step, lookup);
        return lookup.result();
    }

    private static List<Digest> keys(String field, List<Lookup> lookups) {
        List<Digest> keys = new ArrayList<>(lookups.size());
        for (int i = 0; i < lookups.size(); i++) {
            keys.add(Args.digest(field + "[" + i + "].key", lookups.get(i).getKey()));
            if (lookups.get(i).hasStep()) {
                step(field + "[" + i + "].step", lookups.get(i).getStep());
            }
        }
        return keys;
    }

    private static void layer(String field, LayerDescriptor layer) {
        Args.digest(field + ".digest", layer.getDigest());
        Args.check(layer.getSize() >= 0, field + ".size", "must not be negative");
        if (!layer.getUncompressedDigest().isEmpty()) {
            Args.digest(field + ".uncompressed_digest", layer.getUncompressedDigest());
        }
    }

    private static StepIdentity step(String field, StepIdentity step) {
        Args.check(step.getStepId().length() <= 1024, field + ".step_id", "at most 1024 characters");
        Args.check(step.getInstruction().length() <= 64 << 10, field + ".instruction", "at most 64 KiB");
        if (!step.getParentKey().isEmpty()) {
            Args.digest(field + ".parent_key", step.getParentKey());
        }
        for (int i = 0; i < step.getInputsCount(); i++) {
            Args.digest(field + ".inputs[" + i + "].digest", step.getInputs(i).getDigest());
        }
        return step;
    }
}
