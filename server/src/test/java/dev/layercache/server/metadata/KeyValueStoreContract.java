package dev.layercache.server.metadata;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The contract of a {@link KeyValueStore}; each implementation's test extends it. */
public abstract class KeyValueStoreContract {

    /** A fresh, empty store. */
    protected abstract KeyValueStore store() throws Exception;

    /** Closes and reopens the same store (data must survive). */
    protected abstract KeyValueStore reopen() throws Exception;

    private static byte[] b(String s) {
        return Keys.utf8(s);
    }

    @Test
    void putGetDelete() throws Exception {
        KeyValueStore kv = store();
        assertNull(kv.get(Table.TAGS, b("k")));
        kv.batch().put(Table.TAGS, b("k"), b("v")).commit(true);
        assertArrayEquals(b("v"), kv.get(Table.TAGS, b("k")));
        assertNull(kv.get(Table.BLOBS, b("k")), "tables are separate");
        kv.batch().delete(Table.TAGS, b("k")).commit(false);
        assertNull(kv.get(Table.TAGS, b("k")));
    }

    @Test
    void batchesAreAllOrNothingAcrossTables() throws Exception {
        KeyValueStore kv = store();
        kv.batch().put(Table.MANIFESTS, b("m"), b("1")).put(Table.TAGS, b("t"), b("m")).commit(true);
        assertArrayEquals(b("1"), kv.get(Table.MANIFESTS, b("m")));
        assertArrayEquals(b("m"), kv.get(Table.TAGS, b("t")));
    }

    @Test
    void scanIsOrderedBoundedByPrefixAndPaginates() throws Exception {
        KeyValueStore kv = store();
        KeyValueStore.Batch batch = kv.batch();
        for (String k : new String[] {"a\0x", "a\0b", "a\0c", "ab\0z", "b\0a"}) {
            batch.put(Table.TAGS, b(k), b(k));
        }
        batch.commit(true);
        List<KeyValueStore.Entry> all = kv.scan(Table.TAGS, b("a\0"), null, 100);
        assertEquals(List.of("a\0b", "a\0c", "a\0x"), all.stream().map(e -> Keys.string(e.key())).toList());
        List<KeyValueStore.Entry> page = kv.scan(Table.TAGS, b("a\0"), b("a\0b"), 1);
        assertEquals(List.of("a\0c"), page.stream().map(e -> Keys.string(e.key())).toList());
        assertTrue(kv.anyWithPrefix(Table.TAGS, b("b\0")));
        assertFalse(kv.anyWithPrefix(Table.TAGS, b("c\0")));
        assertTrue(kv.scan(Table.TAGS, b("a\0"), b("a\0x"), 10).isEmpty());
    }

    @Test
    void committedDataSurvivesReopen() throws Exception {
        KeyValueStore kv = store();
        kv.batch().put(Table.BLOBS, b("durable"), b("1")).commit(true);
        kv.batch().put(Table.UPLOADS, b("process-safe"), b("2")).commit(false);
        KeyValueStore again = reopen();
        assertArrayEquals(b("1"), again.get(Table.BLOBS, b("durable")));
        assertArrayEquals(b("2"), again.get(Table.UPLOADS, b("process-safe")));
    }
}
