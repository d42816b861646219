package dev.layercache.server.grpc;

import dev.layercache.api.v1.StepIdentity;
import dev.layercache.server.core.LookupOutcome;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.entries.EntryLookup;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.metrics.LookupKind;
import dev.layercache.server.metrics.SavedReason;
import dev.layercache.server.metrics.Surface;
import dev.layercache.server.metrics.UploadOutcome;
import dev.layercache.server.registry.BlobLookup;

/**
 * The gRPC surface's recorder: the services hand it what a domain call came to (a lookup's or
 * an existence check's outcome, bytes sent or received, a blob found present before any upload
 * began), and it alone turns that into meters, as {@code http.RequestMetrics} does for the OCI surface
 * (docs/metrics.md, "What counts as a lookup"). Latency is {@link MetricsInterceptor}'s, and an
 * upload counts its own end ({@code registry.Upload}, from what its commit did).
 */
final class GrpcMetrics {
    private final CacheMetrics metrics;

    GrpcMetrics(CacheMetrics metrics) {
        this.metrics = metrics;
    }

    /**
     * A GetEntry, or one key of BatchGetEntries: a hit or a miss, why it missed (a root cause
     * counts toward the steps that most often start a rebuild, by {@code step}'s id), and a miss
     * of an evicted entry as a capacity miss too.
     */
    void entry(RepositoryName ns, StepIdentity step, EntryLookup lookup) {
        String namespace = ns.toString();
        LookupOutcome outcome = lookup.outcome();
        metrics.lookup(Surface.GRPC, LookupKind.ENTRY, namespace, outcome.hit());
        if (!outcome.hit()) {
            metrics.entryMiss(lookup.result().getMiss().getReason(), namespace,
                    step == null ? null : step.getStepId());
            if (outcome == LookupOutcome.CAPACITY_MISS) {
                metrics.capacityMiss(Surface.GRPC, LookupKind.ENTRY, namespace);
            }
        }
    }

    /**
     * One digest of FindMissingBlobs: the question a pusher asks before uploading, so an existence
     * check and not a lookup (as an OCI blob {@code HEAD}); a present blob's bytes are bytes the
     * client need not send.
     */
    void existenceCheck(RepositoryName ns, BlobLookup lookup) {
        String namespace = ns.toString();
        boolean hit = lookup.outcome().hit();
        metrics.existenceCheck(Surface.GRPC, namespace, hit);
        if (hit) {
            metrics.saved(Surface.GRPC, SavedReason.FIND_MISSING, namespace, lookup.size());
        }
    }

    /** Blob bytes sent to a client of {@code namespace} (ReadBlob, BatchReadBlobs). */
    void served(String namespace, long bytes) {
        metrics.served(Surface.GRPC, namespace, bytes);
    }

    /** Blob bytes received from a client of {@code namespace} (WriteBlob, BatchUpdateBlobs). */
    void received(String namespace, long bytes) {
        metrics.received(Surface.GRPC, namespace, bytes);
    }

    /**
     * A blob the client offered that {@code namespace} already held, answered before any upload
     * began: an upload that ended already present, and (when the client had not sent the bytes
     * yet, as a WriteBlob header) {@code savedBytes} it need not send; 0 when they came anyway.
     */
    void alreadyPresent(String namespace, long savedBytes) {
        metrics.upload(Surface.GRPC, UploadOutcome.ALREADY_PRESENT);
        if (savedBytes > 0) {
            metrics.saved(Surface.GRPC, SavedReason.ALREADY_PRESENT, namespace, savedBytes);
        }
    }
}
