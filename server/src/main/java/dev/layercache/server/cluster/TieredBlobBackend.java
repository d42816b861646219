package dev.layercache.server.cluster;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.storage.BlobBackend;
import dev.layercache.server.storage.BlobContent;
import dev.layercache.server.storage.DataLayout;
import dev.layercache.server.storage.ObjectStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Blob bytes in a cluster: the bucket holds every blob ({@code blobs/<algorithm>/<hex>}), this
 * node's disk a hot copy of those it served or received lately.
 *
 * <ul>
 *   <li>{@link #commit} writes through: the blob goes to the bucket first (streamed, in parts when
 *       large) and only then becomes visible here, so an acknowledged blob is on every node at once.
 *   <li>{@link #open} reads through: a blob missing here is streamed from the bucket into a file
 *       beside the store, checked against its digest (a bucket can rot too), and kept.
 *   <li>{@link #delete} and {@link #forEach} see this node's copies only: the local lifecycle
 *       evicts them when the disk is full; the bucket's copy is the bucket's own collection's.
 * </ul>
 * An unreachable bucket is {@link ErrorCode#UNAVAILABLE}, never "absent": an absent blob makes
 * the node forget the records that name it.
 *
 * <p>Small blobs are files here too, never kept in the metadata store as a node alone does
 * ({@link dev.layercache.server.storage.InlineBlobBackend}): every blob must reach the bucket
 * before it is acknowledged, and the bucket's objects are files, so there is no batch to join.
 */
public final class TieredBlobBackend implements BlobBackend {
    private static final Logger log = LoggerFactory.getLogger(TieredBlobBackend.class);

    /** Told of each blob fetched from the bucket, so the local lifecycle can account for its copy. */
    public interface FetchListener {
        void fetched(Digest digest, long size);
    }

    private final BlobBackend local;
    private final ObjectStore bucket;
    private final DataLayout layout;
    private final BucketHealth health;
    private final FetchListener onFetch;
    /** One fetch per digest at a time: concurrent readers of a cold blob wait for one download. */
    private final Object[] fetchLocks = new Object[64];

    public TieredBlobBackend(BlobBackend local, ObjectStore bucket, DataLayout layout, BucketHealth health,
                             FetchListener onFetch) {
        this.local = local;
        this.bucket = bucket;
        this.layout = layout;
        this.health = health;
        this.onFetch = onFetch;
        for (int i = 0; i < fetchLocks.length; i++) {
            fetchLocks[i] = new Object();
        }
    }

    /** The object key of a blob in the bucket. */
    public static String object(Digest digest) {
        return "blobs/" + digest.algorithm().prefix() + "/" + digest.hex();
    }

    @Override
    public long size(Digest digest) throws IOException {
        long size = local.size(digest);
        if (size >= 0) {
            return size;
        }
        try {
            size = bucket.size(object(digest));
            health.up();
            return size;
        } catch (ObjectStore.UnavailableException e) {
            throw unavailable(e);
        }
    }

    @Override
    public BlobContent open(Digest digest) throws IOException {
        BlobContent content = local.open(digest);
        if (content != null) {
            return content;
        }
        synchronized (fetchLocks[Math.floorMod(digest.hashCode(), fetchLocks.length)]) {
            content = local.open(digest);
            return content != null ? content : fetch(digest);
        }
    }

    private BlobContent fetch(Digest digest) throws IOException {
        Path temp = Files.createTempFile(layout.uploads(), "fetch-", ".part");
        try {
            boolean found;
            try {
                found = bucket.download(object(digest), temp);
                health.up();
            } catch (ObjectStore.UnavailableException e) {
                throw unavailable(e);
            }
            if (!found) {
                return null;
            }
            long size = Files.size(temp);
            Digest actual = hash(temp, digest.algorithm());
            if (!actual.equals(digest)) {
                log.error("the bucket's copy of {} hashes to {}: not served", digest, actual);
                return null;
            }
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            local.commit(digest, temp);
            onFetch.fetched(digest, size);
            return local.open(digest);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    @Override
    public void commit(Digest digest, Path verifiedFile) throws IOException {
        try {
            // Build caches push the same layer from many builders: a HEAD saves the transfer.
            if (bucket.size(object(digest)) < 0) {
                bucket.putFile(object(digest), verifiedFile, Files.size(verifiedFile));
            }
            health.up();
        } catch (ObjectStore.UnavailableException e) {
            throw unavailable(e);
        }
        local.commit(digest, verifiedFile);
    }

    @Override
    public boolean delete(Digest digest) throws IOException {
        return local.delete(digest);
    }

    @Override
    public void forEach(Consumer<Digest> action) throws IOException {
        local.forEach(action);
    }

    private RegistryException unavailable(ObjectStore.UnavailableException e) {
        return health.refuse(e);
    }

    private static Digest hash(Path file, Digest.Algorithm algorithm) throws IOException {
        MessageDigest md = algorithm.newMessageDigest();
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (ch.read(buf.clear()) >= 0) {
                md.update(buf.flip());
            }
        }
        return Digest.of(algorithm, md.digest());
    }
}
