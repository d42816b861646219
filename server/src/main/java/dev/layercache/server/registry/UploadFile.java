package dev.layercache.server.registry;

import dev.layercache.server.concurrent.WriteBehind;
import dev.layercache.server.core.Digest;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An upload's bytes under {@code uploads/}: the file, the running SHA-256 of what it holds, and
 * a mark to return to when the request adding bytes fails.
 *
 * <p>The file is open only while a request works on it ({@link #open}, {@link #park}): a parked
 * file holds no descriptor and no staging buffer, only its path, its size and its hash state, so
 * that the sessions nobody continues (cancelled CI jobs leave them all the time) cost a few
 * hundred bytes each. After a restart the hash is gone; it is rebuilt from the file when a
 * request next opens it.
 *
 * <p>Bytes are hashed on the caller's thread and written behind it ({@link WriteBehind}), so that
 * a verified upload costs the slower of hashing and writing, not their sum. The first
 * {@link #SMALL} bytes of a request wait on the heap instead and go to the file in one ordinary
 * write on the caller's thread when the request acknowledges or commits them: most blobs are
 * small, and for them the writer's second (direct) descriptor, its 4 MiB stage and the hand-off
 * to the disk pool and back cost more than the write itself (issue 24, "Small blobs"). A request
 * that declares more bytes ({@link #expect}) goes to the writer from its first byte. One thread
 * at a time.
 */
final class UploadFile {
    private static final Logger log = LoggerFactory.getLogger(UploadFile.class);

    /**
     * Per thread, the array that bytes pass through on their way to the hash and the file: small
     * enough to stay in the core's cache between the two, large enough for few calls.
     */
    private static final ThreadLocal<byte[]> SCRATCH = ThreadLocal.withInitial(() -> new byte[256 << 10]);

    /**
     * Bytes a request may add before its file gets a {@link WriteBehind}: past it the overlap of
     * hashing and writing pays; below it one write on the caller's thread is cheaper. Held on the
     * heap only while a request runs, so the node holds at most this much per request in flight.
     */
    static final int SMALL = 64 << 10;

    private final Path path;
    /** Runs the file writes. */
    private final Executor disk;
    /** Open only while a request works on the file; null when parked. */
    private FileChannel channel;
    /**
     * Writes to {@link #channel} behind the hashing caller; drained before anything reads the file.
     * Null when parked, and until a request adds more than {@link #SMALL} bytes.
     */
    private WriteBehind writer;
    /** Bytes [size - pendingLength, size) not yet on the file, while no {@link #writer} is open; null when none. */
    private byte[] pending;
    private int pendingLength;
    /** Hash of bytes [0, size); null after a restart until the file is hashed again. */
    private MessageDigest sha256;
    /** Bytes written (acknowledged, or being added by the current request). */
    private volatile long size;

    /** Where the current request's bytes are expected to end (see {@link #expect}); -1 when unknown. */
    private long expectedEnd = -1;

    // Where the file stood at the last acknowledgement; markHash null when nothing was written since.
    private long markSize;
    private MessageDigest markHash;

    /**
     * False while this process knows no file exists at {@link #path}: a new upload's file is made
     * by its first write, and a small upload committed from the heap never makes one, so removing
     * it would cost a failed unlink per blob.
     */
    private boolean mayBeOnDisk;

    private UploadFile(Path path, Executor disk, long size, MessageDigest sha256, boolean mayBeOnDisk) {
        this.path = path;
        this.disk = disk;
        this.size = size;
        this.sha256 = sha256;
        this.mayBeOnDisk = mayBeOnDisk;
    }

    /**
     * The file of a new upload, at {@code path}: not made until bytes go to it. A small upload
     * committed from the heap never makes one (a new inode cost 350-800 µs of kernel time per
     * blob under load); a session whose file is missing holds no bytes (see {@link #createIfAbsent}).
     */
    static UploadFile empty(Path path, Executor disk) {
        return new UploadFile(path, disk, 0, Digest.Algorithm.SHA256.newMessageDigest(), false);
    }

    /** A file left by an earlier request or an earlier process, good up to {@code size}; parked. */
    static UploadFile existing(Path path, long size, Executor disk) {
        return new UploadFile(path, disk, size, null, true);
    }

    /** Makes the empty file if no bytes have made it yet: for those who read the file itself (a hand-over). */
    void createIfAbsent() throws IOException {
        mayBeOnDisk = true;
        try {
            Files.createFile(path);
        } catch (java.nio.file.FileAlreadyExistsException e) {
            // made by a write already
        }
    }

    Path path() {
        return path;
    }

    long size() {
        return size;
    }

    /** Bytes at the start of the file that the disk already has: safe to record without waiting. */
    long onFile() {
        return writer == null ? size - pendingLength : Math.min(writer.onFile(), size);
    }

    /**
     * Opens a parked file, cutting it back to {@link #size} (a request that died may have left
     * more). Rebuilds the hash if a restart lost it. The writer opens later, with the bytes that
     * need it ({@link #writer()}).
     */
    private void open() throws IOException {
        if (channel == null) {
            mayBeOnDisk = true;
            FileChannel opened = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.READ);
            try {
                if (opened.size() != size) {
                    opened.truncate(size);
                }
                channel = opened;
            } catch (IOException | RuntimeException e) {
                opened.close();
                throw e;
            }
        }
        if (sha256 == null) {
            MessageDigest md = Digest.Algorithm.SHA256.newMessageDigest();
            hashRange(channel, size, md);
            sha256 = md;
        }
    }

    /**
     * The file's writer, opened now if need be with the heap's bytes handed to it first: direct
     * I/O where the file system has it (see {@link WriteBehind}), buffered otherwise.
     */
    private WriteBehind writer() throws IOException {
        if (writer == null) {
            open();
            long start = size - pendingLength;
            WriteBehind opened = WriteBehind.open(path, channel, start, disk);
            if (expectedEnd >= 0) {
                opened.expectEnd(expectedEnd);
            }
            if (pendingLength > 0) {
                try {
                    opened.write(ByteBuffer.wrap(pending, 0, pendingLength), start);
                } catch (IOException | RuntimeException e) {
                    opened.settle();
                    opened.close();
                    throw e;
                }
            }
            writer = opened;
            pending = null;
            pendingLength = 0;
        }
        return writer;
    }

    /**
     * Puts the heap's bytes on the file in one write on this thread; then the file holds every
     * byte written (with the writer drained).
     */
    private void writePending() throws IOException {
        if (pendingLength == 0) {
            return;
        }
        open();
        ByteBuffer b = ByteBuffer.wrap(pending, 0, pendingLength);
        long position = size - pendingLength;
        while (b.hasRemaining()) {
            position += channel.write(b, position);
        }
        pending = null;
        pendingLength = 0;
    }

    /** Closes the file and gives its buffers back: nothing is held between requests. */
    void park() {
        // As the writer's staged bytes below, the heap's go to the file before it closes: the
        // session's size counts them.
        if (pendingLength > 0) {
            try {
                writePending();
            } catch (IOException e) {
                log.debug("writing upload file {}", path.getFileName(), e);
            }
        }
        pending = null;
        pendingLength = 0;
        expectedEnd = -1;
        if (writer != null) {
            writer.settle();
            writer.close();
            writer = null;
        }
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                log.debug("closing upload file {}", path.getFileName(), e);
            }
            channel = null;
        }
    }

    /** Parks the file and removes it. */
    void delete() {
        // The heap's bytes would only be written to be removed.
        pending = null;
        pendingLength = 0;
        park();
        if (!mayBeOnDisk) {
            return;
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            log.warn("cannot remove upload file {}", path.getFileName(), e);
        }
    }

    /**
     * Marks where the upload stands before bytes that may have to be taken back. The file itself
     * is opened only when bytes must go to it (a small upload committed from the heap never
     * needs it: see {@link #wholeOnHeap}), or now when a restart lost the hash.
     */
    private void beginWrite() throws IOException {
        if (sha256 == null) {
            open();
        }
        if (markHash == null) {
            markSize = size;
            markHash = cloneDigest(sha256);
        }
    }

    /**
     * Appends {@code bytes}: to the hash, and to the file soon after (in order, on the disk pool).
     * The bytes are copied before this returns, so the caller may reuse the buffer at once. A
     * write failure surfaces here or at the next call.
     */
    void write(ByteBuffer bytes) throws IOException {
        beginWrite();
        if (bytes.hasArray()) {
            int n = bytes.remaining();
            sha256.update(bytes.array(), bytes.arrayOffset() + bytes.position(), n);
            if (!hold(bytes, n)) {
                writer().write(bytes, size);
            }
            size += n;
            return;
        }
        // Direct bytes (from the network) reach the SHA-256 intrinsic only as an array: copy them
        // a piece at a time into a cache-sized array, and stage them for the file from there.
        byte[] scratch = SCRATCH.get();
        ByteBuffer view = bytes.duplicate();
        while (view.hasRemaining()) {
            int n = Math.min(scratch.length, view.remaining());
            view.get(scratch, 0, n);
            append(scratch, n);
        }
    }

    /**
     * The current request will add about {@code bytes} more bytes (a declared body length): lets
     * the writer make its last write before that end a short one, which the acknowledgement then
     * waits for (see {@link WriteBehind#expectEnd}). Only a hint.
     */
    void expect(long bytes) {
        expectedEnd = size + bytes;
        if (writer != null) {
            writer.expectEnd(expectedEnd);
        }
    }

    /** Appends the next {@code length} bytes of {@code in}, as {@link #write}; {@code in} ending sooner is an {@link EOFException}. */
    void readFrom(InputStream in, long length) throws IOException {
        beginWrite();
        byte[] scratch = SCRATCH.get();
        long left = length;
        while (left > 0) {
            int n = in.readNBytes(scratch, 0, (int) Math.min(scratch.length, left));
            if (n == 0) {
                throw new EOFException((length - left) + " of " + length + " bytes arrived");
            }
            append(scratch, n);
            left -= n;
        }
    }

    private void append(byte[] bytes, int n) throws IOException {
        sha256.update(bytes, 0, n);
        ByteBuffer b = ByteBuffer.wrap(bytes, 0, n);
        if (!hold(b, n)) {
            writer().write(b, size);
        }
        size += n;
    }

    /**
     * Keeps {@code n} bytes of {@code b} on the heap if this request's bytes are still few, and
     * it did not say ({@link #expect}) that many more follow; false otherwise.
     */
    private boolean hold(ByteBuffer b, int n) {
        if (writer != null || pendingLength + n > SMALL || expectedEnd - (size - pendingLength) > SMALL) {
            return false;
        }
        if (pending == null || pending.length < pendingLength + n) {
            byte[] grown = new byte[Math.min(SMALL, Math.max(pendingLength + n, 2 * pendingLength))];
            if (pendingLength > 0) {
                System.arraycopy(pending, 0, grown, 0, pendingLength);
            }
            pending = grown;
        }
        b.duplicate().get(pending, pendingLength, n);
        pendingLength += n;
        return true;
    }

    /** Waits until every byte written is in the file; they become what a rollback returns to. */
    void acknowledge() throws IOException {
        writePending();
        if (writer != null) { // null when nothing has been written since the file was opened, or little
            writer.drain();
        }
        markHash = null;
    }

    /** Returns the file and its hash to where the last acknowledgement left them. */
    void rollback() throws IOException {
        if (markHash == null) {
            return;
        }
        pending = null;
        pendingLength = 0;
        if (writer != null) {
            writer.settle();
        }
        if (channel == null) {
            // Nothing of this request reached the file: it still ends at markSize (a longer one
            // left by a crash is cut back when next opened).
            size = markSize;
            sha256 = markHash;
            markHash = null;
            return;
        }
        channel.truncate(markSize);
        if (writer != null) {
            writer.truncated(markSize);
        }
        size = markSize;
        sha256 = markHash;
        markHash = null;
    }

    /**
     * The array holding every byte of the upload, [0, {@link #size}), when they are all still on
     * the heap (a request's first {@link #SMALL} bytes, with nothing before them on the file and
     * nothing handed to a writer); null otherwise. The array may be longer than the upload.
     */
    byte[] wholeOnHeap() {
        return writer == null && sha256 != null && pendingLength == size && pending != null ? pending : null;
    }

    /** The SHA-256 of every byte written, from the running hash: no file is read. */
    Digest sha256() {
        return Digest.of(Digest.Algorithm.SHA256, cloneDigest(sha256).digest());
    }

    /** The digest of all the bytes written, once they are all in the file. */
    Digest digest(Digest.Algorithm algorithm) throws IOException {
        open();
        writePending();
        if (writer != null) {
            writer.drain();
        }
        if (algorithm == Digest.Algorithm.SHA256) {
            return Digest.of(Digest.Algorithm.SHA256, cloneDigest(sha256).digest());
        }
        MessageDigest md = algorithm.newMessageDigest();
        hashRange(channel, size, md);
        return Digest.of(algorithm, md.digest());
    }

    /** Makes the bytes durable: before the file is renamed into the store, so that the name never points at missing bytes. */
    void force() throws IOException {
        open();
        writePending();
        if (writer != null) {
            writer.drain();
        }
        channel.force(true);
    }

    private static void hashRange(FileChannel ch, long length, MessageDigest md) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(1 << 16);
        long pos = 0;
        while (pos < length) {
            buf.clear().limit((int) Math.min(buf.capacity(), length - pos));
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new IOException("upload file shorter than recorded");
            }
            buf.flip();
            md.update(buf);
            pos += n;
        }
    }

    private static MessageDigest cloneDigest(MessageDigest md) {
        try {
            return (MessageDigest) md.clone();
        } catch (CloneNotSupportedException e) {
            throw new IllegalStateException("SHA-256 state cannot be checkpointed", e);
        }
    }
}
