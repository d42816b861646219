package dev.layercache.server.cluster;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.Digest;
import dev.layercache.server.retention.AccessTracker;
import dev.layercache.server.retention.ReferenceGuard;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.registry.ManifestService;
import dev.layercache.server.storage.ObjectStore;
import dev.layercache.server.storage.S3ObjectStore;
import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This node's part of a cluster: the shared bucket (every request counted in
 * {@code layercache_bucket_requests_total}), whether it can be reached, and the directory of
 * upload sessions. The bucket's layout:
 * <pre>
 *   blobs/sha256/&lt;hex&gt;          the verified bytes of a blob
 *   meta/&lt;table&gt;/&lt;key&gt;          a metadata record (see {@link MetaKeys}, {@link SharedKeyValueStore})
 *   uploads/&lt;id&gt;                which node holds an upload session
 *   nodes/&lt;host_port&gt;            a node that has joined, with its URL and start time
 *   access/&lt;table&gt;/&lt;key&gt;        when a root was last used ({@link AccessMarks})
 *   gc/pending/&lt;digest&gt;         a blob no root reached at the last collection ({@link BucketCollector})
 *   gc/sweeping/&lt;digest&gt;        a collector deleting that blob right now
 *   lease/collector             which node collects
 *   purges/&lt;millis&gt;-&lt;uuid&gt;      a namespace purged through some node ({@link BucketPurge})
 * </pre>
 */
public final class ClusterNode implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClusterNode.class);

    private final ObjectStore bucket;
    private final BucketHealth health = new BucketHealth();
    private final BucketPurge purges;
    private ClusterUploads uploads;
    private AccessMarks marks;
    private final java.util.concurrent.ScheduledExecutorService gc =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "layercache-bucket-gc");
                t.setDaemon(true);
                return t;
            });

    private ClusterNode(ObjectStore bucket) {
        this.bucket = bucket;
        this.purges = new BucketPurge(bucket, java.time.Clock.systemUTC());
    }

    /** Connects to the bucket of {@code settings} and starts watching whether it can be reached. */
    public static ClusterNode open(ServerConfig.Cluster settings, CacheMetrics metrics) {
        S3ObjectStore.Settings s3 = new S3ObjectStore.Settings(
                settings.s3Endpoint().isEmpty() ? null : URI.create(settings.s3Endpoint()), settings.s3Region(),
                settings.s3Bucket(), settings.s3Prefix(), settings.s3PathStyle(), null);
        ClusterNode node = new ClusterNode(S3ObjectStore.open(s3, metrics::bucketRequest));
        node.health.watch(Duration.ofSeconds(2), node.purges::poll);
        log.info("cluster mode: shared bucket {} at {}", settings.s3Bucket(),
                settings.s3Endpoint().isEmpty() ? "AWS S3 (" + settings.s3Region() + ")" : settings.s3Endpoint());
        return node;
    }

    public ObjectStore bucket() {
        return bucket;
    }

    public BucketHealth health() {
        return health;
    }

    /** Namespace purges' share of the bucket: blobs' copies and the notices to the other nodes. */
    public BucketPurge purges() {
        return purges;
    }

    /** The directory of upload sessions; the node's URL is known once it has joined. */
    public synchronized ClusterUploads uploads(ObjectMapper json, String nodeToken) {
        if (uploads == null) {
            uploads = new ClusterUploads(bucket, json, nodeToken);
        }
        return uploads;
    }

    /**
     * The node listens at {@code url}: other nodes can take its upload sessions over from now on.
     * Also leaves a record under {@code nodes/}, for operators (it is not needed for correctness).
     */
    public void joined(String url) {
        if (uploads != null) {
            uploads.listeningAt(url);
        }
        String name = "nodes/" + url.replaceFirst("^https?://", "").replaceAll("[^A-Za-z0-9._-]", "_");
        try {
            bucket.put(name, ("{\"url\":\"" + url + "\",\"started\":" + System.currentTimeMillis() + "}")
                    .getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            log.warn("cannot record this node in the bucket: {}", e.toString());
        }
        log.info("joined the cluster as {}", url);
    }

    /** {@code http://<address>:<port>}, with this machine's address when bound to all of them. */
    public static String defaultUrl(String bindAddress, int port) {
        String host = bindAddress;
        if (host.equals("0.0.0.0") || host.equals("::")) {
            try {
                host = InetAddress.getLocalHost().getHostAddress();
            } catch (UnknownHostException e) {
                host = "127.0.0.1";
            }
        }
        return "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }

    /**
     * Starts this node's part in keeping the bucket within its limits: marks of the roots it
     * serves, revival of pending blobs it publishes against, and every {@code gcInterval} a try
     * for the lease and a collection run (see {@link BucketCollector}).
     *
     * @param forget makes this node forget a blob (its records and copy, and what named it
     *               locally) that the bucket's collection deleted as it was published against
     */
    public BucketCollector startCollection(ServerConfig.Cluster settings, ServerConfig.Lifecycle lifecycle,
                                           ManifestService manifests, AccessTracker access, ReferenceGuard guard,
                                           BiConsumer<Digest, String> forget, String nodeUrl, Clock clock) {
        Revival revival = new Revival(bucket, health, forget);
        guard.beforePublishing(revival::revive);
        Duration every = settings.maxAge().isZero() ? Duration.ofHours(1)
                : clamp(settings.maxAge().dividedBy(10), Duration.ofSeconds(1), Duration.ofHours(1));
        marks = new AccessMarks(bucket, every, clock);
        access.whenTouched(marks::used);
        Duration term = clamp(settings.gcInterval().multipliedBy(3), Duration.ofSeconds(30), Duration.ofHours(6));
        BucketCollector collector = new BucketCollector(bucket, manifests, new Lease(bucket, nodeUrl, term, clock),
                new BucketCollector.Limits(settings.maxBytes(), lifecycle.highPercent(), lifecycle.lowPercent(),
                        settings.maxAge(), lifecycle.gcGrace(), lifecycle.history(), lifecycle.uploadTimeout()), clock);
        long period = settings.gcInterval().toMillis();
        // Started at a random point of the first interval, so that nodes started together do not
        // all ask for the lease at once.
        gc.scheduleWithFixedDelay(() -> {
            try {
                collector.run();
            } catch (Exception e) {
                log.warn("bucket collection failed: {}", e.toString());
            }
        }, java.util.concurrent.ThreadLocalRandom.current().nextLong(period), period,
                java.util.concurrent.TimeUnit.MILLISECONDS);
        return collector;
    }

    private static Duration clamp(Duration d, Duration min, Duration max) {
        return d.compareTo(min) < 0 ? min : d.compareTo(max) > 0 ? max : d;
    }

    @Override
    public void close() {
        gc.shutdownNow();
        if (marks != null) {
            marks.close();
        }
        health.close();
        bucket.close();
    }
}
