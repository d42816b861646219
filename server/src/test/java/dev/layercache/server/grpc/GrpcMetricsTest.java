package dev.layercache.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.LookupResult;
import dev.layercache.api.v1.MissExplanation;
import dev.layercache.api.v1.MissReason;
import dev.layercache.api.v1.StepIdentity;
import dev.layercache.server.core.LookupOutcome;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.entries.EntryLookup;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.metrics.StatsSnapshot;
import dev.layercache.server.registry.BlobLookup;
import dev.layercache.server.testing.PrometheusText;
import java.time.Clock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The gRPC surface's recorder: an outcome of the domain in, the right meters move (a real registry). */
class GrpcMetricsTest {
    private static final RepositoryName NS = RepositoryName.parse("team/app");
    private static final StepIdentity STEP = StepIdentity.newBuilder().setStepId("compile").build();

    private final CacheMetrics metrics = CacheMetrics.create(1, 100, Clock.systemUTC());
    private final GrpcMetrics recorder = new GrpcMetrics(metrics);

    @AfterEach
    void close() {
        metrics.close();
    }

    @Test
    void anEntryHitIsAHitAndNothingElse() {
        recorder.entry(NS, STEP, new EntryLookup(LookupResult.newBuilder().setKey("k")
                .setEntry(Entry.newBuilder().setKey("k")).build(), LookupOutcome.HIT));

        PrometheusText p = scrape();
        assertEquals(1, p.value("layercache_lookups_total", "surface", "grpc", "kind", "entry", "result", "hit"));
        assertEquals(0, p.value("layercache_lookups_total", "result", "miss"));
        assertEquals(1, p.value("layercache_namespace_lookups_total", "namespace", "team", "surface", "grpc",
                "kind", "entry", "result", "hit"));
        assertEquals(0, p.value("layercache_entry_misses_total"));
        assertEquals(0, p.value("layercache_capacity_misses_total"));
        assertEquals(1, window().hits());
    }

    @Test
    void anEntryMissCountsItsReasonAndItsRootCause() {
        recorder.entry(NS, STEP, miss(MissReason.NEW_STEP, LookupOutcome.MISS));
        recorder.entry(NS, null, miss(MissReason.PARENT_CHANGED, LookupOutcome.MISS));

        PrometheusText p = scrape();
        assertEquals(2, p.value("layercache_lookups_total", "surface", "grpc", "kind", "entry", "result", "miss"));
        assertEquals(1, p.value("layercache_entry_misses_total", "reason", "new_step"));
        assertEquals(1, p.value("layercache_entry_misses_total", "reason", "cascade"));
        assertEquals(0, p.value("layercache_capacity_misses_total"));
        assertEquals("[{\"namespace\":\"team/app\",\"step\":\"compile\",\"misses\":1}]", rootCauses(),
                "a cascade is no root cause");
        assertEquals(2, window().misses());
        assertEquals(0, window().capacityMisses());
    }

    @Test
    void anEvictedEntryIsAMissAndACapacityMiss() {
        recorder.entry(NS, STEP, miss(MissReason.EVICTED, LookupOutcome.CAPACITY_MISS));

        PrometheusText p = scrape();
        assertEquals(1, p.value("layercache_lookups_total", "surface", "grpc", "kind", "entry", "result", "miss"));
        assertEquals(1, p.value("layercache_capacity_misses_total", "surface", "grpc", "kind", "entry"));
        assertEquals(1, p.value("layercache_entry_misses_total", "reason", "evicted"));
        assertEquals(1, window().misses());
        assertEquals(1, window().capacityMisses());
        assertEquals("[]", rootCauses(), "an eviction is the budget's doing, not a step's");
    }

    /** FindMissingBlobs is what a pusher asks before uploading: existence checks, not lookups. */
    @Test
    void aFindMissingDigestIsAnExistenceCheckPresentSavesBytesAndNeitherIsALookup() {
        recorder.existenceCheck(NS, new BlobLookup(LookupOutcome.HIT, 1000));
        recorder.existenceCheck(NS, new BlobLookup(LookupOutcome.MISS, -1));

        PrometheusText p = scrape();
        assertEquals(0, p.value("layercache_lookups_total"));
        assertEquals(1, p.value("layercache_existence_checks_total", "surface", "grpc", "result", "hit"));
        assertEquals(1, p.value("layercache_existence_checks_total", "surface", "grpc", "result", "miss"));
        assertEquals(2, p.value("layercache_namespace_existence_checks_total", "surface", "grpc"));
        assertEquals(0, window().lookups());
        assertEquals(2, window().existenceChecks());
        assertEquals(1, window().existenceCheckHits());
        assertEquals(1000, p.value("layercache_saved_bytes_total", "surface", "grpc", "reason", "find_missing"));
        assertEquals(0, p.value("layercache_saved_bytes_total", "reason", "already_present"));
        assertEquals(1000, window().savedBytes());
    }

    @Test
    void aBlobFoundPresentIsAnUploadAlreadyPresentAndSavesOnlyBytesNotSent() {
        recorder.alreadyPresent(NS.toString(), 3000); // a WriteBlob header: the bytes need not come
        recorder.alreadyPresent(NS.toString(), 0);    // BatchUpdateBlobs: they came anyway
        recorder.received(NS.toString(), 10);
        recorder.served(NS.toString(), 20);

        PrometheusText p = scrape();
        assertEquals(2, p.value("layercache_uploads_total", "surface", "grpc", "outcome", "already_present"));
        assertEquals(3000, p.value("layercache_saved_bytes_total", "surface", "grpc", "reason", "already_present"));
        assertEquals(10, p.value("layercache_received_bytes_total", "surface", "grpc"));
        assertEquals(20, p.value("layercache_served_bytes_total", "surface", "grpc"));
    }

    @Test
    void aDisabledNodeCountsNothing() {
        try (CacheMetrics off = CacheMetrics.disabled()) {
            GrpcMetrics quiet = new GrpcMetrics(off);
            quiet.entry(NS, STEP, miss(MissReason.EVICTED, LookupOutcome.CAPACITY_MISS));
            quiet.existenceCheck(NS, new BlobLookup(LookupOutcome.HIT, 5));
            assertEquals(0, new PrometheusText(off.scrape(null)).value("layercache_lookups_total"));
            assertEquals(0, new PrometheusText(off.scrape(null)).value("layercache_existence_checks_total"));
            assertEquals(0, off.snapshot().windows().get("5m").existenceChecks());
        }
    }

    private static EntryLookup miss(MissReason reason, LookupOutcome outcome) {
        return new EntryLookup(LookupResult.newBuilder().setKey("k")
                .setMiss(MissExplanation.newBuilder().setReason(reason)).build(), outcome);
    }

    private String rootCauses() {
        return metrics.snapshot().toJson(new ObjectMapper()).get("root_causes").toString();
    }

    private PrometheusText scrape() {
        return new PrometheusText(metrics.scrape(null));
    }

    private StatsSnapshot.Window window() {
        return metrics.snapshot().windows().get("5m");
    }
}
