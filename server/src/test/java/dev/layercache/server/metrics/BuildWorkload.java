package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.api.v1.GetEntryRequest;
import dev.layercache.api.v1.PutEntryRequest;
import dev.layercache.api.v1.StepIdentity;
import dev.layercache.server.testing.Registry;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A scripted build loop the way builders use the cache, keeping its own tally of what it found:
 * each step is looked up as a tag over OCI (as buildah does, one tag per step key) and as an
 * entry over gRPC; on a miss the step's layer is pushed (each blob asked with a {@code HEAD}
 * first, as real pushers do) and published. The first build of a repository misses everything;
 * later builds hit, except the last step, whose input changes on every build (a root cause at
 * that step).
 */
final class BuildWorkload {
    static final int STEPS = 3;

    private final Registry registry;
    private final EntryCacheGrpc.EntryCacheBlockingStub entries;
    private long hits;
    private long misses;
    private long existenceChecks;

    BuildWorkload(Registry registry, ManagedChannel channel) {
        this.registry = registry;
        this.entries = EntryCacheGrpc.newBlockingStub(channel);
    }

    /** Lookups that found what they asked for, by this workload's own account. */
    long hits() {
        return hits;
    }

    long misses() {
        return misses;
    }

    /** Blob HEADs sent before pushing (not lookups). */
    long existenceChecks() {
        return existenceChecks;
    }

    void builds(String repo, int builds) throws Exception {
        for (int build = 0; build < builds; build++) {
            String parent = "";
            for (int step = 1; step <= STEPS; step++) {
                byte[] layer = (repo + " step " + step + (step == STEPS ? " run " + System.nanoTime() : ""))
                        .getBytes(StandardCharsets.UTF_8);
                String key = Registry.sha256(layer);
                String tag = "step" + step + "-" + key.substring(7, 19);
                int found = registry.head("/v2/" + repo + "/manifests/" + tag);
                if (found == 200) {
                    hits++;
                } else {
                    assertEquals(404, found);
                    misses++;
                    // As docker, buildah and BuildKit push: HEAD each blob, upload it when absent.
                    // Those HEADs are existence checks, not lookups: the tally above stays the
                    // hit rate the node must report.
                    for (byte[] blob : List.of(layer, "{}".getBytes(StandardCharsets.UTF_8))) {
                        int present = registry.head("/v2/" + repo + "/blobs/" + Registry.sha256(blob));
                        existenceChecks++;
                        if (present == 404) {
                            assertEquals(201, registry.pushBlob(repo, blob));
                        } else {
                            assertEquals(200, present);
                        }
                    }
                    assertEquals(201, registry.pushManifest(repo, tag, "application/vnd.oci.image.manifest.v1+json",
                            Registry.imageManifest("{}".getBytes(StandardCharsets.UTF_8), layer)));
                }
                StepIdentity identity = StepIdentity.newBuilder().setStepId(repo + "#" + step)
                        .setParentKey(parent).build();
                try {
                    entries.withDeadlineAfter(30, TimeUnit.SECONDS).getEntry(GetEntryRequest.newBuilder()
                            .setNamespace(repo).setKey(key).setStep(identity).build());
                    hits++;
                } catch (StatusRuntimeException e) {
                    assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
                    misses++;
                    entries.withDeadlineAfter(30, TimeUnit.SECONDS).putEntry(PutEntryRequest.newBuilder()
                            .setNamespace(repo).setEntry(Entry.newBuilder().setKey(key).setStep(identity)).build());
                }
                parent = key;
            }
        }
    }
}
