package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.storage.FileObjectStore;
import dev.layercache.server.storage.ObjectStore;
import dev.layercache.server.storage.S3ObjectStore;
import dev.layercache.server.testing.S3Server;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two nodes' metadata over one bucket (a shared folder, and a real S3 server for the outage):
 * what one node commits, the other reads; changing records are read from the bucket every time;
 * a batch the bucket refuses is stored nowhere.
 */
class SharedKeyValueStoreTest {
    @TempDir
    Path dir;

    private static S3Server started(S3Server s3) throws Exception {
        s3.start();
        return s3;
    }

    private static byte[] utf8(String s) {
        return Keys.utf8(s);
    }

    @Test
    void whatOneNodeCommitsTheOtherReads() throws Exception {
        try (ObjectStore bucket = FileObjectStore.open(java.nio.file.Files.createDirectories(dir.resolve("bucket")));
             RocksKeyValueStore localA = new RocksKeyValueStore(dir.resolve("a"));
             RocksKeyValueStore localB = new RocksKeyValueStore(dir.resolve("b"))) {
            BucketHealth health = new BucketHealth();
            KeyValueStore a = new SharedKeyValueStore(localA, bucket, health);
            KeyValueStore b = new SharedKeyValueStore(localB, bucket, health);

            a.batch().put(Table.MANIFESTS, Keys.of("team/app", "sha256:01"), utf8("manifest"))
                    .put(Table.TAGS, Keys.of("team/app", "v1"), utf8("sha256:01"))
                    .put(Table.TAGS, Keys.of("team/app", "v2"), utf8("sha256:01"))
                    .put(Table.REPOSITORIES, Keys.utf8("team/app"), new byte[0])
                    .put(Table.ACCESS, Keys.of("t", "team/app", "v1"), utf8("local only"))
                    .commit(true);
            assertArrayEquals(utf8("manifest"), b.get(Table.MANIFESTS, Keys.of("team/app", "sha256:01")));
            assertArrayEquals(utf8("sha256:01"), b.get(Table.TAGS, Keys.of("team/app", "v1")));
            assertNull(b.get(Table.ACCESS, Keys.of("t", "team/app", "v1")), "access times stay on their node");
            assertEquals(List.of("v1", "v2"), b.scanKeys(Table.TAGS, Keys.prefix("team/app"), null, 10).stream()
                    .map(Keys::lastPart).toList());
            assertEquals(1, b.scan(Table.REPOSITORIES, new byte[0], null, 10).size());
            assertArrayEquals(utf8("manifest"), localB.get(Table.MANIFESTS, Keys.of("team/app", "sha256:01")),
                    "a write-once record read once is cached on the reading node");

            // Changing records: the bucket decides, also over a node's cached copy.
            b.batch().put(Table.TAGS, Keys.of("team/app", "v1"), utf8("sha256:02")).commit(true);
            assertArrayEquals(utf8("sha256:02"), a.get(Table.TAGS, Keys.of("team/app", "v1")));
            b.batch().delete(Table.TAGS, Keys.of("team/app", "v2")).commit(true);
            assertNull(a.get(Table.TAGS, Keys.of("team/app", "v2")));
            assertNull(localA.get(Table.TAGS, Keys.of("team/app", "v2")), "the stale copy is dropped on read");
            assertEquals(List.of("v1"), a.scanKeys(Table.TAGS, Keys.prefix("team/app"), null, 10).stream()
                    .map(Keys::lastPart).toList());
        }
    }

    @Test
    void aBatchTheBucketRefusesIsStoredNowhereAndChangingReadsFallBackToTheLocalCopy() throws Exception {
        try (S3Server s3 = started(new S3Server());
             S3ObjectStore bucket = S3ObjectStore.open(s3.settings(""), S3ObjectStore.RequestListener.NONE);
             RocksKeyValueStore local = new RocksKeyValueStore(dir.resolve("a"))) {
            BucketHealth health = new BucketHealth();
            KeyValueStore kv = new SharedKeyValueStore(local, bucket, health);
            kv.batch().put(Table.TAGS, Keys.of("r", "t"), utf8("before")).commit(true);
            assertArrayEquals(utf8("before"), kv.get(Table.TAGS, Keys.of("r", "t")));

            s3.stop();
            RegistryException refused = assertThrows(RegistryException.class, () -> kv.batch()
                    .put(Table.TAGS, Keys.of("r", "t"), utf8("during"))
                    .put(Table.MANIFESTS, Keys.of("r", "sha256:0a"), utf8("m")).commit(true));
            assertEquals(ErrorCode.UNAVAILABLE, refused.code());
            assertTrue(!health.isUp(), "the failure marks the bucket down");
            assertNull(local.get(Table.MANIFESTS, Keys.of("r", "sha256:0a")), "nothing reached the local cache");
            assertArrayEquals(utf8("before"), kv.get(Table.TAGS, Keys.of("r", "t")),
                    "a tag is answered from the last copy seen while the bucket is down");

            s3.start();
            assertArrayEquals(utf8("before"), kv.get(Table.TAGS, Keys.of("r", "t")));
            assertTrue(health.isUp());
            assertNull(kv.get(Table.MANIFESTS, Keys.of("r", "sha256:0a")), "the refused batch is in the bucket neither");
        }
    }
}
