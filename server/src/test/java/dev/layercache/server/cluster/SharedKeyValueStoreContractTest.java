package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.KeyValueStoreContract;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.storage.ObjectStore;
import dev.layercache.server.storage.S3ObjectStore;
import dev.layercache.server.testing.S3Server;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link SharedKeyValueStore} through the contract every key-value store keeps, over a real S3
 * server (each test in a prefix of its own) and a RocksDB cache; reopening is a restart of the
 * node on the same disk. Then what the contract's "all or nothing" becomes over a bucket, which
 * has no multi-object transactions, and what a node that lost its disk still finds.
 */
class SharedKeyValueStoreContractTest extends KeyValueStoreContract {
    @RegisterExtension
    static final S3Server S3 = new S3Server();

    @TempDir
    Path dir;
    private ObjectStore bucket;
    private final BucketHealth health = new BucketHealth();
    private KeyValueStore current;

    @Override
    protected KeyValueStore store() {
        bucket = S3ObjectStore.open(S3.settings("t-" + UUID.randomUUID()), S3ObjectStore.RequestListener.NONE);
        current = new SharedKeyValueStore(new RocksKeyValueStore(dir.resolve("node")), bucket, health);
        return current;
    }

    @Override
    protected KeyValueStore reopen() {
        current.close();
        current = new SharedKeyValueStore(new RocksKeyValueStore(dir.resolve("node")), bucket, health);
        return current;
    }

    /**
     * The contract's batches are all or nothing; over a bucket they cannot be (one object per
     * change, no transactions). What holds instead, and is what the indexes rely on: puts go in
     * dependency order (a manifest before the tag that names it), a batch the bucket fails part
     * way through is acknowledged to nobody (the caller gets UNAVAILABLE and the node's cache has
     * none of it), and what did reach the bucket is at worst unreferenced, which collection removes.
     */
    @Test
    void aBatchCutShortLeavesOnlyWhatNothingNamesAndIsAcknowledgedNowhere() throws Exception {
        store();
        byte[] manifestKey = Keys.of("team/app", "sha256:01");
        byte[] tagKey = Keys.of("team/app", "v1");
        try (RocksKeyValueStore local = new RocksKeyValueStore(dir.resolve("cut"))) {
            // The bucket fails every request after the first put: the tag's put never lands.
            ObjectStore failing = new FailingAfter(bucket, 1);
            KeyValueStore kv = new SharedKeyValueStore(local, failing, health);
            RegistryException refused = assertThrows(RegistryException.class, () -> kv.batch()
                    .put(Table.TAGS, tagKey, Keys.utf8("sha256:01"))
                    .put(Table.MANIFESTS, manifestKey, Keys.utf8("manifest"))
                    .commit(true));
            assertEquals(ErrorCode.UNAVAILABLE, refused.code());
            assertNull(local.get(Table.MANIFESTS, manifestKey), "nothing reached the node's cache");
            assertNull(local.get(Table.TAGS, tagKey));
        }
        health.up();
        assertArrayEquals(Keys.utf8("manifest"), current.get(Table.MANIFESTS, manifestKey),
                "the manifest went first, whatever the order of the batch");
        assertNull(current.get(Table.TAGS, tagKey), "so no tag names a manifest the bucket lacks");
    }

    /** Shared tables live in the bucket: a node that lost its disk (a new node) finds them; local ones stay behind. */
    @Test
    void aNodeWithAnEmptyDiskFindsTheSharedTablesButNotTheLocalOnes() throws Exception {
        KeyValueStore kv = store();
        kv.batch().put(Table.BLOBS, Keys.utf8("sha256:0b"), Keys.utf8("1"))
                .put(Table.TAGS, Keys.of("team/app", "v1"), Keys.utf8("sha256:0c"))
                .put(Table.UPLOADS, Keys.utf8("session"), Keys.utf8("2"))
                .commit(true);
        try (RocksKeyValueStore empty = new RocksKeyValueStore(dir.resolve("other"))) {
            KeyValueStore other = new SharedKeyValueStore(empty, bucket, health);
            assertArrayEquals(Keys.utf8("1"), other.get(Table.BLOBS, Keys.utf8("sha256:0b")));
            assertEquals(List.of("v1"), other.scanKeys(Table.TAGS, Keys.prefix("team/app"), null, 10).stream()
                    .map(Keys::lastPart).toList());
            assertNull(other.get(Table.UPLOADS, Keys.utf8("session")), "upload sessions stay on their node");
        }
    }

    @AfterEach
    void close() {
        if (current != null) {
            current.close();
        }
        if (bucket != null) {
            bucket.close();
        }
        health.close();
    }

    /** A bucket that answers {@code allowed} puts, then fails every request as unreachable. */
    private static final class FailingAfter implements ObjectStore {
        private final ObjectStore bucket;
        private int allowed;

        FailingAfter(ObjectStore bucket, int allowed) {
            this.bucket = bucket;
            this.allowed = allowed;
        }

        private void request() throws IOException {
            if (allowed-- <= 0) {
                throw new UnavailableException("the test cut the bucket off", null);
            }
        }

        @Override
        public void put(String key, byte[] bytes) throws IOException {
            request();
            bucket.put(key, bytes);
        }

        @Override
        public void putFile(String key, Path file, long size) throws IOException {
            request();
            bucket.putFile(key, file, size);
        }

        @Override
        public boolean putIfAbsent(String key, byte[] bytes) throws IOException {
            request();
            return bucket.putIfAbsent(key, bytes);
        }

        @Override
        public byte[] get(String key) throws IOException {
            request();
            return bucket.get(key);
        }

        @Override
        public long size(String key) throws IOException {
            request();
            return bucket.size(key);
        }

        @Override
        public boolean download(String key, Path target) throws IOException {
            request();
            return bucket.download(key, target);
        }

        @Override
        public void delete(String key) throws IOException {
            request();
            bucket.delete(key);
        }

        @Override
        public List<ObjectInfo> listObjects(String prefix, String startAfter, int limit) throws IOException {
            request();
            return bucket.listObjects(prefix, startAfter, limit);
        }

        @Override
        public void close() {
        }
    }
}
