package dev.layercache.server.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.Digest;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The contract every {@link BlobBackend} must keep. An implementation's test extends this class
 * and supplies the backend and a folder for verified temporary files on the same file system.
 *
 * <p>A clause an implementation cannot keep by design is {@code protected}: its test overrides
 * it with a {@code @Test} of what holds instead and says why, rather than skipping it.
 */
public abstract class BlobBackendContract {

    /** A fresh, empty backend. */
    protected abstract BlobBackend backend() throws Exception;

    /** A folder where the test writes files to commit (same file system as the backend). */
    protected abstract Path scratch() throws Exception;

    /** Every file the backend holds, for "nothing left behind" checks. */
    protected abstract long filesHeld() throws Exception;

    protected Path file(String content) throws Exception {
        Path p = Files.createTempFile(scratch(), "blob", ".tmp");
        Files.writeString(p, content);
        return p;
    }

    protected static Digest digestOf(String content) {
        return Digest.sha256(content.getBytes(StandardCharsets.UTF_8));
    }

    protected static String read(FileChannel ch) throws Exception {
        ByteBuffer b = ByteBuffer.allocate((int) ch.size());
        while (b.hasRemaining() && ch.read(b) >= 0) {
            // read fully
        }
        return new String(b.array(), StandardCharsets.UTF_8);
    }

    @Test
    void absentBlobHasNoSizeAndNoChannel() throws Exception {
        BlobBackend b = backend();
        Digest d = digestOf("nothing");
        assertEquals(-1, b.size(d));
        assertNull(b.open(d));
        assertFalse(b.delete(d));
    }

    @Test
    void committedBlobIsReadableWithItsSize() throws Exception {
        BlobBackend b = backend();
        Digest d = digestOf("layer bytes");
        Path tmp = file("layer bytes");
        b.commit(d, tmp);
        assertFalse(Files.exists(tmp), "commit consumes the verified file");
        assertEquals(11, b.size(d));
        try (FileChannel ch = b.open(d)) {
            assertEquals("layer bytes", read(ch));
        }
    }

    @Test
    void committingAnExistingBlobKeepsOneCopy() throws Exception {
        BlobBackend b = backend();
        Digest d = digestOf("same");
        b.commit(d, file("same"));
        long before = filesHeld();
        Path second = file("same");
        b.commit(d, second);
        assertFalse(Files.exists(second), "the duplicate upload is dropped");
        assertEquals(before, filesHeld());
        assertEquals(4, b.size(d));
    }

    @Test
    void anOpenChannelSurvivesDeletion() throws Exception {
        BlobBackend b = backend();
        Digest d = digestOf("still streaming");
        b.commit(d, file("still streaming"));
        try (FileChannel ch = b.open(d)) {
            assertTrue(b.delete(d));
            assertEquals("still streaming", read(ch));
        }
    }

    /** After {@link BlobBackend#delete} the blob is absent (also while a reader still streams it), and no file of it remains. */
    @Test
    protected void aDeletedBlobIsAbsentAndLeavesNothingBehind() throws Exception {
        BlobBackend b = backend();
        Digest d = digestOf("deleted");
        b.commit(d, file("deleted"));
        try (FileChannel ch = b.open(d)) {
            assertTrue(b.delete(d));
            assertEquals(-1, b.size(d));
            assertTrue(ch.isOpen());
        }
        assertNull(b.open(d));
        assertFalse(b.delete(d), "a second delete finds nothing");
        assertEquals(0, filesHeld(), "nothing is left behind after delete");
    }

    @Test
    void forEachListsEveryCommittedDigest() throws Exception {
        BlobBackend b = backend();
        Set<Digest> expected = new HashSet<>();
        for (int i = 0; i < 5; i++) {
            Digest d = digestOf("blob " + i);
            b.commit(d, file("blob " + i));
            expected.add(d);
        }
        Set<Digest> seen = new HashSet<>();
        b.forEach(seen::add);
        assertEquals(expected, seen);
    }

    @Test
    void binaryContentRoundTrips() throws Exception {
        BlobBackend b = backend();
        byte[] bytes = new byte[300_000];
        new java.util.Random(7).nextBytes(bytes);
        Path tmp = Files.createTempFile(scratch(), "bin", ".tmp");
        Files.write(tmp, bytes);
        Digest d = Digest.sha256(bytes);
        b.commit(d, tmp);
        try (FileChannel ch = b.open(d)) {
            ByteBuffer all = ByteBuffer.allocate(bytes.length);
            while (all.hasRemaining() && ch.read(all) >= 0) {
                // read fully
            }
            assertArrayEquals(bytes, all.array());
        }
    }
}
