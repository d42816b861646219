package dev.layercache.server.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.EOFException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The contract every {@link ObjectStore} must keep (see its Javadoc). An implementation's test
 * extends this class and opens a fresh, empty store for each test.
 */
public abstract class ObjectStoreContract {
    /** Larger than the multipart threshold the S3 test sets, small enough to stay quick. */
    protected static final long LARGE_FILE_SIZE = (12L << 20) + 123;

    /**
     * Keys whose byte order differs from a naive folder walk: {@code !}, {@code %}, {@code -} and
     * {@code .} sort before {@code /}, and {@code :} after it.
     */
    protected static final List<String> ODD_KEYS = List.of(
            "k!1", "k%41", "k-1", "k.1", "k/0", "k/x/y", "k/x:z", "k0", "k:1", "kZ", "k_1", "ka", "l");

    @TempDir
    protected Path scratch;
    protected ObjectStore store;

    /** A fresh store that holds nothing. */
    protected abstract ObjectStore open() throws Exception;

    /** Called after a file of {@link #LARGE_FILE_SIZE} went up; S3 checks it went in parts. */
    protected void checkLargeUpload() throws Exception {
    }

    @BeforeEach
    void openStore() throws Exception {
        store = open();
    }

    @AfterEach
    void closeStore() {
        store.close();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    protected static String sha256(Path file) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                sha.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    protected Path randomFile(String name, long size) throws Exception {
        Path file = scratch.resolve(name);
        Random random = new Random(size);
        byte[] chunk = new byte[1 << 20];
        try (var out = Files.newOutputStream(file)) {
            for (long left = size; left > 0; left -= chunk.length) {
                random.nextBytes(chunk);
                out.write(chunk, 0, (int) Math.min(left, chunk.length));
            }
        }
        return file;
    }

    @Test
    void putThenGetRoundTrips() throws Exception {
        byte[] bytes = new byte[70_000];
        new Random(3).nextBytes(bytes);
        store.put("meta/record-1", bytes);
        assertArrayEquals(bytes, store.get("meta/record-1"));
        assertEquals(bytes.length, store.size("meta/record-1"));
        store.put("empty", new byte[0]);
        assertArrayEquals(new byte[0], store.get("empty"));
        assertEquals(0, store.size("empty"));
    }

    @Test
    void lastWriterWins() throws Exception {
        store.put("k", utf8("first"));
        store.put("k", utf8("second, longer"));
        assertEquals("second, longer", new String(store.get("k"), StandardCharsets.UTF_8));
        Path file = scratch.resolve("third");
        Files.writeString(file, "third");
        store.putFile("k", file, 5);
        assertEquals("third", new String(store.get("k"), StandardCharsets.UTF_8));
        assertEquals(5, store.size("k"));
    }

    @Test
    void absentKeyIsNullMinusOneAndFalse() throws Exception {
        assertNull(store.get("nothing/here"));
        assertEquals(-1, store.size("nothing/here"));
        Path target = scratch.resolve("target");
        Files.writeString(target, "keep me");
        assertFalse(store.download("nothing/here", target));
        assertEquals("keep me", Files.readString(target), "a failed download leaves the target untouched");
        assertEquals(List.of("target"), filesIn(scratch), "and no temporary file behind");
    }

    @Test
    void putIfAbsentNeverReplaces() throws Exception {
        assertTrue(store.putIfAbsent("claim", utf8("first")));
        assertFalse(store.putIfAbsent("claim", utf8("second")));
        assertEquals("first", new String(store.get("claim"), StandardCharsets.UTF_8));
        store.delete("claim");
        assertTrue(store.putIfAbsent("claim", utf8("third")), "free again once deleted");
        assertEquals("third", new String(store.get("claim"), StandardCharsets.UTF_8));
    }

    @Test
    void putIfAbsentHasOneWinnerAmongRacers() throws Exception {
        int racers = 8;
        ExecutorService pool = Executors.newFixedThreadPool(racers);
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int i = 0; i < racers; i++) {
                byte[] bytes = utf8("racer " + i);
                results.add(pool.submit(() -> store.putIfAbsent("race", bytes)));
            }
            int winner = -1;
            for (int i = 0; i < racers; i++) {
                if (results.get(i).get()) {
                    assertEquals(-1, winner, "two racers won");
                    winner = i;
                }
            }
            assertTrue(winner >= 0, "nobody won");
            assertEquals("racer " + winner, new String(store.get("race"), StandardCharsets.UTF_8));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void deleteMakesAbsentAndAbsentKeysAreFine() throws Exception {
        store.put("a/b", utf8("x"));
        store.delete("a/b");
        assertNull(store.get("a/b"));
        assertEquals(-1, store.size("a/b"));
        assertEquals(List.of(), store.list("", null, 10));
        store.delete("a/b");
        store.delete("never/was");
    }

    @Test
    void listObjectsGivesEachObjectsSizeAndTime() throws Exception {
        long before = System.currentTimeMillis() - 5_000; // S3 times have second precision
        store.put("sized/a", new byte[3]);
        store.put("sized/b", new byte[70]);
        List<ObjectStore.ObjectInfo> listed = store.listObjects("sized/", null, 10);
        assertEquals(List.of("sized/a", "sized/b"), listed.stream().map(ObjectStore.ObjectInfo::key).toList());
        assertEquals(3, listed.get(0).size());
        assertEquals(70, listed.get(1).size());
        for (ObjectStore.ObjectInfo o : listed) {
            assertTrue(o.lastModifiedMillis() >= before && o.lastModifiedMillis() <= System.currentTimeMillis() + 5_000,
                    "a write time of now: " + o);
        }
        assertEquals(List.of("sized/b"), store.listObjects("sized/", "sized/a", 10).stream()
                .map(ObjectStore.ObjectInfo::key).toList());
    }

    @Test
    void listIsInByteOrderWithPrefixStartAfterAndLimit() throws Exception {
        for (String key : ODD_KEYS) {
            store.put(key, utf8(key));
        }
        List<String> sorted = ODD_KEYS.stream().sorted().toList();
        assertEquals(ODD_KEYS, sorted, "the fixture is in byte order");
        assertEquals(sorted, store.list("", null, 100));
        assertEquals(sorted, store.list("", "", 100));
        assertEquals(sorted.subList(0, 3), store.list("", null, 3));
        assertEquals(List.of("k/0", "k/x/y", "k/x:z"), store.list("k/", null, 100));
        assertEquals(List.of("k/x/y", "k/x:z"), store.list("k/x", null, 100));
        assertEquals(List.of("k.1"), store.list("k.", null, 100));
        assertEquals(List.of(), store.list("nope", null, 100));
        assertEquals(List.of("k/x/y", "k/x:z", "k0"), store.list("", "k/0", 3));
        assertEquals(List.of("k/0", "k/x/y"), store.list("", "k.1", 2));
        assertEquals(List.of("k/0"), store.list("", "k/", 1), "startAfter need not be a key");
        assertEquals(List.of("k/x:z"), store.list("k/", "k/x/y", 100));
        assertEquals(List.of("k/0", "k/x/y", "k/x:z"), store.list("k/", "a", 100), "startAfter before the prefix");
        assertEquals(List.of(), store.list("k/", "l", 100), "startAfter past the prefix");
        assertEquals(List.of(), store.list("", "l", 100));
        assertEquals(List.of(), store.list("", null, 0));
        List<String> paged = new ArrayList<>();
        for (List<String> page = store.list("", null, 2); !page.isEmpty();
             page = store.list("", page.get(page.size() - 1), 2)) {
            assertTrue(page.size() <= 2);
            paged.addAll(page);
        }
        assertEquals(sorted, paged);
    }

    @Test
    void listPagesThroughMoreThanAThousandKeys() throws Exception {
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < 1100; i++) {
            keys.add(String.format("many/%04x", i * 7919 % 65536));
        }
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            List<Future<?>> puts = new ArrayList<>();
            for (String key : keys) {
                puts.add(pool.submit(() -> {
                    store.put(key, utf8(key));
                    return null;
                }));
            }
            for (Future<?> put : puts) {
                put.get();
            }
        } finally {
            pool.shutdownNow();
        }
        store.put("manz", utf8("outside the prefix"));
        List<String> sorted = keys.stream().sorted().toList();
        assertEquals(sorted, store.list("many/", null, 5000));
        assertEquals(sorted.subList(0, 1050), store.list("many/", null, 1050));
        assertEquals(sorted.subList(1001, 1100), store.list("many/", sorted.get(1000), 5000));
        assertEquals(sorted.subList(0, 1000), store.list("many/", null, 1000));
    }

    @Test
    void largeFileGoesUpAndComesBackByteForByte() throws Exception {
        Path file = randomFile("large", LARGE_FILE_SIZE);
        store.putFile("blobs/large", file, LARGE_FILE_SIZE);
        checkLargeUpload();
        assertEquals(LARGE_FILE_SIZE, store.size("blobs/large"));
        Path target = scratch.resolve("downloaded");
        Files.writeString(target, "an older copy, replaced");
        assertTrue(store.download("blobs/large", target));
        assertEquals(LARGE_FILE_SIZE, Files.size(target));
        assertEquals(sha256(file), sha256(target));
        assertEquals(List.of("downloaded", "large"), filesIn(scratch), "no temporary file left behind");
    }

    @Test
    void putFileStoresTheFirstSizeBytes() throws Exception {
        Path file = scratch.resolve("longer");
        Files.writeString(file, "0123456789abcdef");
        store.putFile("part", file, 10);
        assertEquals("0123456789", new String(store.get("part"), StandardCharsets.UTF_8));
        Path target = scratch.resolve("small");
        assertTrue(store.download("part", target));
        assertEquals("0123456789", Files.readString(target));
    }

    @Test
    void aFileShorterThanSaidIsRefusedAndStoresNothing() throws Exception {
        Path file = randomFile("short", 6L << 20);
        assertThrows(EOFException.class, () -> store.putFile("blobs/short", file, LARGE_FILE_SIZE));
        assertThrows(NoSuchFileException.class, () -> store.putFile("blobs/short", scratch.resolve("none"), 1));
        assertNull(store.get("blobs/short"));
        assertEquals(List.of(), store.list("", null, 10));
    }

    protected static List<String> filesIn(Path dir) throws Exception {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
