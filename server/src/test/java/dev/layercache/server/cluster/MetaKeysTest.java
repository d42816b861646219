package dev.layercache.server.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.Table;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.Test;

class MetaKeysTest {
    private static final Comparator<byte[]> UNSIGNED = Arrays::compareUnsigned;

    @Test
    void readableAndReversible() {
        byte[] key = Keys.of("team/app", "latest");
        String object = MetaKeys.object(Table.TAGS, key);
        assertEquals("meta/tags/team/app!latest", object);
        assertArrayEquals(key, MetaKeys.key(Table.TAGS, object));
        byte[] odd = {'a', '/', '/', 'b', ' ', (byte) 0xC3, (byte) 0xA9, '%', '!', '/'};
        String encoded = MetaKeys.object(Table.ENTRIES, odd);
        assertFalse(encoded.contains("//"), encoded);
        assertFalse(encoded.endsWith("/"), encoded);
        assertArrayEquals(odd, MetaKeys.key(Table.ENTRIES, encoded));
    }

    @Test
    void objectKeysSortAsTheRecordsDo() {
        List<byte[]> keys = new ArrayList<>();
        for (String repo : List.of("a", "a/b", "a-b", "a.b", "a_b", "ab", "a0", "team/app", "team/app2")) {
            for (String tag : List.of("latest", "v1", "V1", "1.0", "a-b", "sha256:00ff")) {
                keys.add(Keys.of(repo, tag));
            }
            keys.add(Keys.of(repo));
        }
        List<byte[]> byRecord = new ArrayList<>(keys);
        byRecord.sort(UNSIGNED);
        List<byte[]> byObject = new ArrayList<>(keys);
        byObject.sort(Comparator.comparing(k -> MetaKeys.object(Table.TAGS, k)));
        for (int i = 0; i < keys.size(); i++) {
            assertArrayEquals(byRecord.get(i), byObject.get(i), "position " + i);
        }
    }

    @Test
    void aPrefixOfRecordsIsAPrefixOfObjects() {
        String prefix = MetaKeys.object(Table.TAGS, Keys.prefix("team/app"));
        assertTrue(MetaKeys.object(Table.TAGS, Keys.of("team/app", "v1")).startsWith(prefix));
        assertFalse(MetaKeys.object(Table.TAGS, Keys.of("team/app2", "v1")).startsWith(prefix));
        assertFalse(MetaKeys.object(Table.TAGS, Keys.of("team/app/sub", "v1")).startsWith(prefix));
    }
}
