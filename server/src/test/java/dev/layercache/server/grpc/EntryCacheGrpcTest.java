package dev.layercache.server.grpc;

import static dev.layercache.server.grpc.GrpcTestSupport.assertStatus;
import static dev.layercache.server.grpc.GrpcTestSupport.detail;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.rpc.BadRequest;
import com.google.rpc.PreconditionFailure;
import dev.layercache.api.v1.BatchGetEntriesRequest;
import dev.layercache.api.v1.BatchGetEntriesResponse;
import dev.layercache.api.v1.DeleteEntryRequest;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.ExplainBuildRequest;
import dev.layercache.api.v1.ExplainBuildResponse;
import dev.layercache.api.v1.GetEntryRequest;
import dev.layercache.api.v1.InputChange;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.api.v1.Lookup;
import dev.layercache.api.v1.MissExplanation;
import dev.layercache.api.v1.MissReason;
import dev.layercache.api.v1.PutEntryRequest;
import dev.layercache.api.v1.StepIdentity;
import dev.layercache.api.v1.StepInput;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServices;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class EntryCacheGrpcTest {
    @RegisterExtension
    static final TestServices services = new TestServices();
    private static GrpcTestSupport grpc;

    @BeforeAll
    static void connect() throws Exception {
        grpc = new GrpcTestSupport(services.grpc());
    }

    @AfterAll
    static void disconnect() throws InterruptedException {
        grpc.close();
    }

    private static String key(String seed) {
        return Registry.sha256(seed.getBytes(StandardCharsets.UTF_8));
    }

    /** A layer pushed through the OCI API: one store serves both surfaces. */
    private static LayerDescriptor layer(String ns, String content) throws Exception {
        byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
        assertEquals(201, services.http().exchange("POST", "/v2/" + ns + "/blobs/uploads/?digest="
                + Registry.sha256(bytes), List.of("Content-Type: application/octet-stream"), bytes).status());
        return LayerDescriptor.newBuilder().setDigest(Registry.sha256(bytes)).setSize(bytes.length)
                .setMediaType("application/vnd.oci.image.layer.v1.tar+gzip")
                .setUncompressedDigest(key("diff " + content)).build();
    }

    private static StepIdentity step(String id, String parent, String instruction, String... inputs) {
        StepIdentity.Builder s = StepIdentity.newBuilder().setStepId(id).setParentKey(parent).setInstruction(instruction);
        for (String input : inputs) {
            String[] kv = input.split("=");
            s.addInputs(StepInput.newBuilder().setPath(kv[0]).setMode(0644).setDigest(key(kv[1])));
        }
        return s.build();
    }

    private static Entry put(String ns, String key, StepIdentity step, LayerDescriptor... layers) {
        Entry.Builder e = Entry.newBuilder().setKey(key).putAttributes("created-by", "test");
        for (LayerDescriptor l : layers) {
            e.addLayers(l);
        }
        if (step != null) {
            e.setStep(step);
        }
        return grpc.entries.putEntry(PutEntryRequest.newBuilder().setNamespace(ns).setEntry(e).build()).getEntry();
    }

    private static MissExplanation miss(String ns, String key, StepIdentity step) {
        GetEntryRequest.Builder r = GetEntryRequest.newBuilder().setNamespace(ns).setKey(key);
        if (step != null) {
            r.setStep(step);
        }
        StatusRuntimeException e = assertStatus(Status.Code.NOT_FOUND, () -> grpc.entries.getEntry(r.build()));
        return detail(e, MissExplanation.class);
    }

    @Test
    void putThenGetReturnsTheEntryWithItsTime() throws Exception {
        LayerDescriptor l1 = layer("grpc/entries", "layer one");
        LayerDescriptor l2 = layer("grpc/entries", "layer two");
        String k = key("put-get");
        Entry stored = put("grpc/entries", k, step("app#1", "", "RUN make"), l1, l2);
        assertTrue(stored.getCreatedAt().getSeconds() > 0);
        Entry got = grpc.entries.getEntry(GetEntryRequest.newBuilder().setNamespace("grpc/entries").setKey(k).build())
                .getEntry();
        assertEquals(stored, got);
        assertEquals(List.of(l1, l2), got.getLayersList());
        assertEquals("test", got.getAttributesOrThrow("created-by"));
    }

    @Test
    void republishingAKeyReplacesItsEntry() throws Exception {
        String k = key("replace");
        put("grpc/entries", k, null, layer("grpc/entries", "old"));
        LayerDescriptor fresh = layer("grpc/entries", "new");
        put("grpc/entries", k, null, fresh);
        assertEquals(List.of(fresh), grpc.entries.getEntry(GetEntryRequest.newBuilder()
                .setNamespace("grpc/entries").setKey(k).build()).getEntry().getLayersList());
    }

    @Test
    void layersMustBeInTheNamespace() throws Exception {
        LayerDescriptor elsewhere = layer("grpc/other", "only in other");
        String ghost = key("never pushed");
        StatusRuntimeException e = assertStatus(Status.Code.FAILED_PRECONDITION, () -> put("grpc/entries",
                key("missing"), null, elsewhere, elsewhere.toBuilder().setDigest(ghost).build()));
        PreconditionFailure failure = detail(e, PreconditionFailure.class);
        assertEquals(List.of("blobs/" + elsewhere.getDigest(), "blobs/" + ghost),
                failure.getViolationsList().stream().map(PreconditionFailure.Violation::getSubject).toList());
        assertEquals("MISSING", failure.getViolations(0).getType());
        assertEquals(MissReason.MISS_REASON_UNSPECIFIED, miss("grpc/entries", key("missing"), null).getReason(),
                "nothing was stored");
    }

    @Test
    void malformedFieldsAreNamed() {
        StatusRuntimeException e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> grpc.entries.getEntry(
                GetEntryRequest.newBuilder().setNamespace("grpc/entries").setKey("sha256:nothex").build()));
        assertEquals("key", detail(e, BadRequest.class).getFieldViolations(0).getField());
        e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> grpc.entries.getEntry(
                GetEntryRequest.newBuilder().setNamespace("Bad/../Name").setKey(key("x")).build()));
        assertEquals("namespace", detail(e, BadRequest.class).getFieldViolations(0).getField());
        e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> put("grpc/entries", key("bad layer"), null,
                LayerDescriptor.newBuilder().setDigest("md5:abc").setSize(1).build()));
        assertEquals("entry.layers[0].digest", detail(e, BadRequest.class).getFieldViolations(0).getField());
        e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> put("grpc/entries", key("bad parent"),
                step("s", "not-a-key", "RUN x")));
        assertEquals("entry.step.parent_key", detail(e, BadRequest.class).getFieldViolations(0).getField());
        e = assertStatus(Status.Code.INVALID_ARGUMENT, () -> grpc.entries.putEntry(
                PutEntryRequest.newBuilder().setNamespace("grpc/entries").build()));
        assertEquals("entry", detail(e, BadRequest.class).getFieldViolations(0).getField());
    }

    @Test
    void missesAreClassified() throws Exception {
        String ns = "grpc/classify";
        LayerDescriptor l = layer(ns, "classified layer");
        String parent = key("parent v1");
        assertEquals(MissReason.MISS_REASON_UNSPECIFIED, miss(ns, key("anonymous"), null).getReason());
        StepIdentity v1 = step("app#2", parent, "COPY src/ /app/", "src/a.c=1", "src/b.c=1");
        String k1 = key("k1");
        MissExplanation newStep = miss(ns, k1, v1);
        assertEquals(MissReason.NEW_STEP, newStep.getReason());
        assertEquals("app#2", newStep.getStepId());
        put(ns, k1, v1, l);

        // Same parent, other key: the step's own inputs changed (root cause), with what changed.
        StepIdentity v2 = step("app#2", parent, "COPY src/ /app/", "src/a.c=2", "src/c.c=1");
        MissExplanation changed = miss(ns, key("k2"), v2);
        assertEquals(MissReason.INPUTS_CHANGED, changed.getReason());
        assertEquals(k1, changed.getPreviousKey());
        assertEquals(parent, changed.getPreviousParentKey());
        assertFalse(changed.getInstructionChanged());
        assertEquals(List.of("MODIFIED src/a.c", "ADDED src/c.c", "REMOVED src/b.c"),
                changed.getInputChangesList().stream().map(c -> c.getKind() + " " + c.getPath()).toList());
        InputChange modified = changed.getInputChanges(0);
        assertEquals(key("1"), modified.getPreviousDigest());
        assertEquals(key("2"), modified.getDigest());

        // A changed instruction is reported too.
        MissExplanation instruction = miss(ns, key("k3"), step("app#2", parent, "COPY . /app/", "src/a.c=1",
                "src/b.c=1"));
        assertEquals(MissReason.INPUTS_CHANGED, instruction.getReason());
        assertTrue(instruction.getInstructionChanged());
        assertEquals("COPY src/ /app/", instruction.getPreviousInstruction());

        // Other parent: a cascade of an earlier change.
        assertEquals(MissReason.PARENT_CHANGED, miss(ns, key("k4"), step("app#2", key("parent v2"),
                "COPY src/ /app/", "src/a.c=1", "src/b.c=1")).getReason());

        // Deleted: the cache held it.
        assertTrue(grpc.entries.deleteEntry(DeleteEntryRequest.newBuilder().setNamespace(ns).setKey(k1).build())
                .getDeleted());
        assertFalse(grpc.entries.deleteEntry(DeleteEntryRequest.newBuilder().setNamespace(ns).setKey(k1).build())
                .getDeleted());
        assertEquals(MissReason.EVICTED, miss(ns, k1, v1).getReason());
        assertEquals(MissReason.EVICTED, miss(ns, k1, null).getReason(), "even without a step identity");

        // Republished: a hit again.
        put(ns, k1, v1, l);
        assertEquals(k1, grpc.entries.getEntry(GetEntryRequest.newBuilder().setNamespace(ns).setKey(k1)
                .setStep(v1).build()).getEntry().getKey());
    }

    @Test
    void batchLookupsReturnHitsAndExplainedMisses() throws Exception {
        String ns = "grpc/batch";
        String hit = key("batch hit");
        put(ns, hit, step("b#1", "", "RUN a"), layer(ns, "batch layer"));
        BatchGetEntriesResponse r = grpc.entries.batchGetEntries(BatchGetEntriesRequest.newBuilder().setNamespace(ns)
                .addLookups(Lookup.newBuilder().setKey(hit))
                .addLookups(Lookup.newBuilder().setKey(key("batch miss")).setStep(step("b#2", hit, "RUN b")))
                .build());
        assertEquals(2, r.getResultsCount());
        assertTrue(r.getResults(0).hasEntry());
        assertEquals(MissReason.NEW_STEP, r.getResults(1).getMiss().getReason());

        BatchGetEntriesRequest.Builder tooMany = BatchGetEntriesRequest.newBuilder().setNamespace(ns);
        for (int i = 0; i < 1001; i++) {
            tooMany.addLookups(Lookup.newBuilder().setKey(hit));
        }
        StatusRuntimeException e = assertStatus(Status.Code.INVALID_ARGUMENT,
                () -> grpc.entries.batchGetEntries(tooMany.build()));
        assertEquals("lookups", detail(e, BadRequest.class).getFieldViolations(0).getField());
    }

    @Test
    void explainBuildFindsTheRootCauseAndTheCascade() throws Exception {
        String ns = "grpc/explain";
        LayerDescriptor l = layer(ns, "explained layer");
        List<Lookup> first = chain(ns, "v1");
        for (Lookup lookup : first) {
            put(ns, lookup.getKey(), lookup.getStep(), l);
        }
        ExplainBuildResponse allHit = grpc.entries.explainBuild(ExplainBuildRequest.newBuilder().setNamespace(ns)
                .addAllSteps(first).build());
        assertTrue(allHit.getStepsList().stream().allMatch(s -> s.getHit()));
        assertEquals(-1, allHit.getRootCauseIndex());
        assertEquals("all 6 steps hit the cache", allHit.getSummary());

        List<Lookup> second = chain(ns, "v2");
        ExplainBuildResponse r = grpc.entries.explainBuild(ExplainBuildRequest.newBuilder().setNamespace(ns)
                .addAllSteps(second).build());
        assertEquals(List.of(true, true, false, false, false, false),
                r.getStepsList().stream().map(s -> s.getHit()).toList());
        assertEquals(2, r.getRootCauseIndex());
        assertEquals(MissReason.INPUTS_CHANGED, r.getSteps(2).getMiss().getReason());
        for (int i = 3; i < 6; i++) {
            assertEquals(MissReason.PARENT_CHANGED, r.getSteps(i).getMiss().getReason(), "step " + (i + 1));
        }
        assertEquals("step 3 (COPY package.json /app/) missed: its instruction or inputs changed: "
                + "package.json modified; steps 4 to 6 missed because of it", r.getSummary());
    }

    /** Six chained steps; step 3 reads package.json, whose content is {@code version}. */
    private static List<Lookup> chain(String ns, String version) {
        List<Lookup> out = new ArrayList<>();
        String parent = "";
        String[] instructions = {"FROM base", "WORKDIR /app", "COPY package.json /app/", "RUN npm ci",
            "COPY . /app/", "RUN npm run build"};
        for (int i = 0; i < 6; i++) {
            StepIdentity s = i == 2
                    ? step("web#" + (i + 1), parent, instructions[i], "package.json=" + version)
                    : step("web#" + (i + 1), parent, instructions[i]);
            String k = key(parent + "|" + instructions[i] + "|" + (i == 2 ? version : ""));
            out.add(Lookup.newBuilder().setKey(k).setStep(s).build());
            parent = k;
        }
        return out;
    }
}
