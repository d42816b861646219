package dev.layercache.server.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.metadata.Table;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The memory of answers is voided by the store's writes, including those racing a fill. */
class AnswerCacheTest {
    private static final String DIGEST = "sha256:" + "ab".repeat(32);

    @Test
    void aWriteToTheStoreVoidsTheAnswersItTouches(@TempDir Path dir) {
        AnswerCache answers = new AnswerCache(1 << 20);
        try (RocksKeyValueStore kv = new RocksKeyValueStore(dir)) {
            kv.whenCommitted(AnswerCache.WATCHED, answers.listener());
            AnswerCache.ManifestKey tag = new AnswerCache.ManifestKey("a/b", "latest");
            AnswerCache.TagsKey tags = new AnswerCache.TagsKey("a/b", null, null);
            AnswerCache.BlobKey blob = new AnswerCache.BlobKey("a/b", DIGEST);
            AnswerCache.ManifestKey other = new AnswerCache.ManifestKey("c/d", "latest");
            answers.put(tag, "m1", answers.repositoryStamp("a/b"), 10);
            answers.put(tags, "t1", answers.repositoryStamp("a/b"), 10);
            answers.put(blob, 5L, answers.blobStamp(DIGEST), 0);
            answers.put(other, "m2", answers.repositoryStamp("c/d"), 10);
            assertEquals("m1", answers.get(tag));

            kv.batch().put(Table.TAGS, Keys.of("a/b", "latest"), Keys.utf8("sha256:00")).commit(false);
            assertNull(answers.get(tag));
            assertNull(answers.get(tags));
            assertEquals(5L, answers.get(blob), "a tag's move says nothing of blobs");
            assertEquals("m2", answers.get(other), "nor of another repository");

            kv.batch().delete(Table.BLOBS, Keys.utf8(DIGEST)).commit(true);
            assertNull(answers.get(blob));
            kv.batch().delete(Table.UPLOADS, Keys.utf8("x")).commit(false); // an unwatched table
            assertEquals("m2", answers.get(other));
        }
    }

    @Test
    void aFillThatRacedAWriteIsNotKept() {
        AnswerCache answers = new AnswerCache(1 << 20);
        AnswerCache.ManifestKey tag = new AnswerCache.ManifestKey("a/b", "latest");
        long stamp = answers.repositoryStamp("a/b"); // the reader's stamp, then the store is read...
        answers.changed(Table.MANIFESTS, Keys.of("a/b", DIGEST)); // ...while a writer commits
        answers.put(tag, "old", stamp, 10);
        assertNull(answers.get(tag));

        AnswerCache.BlobKey blob = new AnswerCache.BlobKey("a/b", DIGEST);
        long blobStamp = answers.blobStamp(DIGEST);
        answers.put(blob, 5L, blobStamp, 0);
        answers.changed(Table.LINKS, Keys.of("a/b", DIGEST));
        assertNull(answers.get(blob), "a link removed voids the answer");
    }

    @Test
    void largeAnswersAreNeverKept() {
        AnswerCache answers = new AnswerCache(1 << 20);
        AnswerCache.ManifestKey tag = new AnswerCache.ManifestKey("a/b", "big");
        answers.put(tag, "big", answers.repositoryStamp("a/b"), AnswerCache.MAX_ANSWER_BYTES + 1);
        assertNull(answers.get(tag));
        for (int i = 0; i < 1000; i++) {
            answers.put(new AnswerCache.ManifestKey("a/b", "t" + i), "x", answers.repositoryStamp("a/b"), 60_000);
        }
        assertTrue(answers.size() < 1000 * 60_000 / (1 << 20) + 5, "bounded by bytes: " + answers.size());
    }

    @Test
    void keysChosenByClientsCountAgainstTheBudget() {
        // A tags page for an empty `last` is a few bytes; the `last` a client sends may be 8 KB.
        AnswerCache answers = new AnswerCache(1 << 20);
        String longLast = "x".repeat(8000);
        for (int i = 0; i < 2000; i++) {
            answers.put(new AnswerCache.TagsKey("a/b", null, longLast + i), "[]", answers.repositoryStamp("a/b"), 30);
        }
        // 2,000 keys of 8 KB would be 16 MB held under a 1 MiB budget if only answers counted.
        assertTrue(answers.size() * 8000L <= (1 << 20), "held: " + answers.size());
        assertTrue(answers.size() > 0);
    }

    @Test
    void anAnswerIsUsedForTenSecondsAtMost() {
        long[] now = {0};
        AnswerCache answers = new AnswerCache(1 << 20, () -> now[0]);
        AnswerCache.BlobKey blob = new AnswerCache.BlobKey("a/b", DIGEST);
        answers.put(blob, 5L, answers.blobStamp(DIGEST), 0);
        now[0] += AnswerCache.MAX_AGE.toNanos() - 1;
        assertEquals(5L, answers.get(blob));
        assertTrue(answers.holds(blob));
        now[0] += 2;
        assertNull(answers.get(blob), "a file lost behind the node's back is looked for again by the usual way");
        assertTrue(!answers.holds(blob));
    }
}
