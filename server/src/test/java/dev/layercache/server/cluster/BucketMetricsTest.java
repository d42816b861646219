package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.storage.ObjectStore;
import dev.layercache.server.storage.S3ObjectStore;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.S3Server;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every request a node sends to its bucket is counted by operation and outcome and timed, as
 * {@code ClusterNode} wires the store to the metrics: what {@code /metrics} then shows, against
 * a real S3 server that answers, says "no such key", and goes away.
 */
class BucketMetricsTest {
    private static final String REQUESTS = "layercache_bucket_requests_total";
    private static final String LATENCY = "layercache_bucket_request_duration_seconds";

    @TempDir
    Path dir;

    @Test
    void requestsAreCountedByOperationAndOutcomeAndTimed() throws Exception {
        CacheMetrics metrics = CacheMetrics.create(1, 100, Clock.systemUTC());
        try (S3Server s3 = new S3Server()) {
            s3.start();
            try (S3ObjectStore bucket = S3ObjectStore.open(s3.settings("t-" + UUID.randomUUID()),
                    metrics::bucketRequest)) {
                bucket.put("meta/tags/a", new byte[] {1});
                bucket.put("meta/tags/b", new byte[] {2});
                Path file = Files.write(dir.resolve("blob"), new byte[70_000]);
                bucket.putFile("blobs/sha256/00", file, 70_000);
                assertEquals(1, bucket.get("meta/tags/a")[0]);
                assertNull(bucket.get("meta/tags/none"));
                assertEquals(-1, bucket.size("blobs/sha256/ff"));
                s3.stop();
                assertThrows(ObjectStore.UnavailableException.class, () -> bucket.list("nodes/", null, 1));
            }
        } finally {
            metrics.close();
        }

        PrometheusText scraped = new PrometheusText(metrics.scrape("text/plain"));
        assertEquals(2, scraped.value(REQUESTS, "operation", "put", "outcome", "ok"));
        assertEquals(1, scraped.value(REQUESTS, "operation", "put_file", "outcome", "ok"));
        assertEquals(1, scraped.value(REQUESTS, "operation", "get", "outcome", "ok"));
        assertEquals(1, scraped.value(REQUESTS, "operation", "get", "outcome", "absent"));
        assertEquals(1, scraped.value(REQUESTS, "operation", "head", "outcome", "absent"));
        assertEquals(1, scraped.value(REQUESTS, "operation", "list", "outcome", "error"), "the bucket went away");

        // The histogram has one observation per request, in the same series.
        for (String[] series : new String[][] {{"put", "ok"}, {"get", "absent"}, {"list", "error"}}) {
            String[] labels = {"operation", series[0], "outcome", series[1]};
            assertEquals(scraped.value(REQUESTS, labels), scraped.value(LATENCY + "_count", labels), series[0]);
            assertTrue(scraped.value(LATENCY + "_sum", labels) > 0, series[0] + " took some time");
            assertEquals(scraped.value(REQUESTS, labels), value(scraped, LATENCY + "_bucket", labels, "+Inf"));
        }
        // Buckets from milliseconds (a HEAD) to minutes (a large part upload).
        for (String le : new String[] {"0.005", "10.0", "300.0"}) {
            assertTrue(scraped.samples().stream().anyMatch(s -> s.name().equals(LATENCY + "_bucket")
                    && le.equals(s.labels().get("le"))), "a bucket at " + le + " s");
        }
    }

    private static double value(PrometheusText scraped, String name, String[] labels, String le) {
        String[] withLe = java.util.Arrays.copyOf(labels, labels.length + 2);
        withLe[labels.length] = "le";
        withLe[labels.length + 1] = le;
        return scraped.value(name, withLe);
    }
}
