package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.Digest;
import dev.layercache.server.storage.BlobBackend;
import dev.layercache.server.storage.BlobBackendContract;
import dev.layercache.server.storage.DataLayout;
import dev.layercache.server.storage.DiskBlobBackend;
import dev.layercache.server.storage.ObjectStore;
import dev.layercache.server.storage.S3ObjectStore;
import dev.layercache.server.testing.S3Server;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link TieredBlobBackend} through the contract every blob backend keeps, over a real S3 server
 * (each test in a prefix of its own: an empty bucket). What the backend holds is its node's hot
 * copies, any temporary file of a fetch, and the bucket's objects.
 */
class TieredBlobBackendTest extends BlobBackendContract {
    @RegisterExtension
    static final S3Server S3 = new S3Server();

    @TempDir
    Path root;
    private DataLayout layout;
    private final List<AutoCloseable> open = new ArrayList<>();
    private ObjectStore bucket;

    @Override
    protected BlobBackend backend() throws Exception {
        layout = new DataLayout(root).create();
        bucket = S3ObjectStore.open(S3.settings("t-" + UUID.randomUUID()), S3ObjectStore.RequestListener.NONE);
        BucketHealth health = new BucketHealth();
        open.add(bucket);
        open.add(health);
        return new TieredBlobBackend(new DiskBlobBackend(layout), bucket, layout, health, (digest, size) -> { });
    }

    @Override
    protected Path scratch() {
        return layout.uploads();
    }

    @Override
    protected long filesHeld() throws Exception {
        long files = 0;
        for (Path dir : new Path[] {layout.blobs(), layout.uploads()}) {
            try (Stream<Path> s = Files.walk(dir)) {
                files += s.filter(Files::isRegularFile).count();
            }
        }
        return files + bucket.list("blobs/", null, 1000).size();
    }

    /**
     * Replaces the contract's clause, which cannot hold here: {@link TieredBlobBackend#delete}
     * removes this node's copy only. The bucket's copy may be what other nodes' manifests and
     * entries name, and only the bucket's own collection (two steps, revival, see
     * {@link BucketCollector}) may decide that nobody does. What holds instead: the node keeps
     * no file of the blob, the bucket still has it, and the next read fetches it back whole.
     */
    @Test
    @Override
    protected void aDeletedBlobIsAbsentAndLeavesNothingBehind() throws Exception {
        BlobBackend b = backend();
        Digest d = digestOf("deleted");
        b.commit(d, file("deleted"));
        assertEquals(2, filesHeld(), "the hot copy and the bucket's");
        assertTrue(b.delete(d));
        assertEquals(1, filesHeld(), "only the bucket's copy is left, no file on this node");
        assertEquals(7, b.size(d), "the bucket still answers for the blob");
        assertFalse(b.delete(d), "a second delete finds no copy on this node");
        try (dev.layercache.server.storage.BlobContent ch = b.open(d)) {
            assertEquals("deleted", read(ch), "read through from the bucket");
        }
        assertEquals(2, filesHeld(), "the fetched copy is kept, no temporary file remains");
        assertFalse(b.delete(digestOf("never stored")));
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
        open.clear();
    }
}
