package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.node.Services;
import dev.layercache.server.node.Stores;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.registry.ManifestService;
import dev.layercache.server.storage.DataLayout;
import dev.layercache.server.storage.ObjectStore;
import dev.layercache.server.storage.S3ObjectStore;
import dev.layercache.server.testing.S3Server;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bucket's collector against a publication on another node at the worst moment: the
 * collector has taken its last look at a blob's pending mark and is about to delete the blob when
 * another node pushes or mounts it again. The collector is held at exactly that point (its
 * bucket pauses before the request), the other node's publication runs, then the collector goes
 * on. Nodes are the services a cluster node runs, built by the factory {@code LayerCacheServer} uses,
 * each with its own disk, its own client of one real S3 server, and no other link between them.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class CollectionRaceTest {
    @RegisterExtension
    static final S3Server S3 = new S3Server();

    @TempDir
    Path dir;
    private final String prefix = "t-" + UUID.randomUUID();
    private final List<AutoCloseable> closing = new ArrayList<>();
    private final ExecutorService threads = Executors.newCachedThreadPool();
    private final Clock clock = Clock.systemUTC();
    /** The collector's view of the bucket, which the tests pause. */
    private Interposed collectorBucket;
    private BucketCollector collector;
    private Node a;
    private Node b;
    /** A node that never held anything: what it reads, it reads from the bucket. */
    private Node c;

    @BeforeEach
    void cluster() throws Exception {
        a = new Node("a", Revival.ABANDONED_AFTER);
        b = new Node("b", Revival.ABANDONED_AFTER);
        c = new Node("c", Revival.ABANDONED_AFTER);
        collectorBucket = new Interposed(open());
        // No grace: a blob unreferenced at one run is marked, and deleted at the next.
        collector = new BucketCollector(collectorBucket, a.manifests,
                new Lease(collectorBucket, "collector", Duration.ofMinutes(5), clock),
                new BucketCollector.Limits(0, 90, 80, Duration.ZERO, Duration.ZERO, ServerConfig.History.DEFAULT,
                        Duration.ofHours(1), List.of()), clock);
    }

    /**
     * The interleaving of the race: the collector finds the mark, node B pushes the blob again
     * (reviving it), the collector deletes. B waits for the deletion to finish, learns the bytes
     * went, and uploads them again: the blob survives, readable on a node that never held it.
     */
    @Test
    void aBlobPushedAgainBetweenTheCollectorsLastLookAndItsDeleteSurvives() throws Exception {
        byte[] layer = random(40_000, 1);
        Digest digest = Digest.sha256(layer);
        a.push("race/a", layer);
        assertEquals(1, collector.run().markedPending());

        collectorBucket.pauseBefore("delete", key -> isBlobObject(key, digest));
        Future<BucketCollector.Report> run = threads.submit(collector::run);
        collectorBucket.awaitPaused();
        Future<Boolean> push = threads.submit(() -> b.push("race/b", layer));
        // B is waiting for the collector (or, without a claim to wait for, already done).
        await(() -> b.bucket.claimReads.get() > 0 || push.isDone());
        collectorBucket.release();

        BucketCollector.Report report = run.get(30, TimeUnit.SECONDS);
        push.get(30, TimeUnit.SECONDS);
        assertEquals(1, report.deleted(), "the collector had looked before the revival: it deleted " + report);
        assertTrue(collectorBucket.size(TieredBlobBackend.object(digest)) >= 0, "the bytes are in the bucket again");
        assertArrayEquals(layer, c.read("race/b", digest), "readable through a node that never held it");
        assertArrayEquals(layer, b.read("race/b", digest));
        assertEquals(-1, c.blobs.sizeIfLinked(RepositoryName.parse("race/a"), digest),
                "the link nobody renewed went with the collection");
        assertNull(collectorBucket.get(BucketCollector.SWEEPING + digest), "no claim is left behind");
    }

    /** A revival just before the collector's last look: the collector sees it and keeps the blob. */
    @Test
    void aBlobRevivedBeforeTheLastLookIsKept() throws Exception {
        byte[] layer = random(30_000, 2);
        Digest digest = Digest.sha256(layer);
        a.push("race/a", layer);
        assertEquals(1, collector.run().markedPending());

        collectorBucket.pauseBefore("size", key -> key.equals(BucketCollector.PENDING + digest));
        Future<BucketCollector.Report> run = threads.submit(collector::run);
        collectorBucket.awaitPaused();
        Future<Boolean> push = threads.submit(() -> b.push("race/b", layer));
        await(() -> b.bucket.claimReads.get() > 0 || push.isDone());
        collectorBucket.release();

        BucketCollector.Report report = run.get(30, TimeUnit.SECONDS);
        push.get(30, TimeUnit.SECONDS);
        assertEquals(0, report.deleted(), report.toString());
        assertEquals(1, report.revived(), report.toString());
        assertArrayEquals(layer, c.read("race/a", digest), "the old link stays too");
        assertArrayEquals(layer, c.read("race/b", digest));
        assertNull(collectorBucket.get(BucketCollector.SWEEPING + digest), "no claim is left behind");
    }

    /**
     * A mount in the same window, on a node whose cache still holds the source's link: the mount
     * must not link bytes that are going. It answers "nothing to mount" (the client then uploads),
     * and the node has learnt that the blob is gone.
     */
    @Test
    void aMountBetweenTheLastLookAndTheDeleteIsRefusedNotLeftDangling() throws Exception {
        byte[] layer = random(20_000, 3);
        Digest digest = Digest.sha256(layer);
        a.push("race/a", layer);
        assertArrayEquals(layer, b.read("race/a", digest), "B caches the link and a copy");
        assertEquals(1, collector.run().markedPending());

        collectorBucket.pauseBefore("delete", key -> isBlobObject(key, digest));
        Future<BucketCollector.Report> run = threads.submit(collector::run);
        collectorBucket.awaitPaused();
        Future<Boolean> mount = threads.submit(() -> b.blobs.mount(RepositoryName.parse("race/c"), digest,
                RepositoryName.parse("race/a")));
        await(() -> b.bucket.claimReads.get() > 0 || mount.isDone());
        collectorBucket.release();

        assertEquals(1, run.get(30, TimeUnit.SECONDS).deleted());
        assertFalse(mount.get(30, TimeUnit.SECONDS), "nothing to mount: the bytes went");
        assertEquals(-1, c.blobs.sizeIfLinked(RepositoryName.parse("race/c"), digest), "no link to nothing");
        assertEquals(-1, b.blobs.sizeIfLinked(RepositoryName.parse("race/a"), digest), "B forgot its cached link");
        // What the client does next: it uploads, and the blob is back for everyone.
        b.push("race/c", layer);
        assertArrayEquals(layer, c.read("race/c", digest));
    }

    /**
     * A claim whose collector died (it never changes): a publisher waits for it only so long,
     * then removes it and goes on.
     */
    @Test
    void aPublisherStopsWaitingForAClaimThatNeverChanges() throws Exception {
        Node patient = new Node("d", Duration.ofMillis(800));
        byte[] layer = random(10_000, 4);
        Digest digest = Digest.sha256(layer);
        a.push("race/a", layer);
        collectorBucket.put(BucketCollector.PENDING + digest, new byte[0]);
        collectorBucket.put(BucketCollector.SWEEPING + digest, "a collector that died".getBytes());

        long started = System.nanoTime();
        patient.push("race/d", layer);
        assertTrue(System.nanoTime() - started >= Duration.ofMillis(800).toNanos(), "it waited first");
        assertNull(collectorBucket.get(BucketCollector.SWEEPING + digest), "and removed the dead claim");
        assertNull(collectorBucket.get(BucketCollector.PENDING + digest), "the blob was revived");
        assertArrayEquals(layer, c.read("race/d", digest));
    }

    private static boolean isBlobObject(String key, Digest digest) {
        return key.equals(TieredBlobBackend.object(digest)) || key.startsWith("meta/links/")
                || key.startsWith("meta/blobs/");
    }

    private ObjectStore open() {
        S3ObjectStore store = S3ObjectStore.open(S3.settings(prefix), S3ObjectStore.RequestListener.NONE);
        closing.add(store);
        return store;
    }

    private static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out");
            Thread.sleep(5);
        }
    }

    private static byte[] random(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    @AfterEach
    void close() throws Exception {
        if (collectorBucket != null) {
            collectorBucket.release();
        }
        threads.shutdownNow();
        threads.awaitTermination(10, TimeUnit.SECONDS);
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
    }

    /** One node's cluster services, built by the factory {@code LayerCacheServer} builds them with. */
    private final class Node {
        final Interposed bucket;
        final DataLayout layout;
        final BlobService blobs;
        final ManifestService manifests;

        Node(String name, Duration abandonedAfter) throws IOException {
            bucket = new Interposed(open());
            BucketHealth health = new BucketHealth();
            closing.add(health);
            Path dataDir = dir.resolve(name);
            Stores stores = Stores.clustered(dataDir, bucket, health, clock);
            closing.add(stores);
            layout = stores.layout();
            ServerConfig config = ServerConfig.forTesting(dataDir).withLifecycle(ServerConfig.Lifecycle.builder()
                    .gcGrace(Duration.ZERO).build().withoutBudget());
            Services services = Services.over(stores).config(config).clock(clock).build();
            closing.add(services.lifecycle());
            blobs = services.served().blobs();
            manifests = services.served().manifests();
            services.guard().beforePublishing(new Revival(bucket, health, services.repair()::forget,
                    abandonedAfter)::revive);
        }

        /** Pushes {@code bytes} to {@code repository}, as an upload's last step does; true when new to the store. */
        boolean push(String repository, byte[] bytes) throws IOException {
            Path verified = Files.createTempFile(layout.uploads(), "push", ".verified");
            Files.write(verified, bytes);
            return blobs.commitVerified(RepositoryName.parse(repository), Digest.sha256(bytes), verified, bytes.length);
        }

        byte[] read(String repository, Digest digest) throws IOException {
            BlobService.OpenBlob blob = blobs.open(RepositoryName.parse(repository), digest);
            try (dev.layercache.server.storage.BlobContent content = blob.content()) {
                return content.readAll();
            }
        }
    }

    /**
     * A node's bucket, with a pause before one chosen request (the first that matches) and a
     * count of the node's looks at collectors' claims.
     */
    private static final class Interposed implements ObjectStore {
        private final ObjectStore bucket;
        final AtomicInteger claimReads = new AtomicInteger();
        private volatile String pausedOperation;
        private volatile Predicate<String> pausedKey;
        private final CountDownLatch paused = new CountDownLatch(1);
        private final CountDownLatch released = new CountDownLatch(1);

        Interposed(ObjectStore bucket) {
            this.bucket = bucket;
        }

        void pauseBefore(String operation, Predicate<String> key) {
            pausedKey = key;
            pausedOperation = operation;
        }

        void awaitPaused() throws InterruptedException {
            assertTrue(paused.await(30, TimeUnit.SECONDS), "the collector never reached the point");
        }

        void release() {
            released.countDown();
        }

        private void before(String operation, String key) throws IOException {
            if (operation.equals("get") && key.startsWith(BucketCollector.SWEEPING)) {
                claimReads.incrementAndGet();
            }
            Predicate<String> matching = pausedKey;
            if (operation.equals(pausedOperation) && matching != null && matching.test(key)) {
                pausedKey = null; // only the first
                paused.countDown();
                try {
                    if (!released.await(30, TimeUnit.SECONDS)) {
                        throw new IOException("the test never released " + operation + " " + key);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException();
                }
            }
        }

        @Override
        public void put(String key, byte[] bytes) throws IOException {
            before("put", key);
            bucket.put(key, bytes);
        }

        @Override
        public void putFile(String key, Path file, long size) throws IOException {
            before("putFile", key);
            bucket.putFile(key, file, size);
        }

        @Override
        public boolean putIfAbsent(String key, byte[] bytes) throws IOException {
            before("putIfAbsent", key);
            return bucket.putIfAbsent(key, bytes);
        }

        @Override
        public byte[] get(String key) throws IOException {
            before("get", key);
            return bucket.get(key);
        }

        @Override
        public long size(String key) throws IOException {
            before("size", key);
            return bucket.size(key);
        }

        @Override
        public boolean download(String key, Path target) throws IOException {
            before("download", key);
            return bucket.download(key, target);
        }

        @Override
        public void delete(String key) throws IOException {
            before("delete", key);
            bucket.delete(key);
        }

        @Override
        public List<ObjectInfo> listObjects(String prefix, String startAfter, int limit) throws IOException {
            before("list", prefix);
            return bucket.listObjects(prefix, startAfter, limit);
        }

        @Override
        public void close() {
        }
    }
}
