package dev.layercache.server.node;

import dev.layercache.server.cluster.BucketHealth;
import dev.layercache.server.cluster.SharedKeyValueStore;
import dev.layercache.server.cluster.TieredBlobBackend;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.storage.BlobBackend;
import dev.layercache.server.storage.DataLayout;
import dev.layercache.server.storage.DiskBlobBackend;
import dev.layercache.server.storage.InlineBlobBackend;
import dev.layercache.server.storage.ObjectStore;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Objects;
import java.util.function.LongConsumer;

/**
 * The stores a node works on, each named once.
 *
 * <p>{@link #local} and {@link #disk} are this node's own: its RocksDB and its blob bytes (files
 * under {@link #layout}, and on a node alone small blobs in the RocksDB). {@link #served} and {@link #servedBytes} are what clients' requests read and
 * write. On a node alone they are the node's own stores. In a cluster they are the shared bucket
 * seen through the node's stores, which keep a copy of what passes (the hot tier): metadata
 * written through to the bucket ({@link SharedKeyValueStore}), blobs read from the disk first
 * and fetched from the bucket on a miss ({@link TieredBlobBackend}).
 *
 * <p>The stores own the metadata store: {@link #close} closes it. A cluster's bucket is the
 * caller's (it belongs to the node's cluster membership, which outlives no store).
 */
public final class Stores implements AutoCloseable {
    private final DataLayout layout;
    private final RocksKeyValueStore local;
    private final BlobBackend disk;
    private final KeyValueStore served;
    private final BlobBackend servedBytes;
    private final boolean clustered;
    /** Told of the bytes of each copy a cluster node keeps on its disk (see {@link #whenCopiedToDisk}). */
    private volatile LongConsumer copiedToDisk = bytes -> { };

    /** This process's claim on the data directory; null for stores built over an open layout (tests). */
    private DataDirLock lock;

    private Stores(DataLayout layout, RocksKeyValueStore local, BlobBackend disk, KeyValueStore served,
                   BlobBackend servedBytes, boolean clustered) {
        this.layout = layout;
        this.local = local;
        this.disk = disk;
        this.served = served;
        this.servedBytes = servedBytes;
        this.clustered = clustered;
    }

    /** A node on its own: creates the folders of {@code dataDir} and opens its metadata store. */
    public static Stores alone(Path dataDir) throws IOException {
        DataLayout layout = new DataLayout(dataDir).create();
        DataDirLock lock = DataDirLock.acquire(layout);
        try {
            RocksKeyValueStore local = new RocksKeyValueStore(layout.metadata());
            // Small blobs in the metadata store, in the batch of their records (see InlineBlobBackend).
            BlobBackend disk = new InlineBlobBackend(new DiskBlobBackend(layout), local);
            return new Stores(layout, local, disk, local, disk, false).holding(lock);
        } catch (RuntimeException | Error e) {
            lock.close();
            throw e;
        }
    }

    /** Keeps {@code lock} until {@link #close()}. */
    private Stores holding(DataDirLock lock) {
        this.lock = lock;
        return this;
    }

    /**
     * A cluster node: as {@link #alone}, serving the shared {@code bucket} through this node's
     * stores. {@code health} says whether the bucket can be reached; {@code clock} dates the
     * records of the copies fetched from it.
     */
    public static Stores clustered(Path dataDir, ObjectStore bucket, BucketHealth health, Clock clock)
            throws IOException {
        Objects.requireNonNull(bucket, "bucket");
        Objects.requireNonNull(health, "health");
        DataLayout layout = new DataLayout(dataDir).create();
        DataDirLock lock = DataDirLock.acquire(layout);
        RocksKeyValueStore local;
        try {
            local = new RocksKeyValueStore(layout.metadata());
        } catch (RuntimeException | Error e) {
            lock.close();
            throw e;
        }
        try {
            return clustered(layout, local, bucket, health, clock).holding(lock);
        } catch (RuntimeException e) {
            local.close();
            lock.close();
            throw e;
        }
    }

    /** As above, over a layout and metadata store already open (tests that build several nodes). */
    public static Stores clustered(DataLayout layout, RocksKeyValueStore local, ObjectStore bucket,
                                   BucketHealth health, Clock clock) {
        DiskBlobBackend disk = new DiskBlobBackend(layout);
        BlobIndex localBlobs = new BlobIndex(local);
        Stores[] self = new Stores[1];
        // A blob fetched from the bucket leaves a copy on this disk: recorded in the node's own
        // store, so that its lifecycle can evict it, and counted towards its budget.
        TieredBlobBackend tiered = new TieredBlobBackend(disk, bucket, layout, health, (digest, size) -> {
            KeyValueStore.Batch batch = local.batch();
            localBlobs.put(batch, digest, size, clock.millis());
            batch.commit(false);
            self[0].copiedToDisk.accept(size);
        });
        self[0] = new Stores(layout, local, disk, new SharedKeyValueStore(local, bucket, health), tiered, true);
        return self[0];
    }

    /** The folders of the node's data directory. */
    public DataLayout layout() {
        return layout;
    }

    /** This node's own metadata store (RocksDB). */
    public RocksKeyValueStore local() {
        return local;
    }

    /**
     * This node's own blob bytes: on a node alone, small blobs in its metadata store and the rest
     * as files ({@link InlineBlobBackend}); in a cluster, files only (the hot tier's copies).
     */
    public BlobBackend disk() {
        return disk;
    }

    /** The metadata clients' requests work on: {@link #local} alone, the shared store in a cluster. */
    public KeyValueStore served() {
        return served;
    }

    /** The blobs clients' requests work on: {@link #disk} alone, the tiered store in a cluster. */
    public BlobBackend servedBytes() {
        return servedBytes;
    }

    /** True when the stores serve a cluster's shared bucket. */
    public boolean clustered() {
        return clustered;
    }

    /**
     * Who hears of the size of each blob a cluster node copies to its disk from the bucket (its
     * lifecycle, to keep the copies in the node's budget). Never told on a node alone.
     */
    public void whenCopiedToDisk(LongConsumer listener) {
        this.copiedToDisk = Objects.requireNonNull(listener, "listener");
    }

    /** Closes the metadata store (after the requests using it are done). */
    @Override
    public void close() {
        local.close();
        if (lock != null) {
            lock.close();
        }
    }
}
