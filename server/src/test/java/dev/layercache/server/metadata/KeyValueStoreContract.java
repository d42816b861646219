package dev.layercache.server.metadata;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import java.util.TreeSet;
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

    /**
     * Keys are bytes: characters a store may have to escape (spaces, {@code %}, slashes at either
     * end or doubled, non-ASCII) come back as they went in, and a prefix matches byte for byte,
     * wherever it ends.
     */
    @Test
    void keysOfAnyCharacterRoundTripAndPrefixesMatchByteForByte() throws Exception {
        KeyValueStore kv = store();
        List<String> keys = List.of("team/app\0v1", "team/app/sub\0v1", "team-x\0v1", "/leading", "trailing/",
                "a//b", "sp ace\0%41 per%cent", "\u00fcn\u00ef\u20acode\0x", "step#3\0!");
        KeyValueStore.Batch batch = kv.batch();
        keys.forEach(k -> batch.put(Table.TAGS, b(k), b("value of " + k)));
        batch.commit(true);
        for (String k : keys) {
            assertArrayEquals(b("value of " + k), kv.get(Table.TAGS, b(k)), k);
        }
        assertEquals(new TreeSet<>(keys), scanned(kv, ""));
        assertEquals(Set.of("team/app\0v1", "team/app/sub\0v1"), scanned(kv, "team/"));
        assertEquals(Set.of("team/app/sub\0v1"), scanned(kv, "team/app/"));
        assertEquals(Set.of("a//b"), scanned(kv, "a/"));
        assertEquals(Set.of("/leading"), scanned(kv, "/"));
        assertEquals(Set.of("trailing/"), scanned(kv, "trailing/"));
        assertEquals(Set.of("sp ace\0%41 per%cent"), scanned(kv, "sp ace\0%"));
        for (KeyValueStore.Entry e : kv.scan(Table.TAGS, new byte[0], null, 100)) {
            assertArrayEquals(b("value of " + Keys.string(e.key())), e.value());
        }
    }

    private static Set<String> scanned(KeyValueStore kv, String prefix) {
        Set<String> out = new TreeSet<>();
        kv.scanKeys(Table.TAGS, b(prefix), null, 100).forEach(k -> out.add(Keys.string(k)));
        return out;
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
