package dev.layercache.server.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.Digest;
import dev.layercache.server.metadata.KeyValueStore;
import java.nio.ByteBuffer;
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

    protected static String read(BlobContent ch) throws Exception {
        return new String(ch.readAll(), StandardCharsets.UTF_8);
    }

    /**
     * A batch of the metadata store the backend keeps small blobs in, for backends whose
     * {@link BlobBackend#inlineLimit} is above 0.
     */
    protected KeyValueStore.Batch inlineBatch() throws Exception {
        throw new UnsupportedOperationException("this backend keeps no blobs inline");
    }

    /** Stores {@code bytes} inline, in a durable batch of its own. */
    private void commitInline(BlobBackend b, Digest d, byte[] bytes) throws Exception {
        KeyValueStore.Batch batch = inlineBatch();
        b.commitInline(batch, d, bytes, bytes.length);
        batch.commit(true);
    }

    @Test
    void aSmallBlobCommittedInlineIsReadableListedAndDeletable() throws Exception {
        BlobBackend b = backend();
        byte[] bytes = "small config blob".getBytes(StandardCharsets.UTF_8);
        Digest d = Digest.sha256(bytes);
        if (b.inlineLimit() == 0) {
            assertThrows(UnsupportedOperationException.class, () -> b.commitInline(null, d, bytes, bytes.length),
                    "a backend that keeps no blob inline refuses one");
            return;
        }
        commitInline(b, d, bytes);
        assertEquals(0, filesHeld(), "an inline blob is no file");
        assertEquals(bytes.length, b.size(d));
        try (BlobContent ch = b.open(d)) {
            assertEquals("small config blob", read(ch));
            assertTrue(b.delete(d));
            assertEquals("small config blob", read(ch), "content handed out stays readable after deletion");
        }
        assertEquals(-1, b.size(d));
        assertNull(b.open(d));
        assertFalse(b.delete(d));
    }

    @Test
    void inlineBytesGoWithTheBatchThatDeletesThem() throws Exception {
        BlobBackend b = backend();
        if (b.inlineLimit() == 0) {
            KeyValueStore.Batch none = null;
            b.deleteInline(none, digestOf("x")); // nothing to add: must not touch the batch
            return;
        }
        byte[] bytes = new byte[b.inlineLimit()];
        new java.util.Random(3).nextBytes(bytes);
        Digest d = Digest.sha256(bytes);
        commitInline(b, d, bytes);
        Set<Digest> seen = new HashSet<>();
        b.forEach(seen::add);
        assertEquals(Set.of(d), seen, "forEach lists inline blobs too");
        try (BlobContent ch = b.open(d)) {
            assertArrayEquals(bytes, ch.readAll(), "a blob of the inline limit round-trips");
            ByteBuffer tail = ByteBuffer.allocate(10);
            assertEquals(10, ch.read(tail, bytes.length - 10));
            assertEquals(-1, ch.read(ByteBuffer.allocate(1), bytes.length));
        }
        KeyValueStore.Batch batch = inlineBatch();
        b.deleteInline(batch, d);
        assertEquals(bytes.length, b.size(d), "nothing changes before the batch commits");
        batch.commit(false);
        assertEquals(-1, b.size(d));
        assertThrows(IllegalArgumentException.class,
                () -> b.commitInline(inlineBatch(), d, new byte[b.inlineLimit() + 1], b.inlineLimit() + 1));
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
        try (BlobContent ch = b.open(d)) {
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
        try (BlobContent ch = b.open(d)) {
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
        try (BlobContent ch = b.open(d)) {
            assertTrue(b.delete(d));
            assertEquals(-1, b.size(d));
            if (ch instanceof BlobContent.File f) {
                assertTrue(f.channel().isOpen());
            }
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
        try (BlobContent ch = b.open(d)) {
            assertArrayEquals(bytes, ch.readAll());
        }
    }
}
