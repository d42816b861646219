package dev.layercache.client.internal;

import com.google.protobuf.Timestamp;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.api.v1.StepIdentity;
import dev.layercache.client.BuildExplanation;
import dev.layercache.client.CacheEntry;
import dev.layercache.client.CacheKey;
import dev.layercache.client.Digest;
import dev.layercache.client.InputChange;
import dev.layercache.client.Layer;
import dev.layercache.client.Lookup;
import dev.layercache.client.LookupResult;
import dev.layercache.client.MissExplanation;
import dev.layercache.client.MissReason;
import dev.layercache.client.Step;
import dev.layercache.client.StepInput;
import dev.layercache.client.StepVerdict;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/** Conversions between the public value types and the generated messages. */
public final class Protos {
    private Protos() {
    }

    public static StepIdentity toProto(Step step) {
        StepIdentity.Builder b = StepIdentity.newBuilder()
                .setStepId(step.stepId())
                .setParentKey(step.parentKey().map(CacheKey::toString).orElse(""))
                .setInstruction(step.instruction());
        for (StepInput in : step.inputs()) {
            b.addInputs(dev.layercache.api.v1.StepInput.newBuilder()
                    .setPath(in.path()).setMode(in.mode()).setDigest(in.digest().toString()));
        }
        return b.build();
    }

    /** The step of a server answer; empty when the server's fields are not a valid step. */
    public static Optional<Step> fromProto(StepIdentity s) {
        if (s.getStepId().isEmpty() && s.getParentKey().isEmpty() && s.getInstruction().isEmpty()
                && s.getInputsCount() == 0) {
            return Optional.empty();
        }
        try {
            Step.Builder b = Step.builder(s.getStepId()).parent(optionalKey(s.getParentKey()))
                    .instruction(s.getInstruction());
            for (dev.layercache.api.v1.StepInput in : s.getInputsList()) {
                b.input(StepInput.of(in.getPath(), in.getMode(), Digest.parse(in.getDigest())));
            }
            return Optional.of(b.build());
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    public static dev.layercache.api.v1.Lookup toProto(Lookup lookup) {
        dev.layercache.api.v1.Lookup.Builder b = dev.layercache.api.v1.Lookup.newBuilder()
                .setKey(lookup.key().toString());
        lookup.step().ifPresent(s -> b.setStep(toProto(s)));
        return b.build();
    }

    public static Lookup fromProto(dev.layercache.api.v1.Lookup lookup) {
        CacheKey key = CacheKey.parse(lookup.getKey());
        return new Lookup(key, lookup.hasStep() ? fromProto(lookup.getStep()) : Optional.empty());
    }

    public static Entry toProto(CacheEntry entry) {
        Entry.Builder b = Entry.newBuilder().setKey(entry.key().toString()).putAllAttributes(entry.attributes());
        for (Layer layer : entry.layers()) {
            b.addLayers(toProto(layer));
        }
        entry.step().ifPresent(s -> b.setStep(toProto(s)));
        return b.build();
    }

    public static LayerDescriptor toProto(Layer layer) {
        return LayerDescriptor.newBuilder().setDigest(layer.digest().toString()).setSize(layer.size())
                .setMediaType(layer.mediaType())
                .setUncompressedDigest(layer.uncompressedDigest().map(Digest::toString).orElse(""))
                .build();
    }

    public static CacheEntry fromProto(Entry e) {
        List<Layer> layers = new ArrayList<>(e.getLayersCount());
        for (LayerDescriptor d : e.getLayersList()) {
            layers.add(new Layer(Digest.parse(d.getDigest()), d.getSize(), d.getMediaType(),
                    optionalDigest(d.getUncompressedDigest())));
        }
        return new CacheEntry(CacheKey.parse(e.getKey()), layers, e.getAttributesMap(),
                e.hasStep() ? fromProto(e.getStep()) : Optional.empty(),
                e.hasCreatedAt() ? Optional.of(toInstant(e.getCreatedAt())) : Optional.empty());
    }

    public static MissExplanation fromProto(dev.layercache.api.v1.MissExplanation m) {
        List<InputChange> changes = new ArrayList<>(m.getInputChangesCount());
        for (dev.layercache.api.v1.InputChange c : m.getInputChangesList()) {
            InputChange.Kind kind = switch (c.getKind()) {
                case ADDED -> InputChange.Kind.ADDED;
                case REMOVED -> InputChange.Kind.REMOVED;
                case MODIFIED -> InputChange.Kind.MODIFIED;
                default -> InputChange.Kind.UNKNOWN;
            };
            changes.add(new InputChange(kind, c.getPath(), optionalDigest(c.getPreviousDigest()),
                    optionalDigest(c.getDigest())));
        }
        return new MissExplanation(fromProto(m.getReason()), m.getStepId(), optionalKey(m.getPreviousKey()),
                optionalKey(m.getPreviousParentKey()),
                m.getPreviousInstruction().isEmpty() ? Optional.empty() : Optional.of(m.getPreviousInstruction()),
                m.getInstructionChanged(), changes);
    }

    public static MissReason fromProto(dev.layercache.api.v1.MissReason reason) {
        return switch (reason) {
            case NEW_STEP -> MissReason.NEW_STEP;
            case INPUTS_CHANGED -> MissReason.INPUTS_CHANGED;
            case PARENT_CHANGED -> MissReason.PARENT_CHANGED;
            case EVICTED -> MissReason.EVICTED;
            default -> MissReason.UNSPECIFIED;
        };
    }

    /** A miss the server gave no explanation for. */
    public static MissExplanation unexplained(Lookup lookup) {
        return new MissExplanation(MissReason.UNSPECIFIED, lookup.step().map(Step::stepId).orElse(""),
                Optional.empty(), Optional.empty(), Optional.empty(), false, List.of());
    }

    public static LookupResult fromProto(dev.layercache.api.v1.LookupResult r, Lookup lookup) {
        if (r.hasEntry()) {
            return LookupResult.hit(fromProto(r.getEntry()));
        }
        return LookupResult.miss(lookup.key(), r.hasMiss() ? fromProto(r.getMiss()) : unexplained(lookup));
    }

    public static BuildExplanation fromProto(dev.layercache.api.v1.ExplainBuildResponse response,
                                             List<Lookup> lookups) {
        List<StepVerdict> verdicts = new ArrayList<>(response.getStepsCount());
        for (int i = 0; i < response.getStepsCount(); i++) {
            dev.layercache.api.v1.StepVerdict v = response.getSteps(i);
            Lookup lookup = i < lookups.size() ? lookups.get(i) : null;
            String instruction = lookup == null ? "" : lookup.step().map(Step::instruction).orElse("");
            CacheKey key = v.getKey().isEmpty() && lookup != null ? lookup.key() : CacheKey.parse(v.getKey());
            String stepId = v.getStepId().isEmpty() && lookup != null
                    ? lookup.step().map(Step::stepId).orElse("") : v.getStepId();
            Optional<MissExplanation> miss = v.getHit() ? Optional.empty()
                    : Optional.of(v.hasMiss() ? fromProto(v.getMiss())
                            : lookup == null ? new MissExplanation(MissReason.UNSPECIFIED, stepId, Optional.empty(),
                                    Optional.empty(), Optional.empty(), false, List.of()) : unexplained(lookup));
            verdicts.add(new StepVerdict(key, stepId, instruction, v.getHit(), miss));
        }
        int root = response.getRootCauseIndex();
        return new BuildExplanation(verdicts, root >= 0 && root < verdicts.size() ? OptionalInt.of(root)
                : OptionalInt.empty(), response.getSummary());
    }

    public static Instant toInstant(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
    }

    public static Optional<CacheKey> optionalKey(String s) {
        return s.isEmpty() ? Optional.empty() : Optional.of(CacheKey.parse(s));
    }

    public static Optional<Digest> optionalDigest(String s) {
        return s.isEmpty() ? Optional.empty() : Optional.of(Digest.parse(s));
    }
}
