package dev.layercache.server.registry;

import dev.layercache.server.concurrent.WriteBehind;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.UploadIndex;
import dev.layercache.server.metadata.UploadIndex.UploadRecord;
import dev.layercache.server.storage.DataLayout;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Clock;
import java.util.HashSet;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Executor;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Resumable blob uploads: bytes stream into a file under {@code uploads/} while being hashed, and
 * become a blob only when their size and digest match what the client declares at the end.
 *
 * <p>Each request that adds bytes runs as {@link #beginChunk}, {@link #write}..., then
 * {@link #acknowledge} or {@link #complete}; if it fails or the client disconnects,
 * {@link #rollback} returns the session to where the last acknowledged request left it. Sessions
 * are recorded in the metadata store, so they survive a restart: the file is cut back to the
 * acknowledged offset and hashed again when the client continues.
 */
public final class UploadService {
    private static final Logger log = LoggerFactory.getLogger(UploadService.class);

    private final KeyValueStore kv;
    private final UploadIndex index;
    private final DataLayout layout;
    private final BlobService blobs;
    private final Clock clock;
    private final Executor disk;
    private final ConcurrentMap<String, UploadSession> open = new ConcurrentHashMap<>();
    private final UploadDirectory directory;
    private final Object takeOvers = new Object();
    private volatile long maxBlobBytes;
    private volatile int maxSessionsPerOwner;

    /** {@code disk} runs the file writes, so that hashing and writing overlap. */
    public UploadService(KeyValueStore kv, DataLayout layout, BlobService blobs, Clock clock, Executor disk) {
        this(kv, layout, blobs, clock, disk, UploadDirectory.NONE);
    }

    /** As above, in a cluster whose nodes find each other's sessions through {@code directory}. */
    public UploadService(KeyValueStore kv, DataLayout layout, BlobService blobs, Clock clock, Executor disk,
                         UploadDirectory directory) {
        this.directory = directory;
        this.kv = kv;
        this.index = new UploadIndex(kv);
        this.layout = layout;
        this.blobs = blobs;
        this.clock = clock;
        this.disk = disk;
    }

    /**
     * Limits per upload and per identity ({@code max-blob-size}, {@code max-uploads-per-identity});
     * 0 for none.
     */
    public void limits(long maxBlobBytes, int maxSessionsPerOwner) {
        this.maxBlobBytes = maxBlobBytes;
        this.maxSessionsPerOwner = maxSessionsPerOwner;
    }

    /** BLOB_TOO_LARGE when a blob of {@code declaredSize} bytes may not be stored here. */
    public void checkSize(long declaredSize) {
        long max = maxBlobBytes;
        if (max > 0 && declaredSize > max) {
            throw new RegistryException(ErrorCode.BLOB_TOO_LARGE,
                    "blob of " + declaredSize + " bytes is larger than this registry's limit of " + max + " bytes");
        }
    }

    /** TOO_MANY_REQUESTS when {@code owner} already holds as many sessions as allowed. */
    private void checkSessions(String owner) {
        int max = maxSessionsPerOwner;
        if (max > 0 && open.values().stream().filter(s -> s.owner.equals(owner)).count() >= max) {
            throw new RegistryException(ErrorCode.TOO_MANY_REQUESTS,
                    owner + " has " + max + " uploads open, the most allowed at once", 1L);
        }
    }

    /**
     * Opens the session's file, whose acknowledged bytes end at {@code size}, and its writer:
     * direct I/O where the file system has it (see {@link WriteBehind}), buffered otherwise.
     */
    private void openFile(UploadSession s, long size, StandardOpenOption... options) throws IOException {
        Path file = layout.upload(s.id);
        s.channel = FileChannel.open(file, options);
        if (s.channel.size() != size) {
            s.channel.truncate(size);
        }
        s.writer = WriteBehind.open(file, s.channel, size, disk);
    }

    /**
     * Reconciles sessions and files after a start: a session whose file is missing or shorter
     * than its acknowledged offset is dropped (its client gets BLOB_UPLOAD_UNKNOWN), a longer file
     * is cut back, and files without a session are removed.
     */
    public void recover() throws IOException {
        Set<String> live = new HashSet<>();
        for (UploadRecord r : index.all()) {
            Path file = layout.upload(r.id());
            long length = Files.exists(file) ? Files.size(file) : -1;
            if (length < r.offset()) {
                log.info("dropping upload {}: its file lost acknowledged bytes", r.id());
                KeyValueStore.Batch b = kv.batch();
                index.delete(b, r.id());
                b.commit(false);
                Files.deleteIfExists(file);
                continue;
            }
            if (length > r.offset()) {
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                    ch.truncate(r.offset());
                }
            }
            live.add(r.id());
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(layout.uploads())) {
            for (Path f : files) {
                if (!live.contains(f.getFileName().toString())) {
                    log.info("removing orphaned upload file {}", f.getFileName());
                    Files.deleteIfExists(f);
                }
            }
        }
    }

    /**
     * Starts a session in {@code repo}; the caller releases it with {@link #release}. A session is
     * recorded (and so survives a restart) only once a client has been told its id: a monolithic
     * upload that dies with the server leaves a file that the next start removes.
     */
    public UploadSession start(RepositoryName repo, boolean announced, String owner) throws IOException {
        checkSessions(owner);
        String id = UUID.randomUUID().toString();
        UploadSession s = new UploadSession(id, repo, clock.millis(), 0, owner);
        openFile(s, 0, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.READ);
        s.sha256 = Digest.Algorithm.SHA256.newMessageDigest();
        s.inUse.set(true);
        if (announced) {
            announce(s);
        }
        open.put(id, s);
        return s;
    }

    /**
     * Takes the session {@code id} of {@code repo}, creating it when it does not exist: for
     * clients that choose their own upload ids (the gRPC WriteBlob). The id must be a UUID.
     */
    public UploadSession acquireOrStart(RepositoryName repo, String id, String owner) throws IOException {
        if (!isWellFormedId(id)) {
            throw new RegistryException(ErrorCode.BLOB_UPLOAD_INVALID, "upload id must be a UUID");
        }
        synchronized (open) {
            if (open.get(id) == null && restore(id) == null) {
                checkSessions(owner);
                UploadSession s = new UploadSession(id, repo, clock.millis(), 0, owner);
                openFile(s, 0, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.READ);
                s.sha256 = Digest.Algorithm.SHA256.newMessageDigest();
                announce(s);
                open.put(id, s);
            }
        }
        return acquire(repo, id, owner);
    }

    /**
     * Removes upload sessions started before {@code timeout} ago, with their bytes; a session in
     * use by a request right now is left for the next round. Returns how many went.
     */
    public int expire(java.time.Duration timeout) throws IOException {
        long cutoff = clock.millis() - timeout.toMillis();
        int removed = 0;
        for (UploadRecord r : index.all()) {
            if (r.startedAtMillis() >= cutoff) {
                continue;
            }
            UploadSession s = open.get(r.id());
            if (s == null) {
                KeyValueStore.Batch b = kv.batch();
                index.delete(b, r.id());
                b.commit(false);
                Files.deleteIfExists(layout.upload(r.id()));
                directory.forget(r.id());
            } else if (s.inUse.compareAndSet(false, true)) {
                discard(s);
            } else {
                continue;
            }
            log.info("upload {} of {} expired", r.id(), r.repository());
            removed++;
        }
        return removed;
    }

    /** Upload sessions open in this process. */
    public int openSessions() {
        return open.size();
    }

    /** The bytes held for upload {@code id} of {@code repo}, or -1 when there is no such upload. */
    public long heldBytes(RepositoryName repo, String id, String owner) throws IOException {
        UploadSession s = open.get(id);
        if (s == null) {
            s = restore(id);
        }
        return s == null || !s.repository.equals(repo) || !s.owner.equals(owner) ? -1 : s.size;
    }

    /**
     * Takes the session {@code id} of {@code repo} for one request of {@code owner}. An id of
     * another repository or another identity is as unknown as an id that never existed.
     */
    public UploadSession acquire(RepositoryName repo, String id, String owner) throws IOException {
        UploadSession s = open.get(id);
        if (s == null) {
            s = restore(id);
        }
        if (s == null || !s.repository.equals(repo) || !s.owner.equals(owner)) {
            throw unknown(id);
        }
        if (!s.inUse.compareAndSet(false, true)) {
            throw new RegistryException(ErrorCode.BLOB_UPLOAD_INVALID,
                    "upload " + id + " is in use by another request");
        }
        if (!open.containsKey(id)) {
            // cancelled between lookup and acquisition
            s.inUse.set(false);
            throw unknown(id);
        }
        return s;
    }

    public void release(UploadSession s) {
        s.inUse.set(false);
    }

    /**
     * Begins a request that adds bytes. {@code declaredStart}, from {@code Content-Range}, must be
     * where the upload stands (RANGE_INVALID otherwise); null appends.
     */
    public void beginChunk(UploadSession s, Long declaredStart) throws IOException {
        if (declaredStart != null && declaredStart != s.size) {
            throw new RegistryException(ErrorCode.RANGE_INVALID,
                    "chunk starts at " + declaredStart + " but the upload stands at " + s.size, s.size);
        }
        ensureHashed(s);
        s.checkpointSize = s.size;
        s.checkpointHash = cloneDigest(s.sha256);
    }

    /**
     * Appends {@code bytes} to the session: to its hash, and to its file soon after (in order, on
     * the disk pool). The bytes are copied before this returns, so the caller may reuse the
     * buffer at once. A write failure surfaces here or at the next call on the session.
     */
    public void write(UploadSession s, ByteBuffer bytes) throws IOException {
        checkSize(s.size + bytes.remaining());
        if (bytes.hasArray()) {
            s.sha256.update(bytes.array(), bytes.arrayOffset() + bytes.position(), bytes.remaining());
            s.writer.write(bytes, s.size);
            s.size += bytes.remaining();
            return;
        }
        // Direct bytes (from the network) reach the SHA-256 intrinsic only as an array: copy them
        // a piece at a time into a cache-sized array, and stage them for the file from there.
        byte[] scratch = SCRATCH.get();
        ByteBuffer view = bytes.duplicate();
        while (view.hasRemaining()) {
            int n = Math.min(scratch.length, view.remaining());
            view.get(scratch, 0, n);
            append(s, scratch, n);
        }
    }

    /**
     * Appends the next {@code length} bytes of {@code in} to the session, as
     * {@link #write(UploadSession, ByteBuffer)}; {@code in} ending sooner is an {@link EOFException}.
     */
    public void write(UploadSession s, InputStream in, long length) throws IOException {
        checkSize(s.size + length);
        byte[] scratch = SCRATCH.get();
        long left = length;
        while (left > 0) {
            int n = in.readNBytes(scratch, 0, (int) Math.min(scratch.length, left));
            if (n == 0) {
                throw new EOFException((length - left) + " of " + length + " bytes arrived");
            }
            append(s, scratch, n);
            left -= n;
        }
    }

    /**
     * Per thread, the array that bytes pass through on their way to the hash and the file: small
     * enough to stay in the core's cache between the two, large enough for few calls.
     */
    private static final ThreadLocal<byte[]> SCRATCH = ThreadLocal.withInitial(() -> new byte[256 << 10]);

    private static void append(UploadSession s, byte[] bytes, int n) throws IOException {
        s.sha256.update(bytes, 0, n);
        s.writer.write(ByteBuffer.wrap(bytes, 0, n), s.size);
        s.size += n;
    }

    /**
     * Records how far an upload in progress has got without waiting for its file: the bytes the
     * disk already has. After a crash the upload resumes from there; nothing else changes.
     */
    public void recordProgress(UploadSession s) {
        persist(s, Math.min(s.writer.onFile(), s.size));
    }

    /** Returns the session to where the current request found it. */
    public void rollback(UploadSession s) {
        if (s.checkpointHash == null || !open.containsKey(s.id)) {
            return;
        }
        try {
            s.writer.settle();
            s.channel.truncate(s.checkpointSize);
            s.writer.truncated(s.checkpointSize);
            s.size = s.checkpointSize;
            s.sha256 = s.checkpointHash;
            s.checkpointHash = null;
        } catch (IOException e) {
            log.warn("cannot roll back upload {}; dropping it", s.id, e);
            discard(s);
        }
    }

    /** Records the bytes of the current request as acknowledged, once they are all on the file. */
    public void acknowledge(UploadSession s) throws IOException {
        s.writer.drain();
        s.checkpointHash = null;
        persist(s);
    }

    /**
     * Finishes the upload: the bytes must hash to {@code expected} (DIGEST_INVALID otherwise, and
     * the session ends with nothing stored). The verified file becomes the blob, linked to the
     * session's repository; if the blob already exists, the upload's copy is dropped.
     *
     * @return true when the blob is new to the store, false when it was already stored
     */
    public boolean complete(UploadSession s, Digest expected) throws IOException {
        s.writer.drain();
        Digest actual;
        if (expected.algorithm() == Digest.Algorithm.SHA256) {
            ensureHashed(s);
            actual = Digest.of(Digest.Algorithm.SHA256, cloneDigest(s.sha256).digest());
        } else {
            actual = hashFile(s, expected.algorithm());
        }
        if (!actual.equals(expected)) {
            discard(s);
            throw new RegistryException(ErrorCode.DIGEST_INVALID,
                    "uploaded content has digest " + actual + ", not " + expected, expected.toString());
        }
        // fsync before the rename: after a crash the name must never point at missing bytes.
        s.channel.force(true);
        s.writer.close();
        s.channel.close();
        boolean added;
        try {
            added = blobs.commitVerified(s.repository, expected, layout.upload(s.id), s.size);
        } catch (RuntimeException | IOException e) {
            // The file is closed: the session cannot continue. The client starts the upload again.
            Files.deleteIfExists(layout.upload(s.id));
            forget(s);
            throw e;
        }
        forget(s);
        return added;
    }

    /** Cancels an upload and removes its bytes. */
    public void cancel(RepositoryName repo, String id, String owner) throws IOException {
        UploadSession s = acquire(repo, id, owner);
        discard(s);
    }

    /** Ends a session whose bytes will not become a blob. */
    public void discard(UploadSession s) {
        try {
            s.writer.settle();
            s.writer.close();
            s.channel.close();
            Files.deleteIfExists(layout.upload(s.id));
        } catch (IOException e) {
            log.warn("cannot remove upload file {}", s.id, e);
        }
        forget(s);
    }

    private void forget(UploadSession s) {
        forgetLocally(s);
        directory.forget(s.id);
    }

    private void forgetLocally(UploadSession s) {
        open.remove(s.id);
        KeyValueStore.Batch b = kv.batch();
        index.delete(b, s.id);
        b.commit(false);
    }

    /** Records the session here and, in a cluster, where other nodes can find it. */
    private void announce(UploadSession s) throws IOException {
        persist(s);
        try {
            directory.announce(s.id, s.repository);
        } catch (IOException | RuntimeException e) {
            forgetLocally(s);
            s.writer.close();
            s.channel.close();
            Files.deleteIfExists(layout.upload(s.id));
            throw e;
        }
    }

    /** A session handed to another node: its acknowledged bytes, readable after this node let go. */
    public record HandedOver(UploadRecord record, FileChannel bytes) {
    }

    /**
     * Gives session {@code id} up to another node of the cluster: returns its acknowledged bytes
     * (a channel that stays readable after the file is removed) and forgets it here, without
     * touching the directory, which the new owner updates. Null when this node does not hold it.
     */
    public HandedOver handOver(String id) throws IOException {
        UploadSession s = open.get(id);
        if (s == null) {
            s = restore(id, false);
        }
        if (s == null || !s.inUse.compareAndSet(false, true)) {
            return null; // unknown here, or busy with a request of its own
        }
        s.writer.drain();
        FileChannel bytes = FileChannel.open(layout.upload(id), StandardOpenOption.READ);
        UploadRecord record = new UploadRecord(s.id, s.repository, s.startedAtMillis, s.size, s.owner);
        s.writer.close();
        s.channel.close();
        Files.deleteIfExists(layout.upload(id));
        forgetLocally(s);
        log.info("upload {} of {} handed over to another node at {} bytes", id, s.repository, s.size);
        return new HandedOver(record, bytes);
    }

    private UploadSession restore(String id) throws IOException {
        return restore(id, true);
    }

    /** The session from its record here, or with {@code fromPeers}, taken over from another node. */
    private UploadSession restore(String id, boolean fromPeers) throws IOException {
        if (!isWellFormedId(id)) {
            return null;
        }
        UploadRecord r = index.get(id);
        if (r == null && fromPeers) {
            r = takeOver(id);
        }
        if (r == null) {
            return null;
        }
        Path file = layout.upload(id);
        if (!Files.exists(file) || Files.size(file) < r.offset()) {
            return null;
        }
        UploadSession s = new UploadSession(id, r.repository(), r.startedAtMillis(), r.offset(), r.owner());
        openFile(s, r.offset(), StandardOpenOption.WRITE, StandardOpenOption.READ);
        UploadSession raced = open.putIfAbsent(id, s);
        if (raced != null) {
            s.writer.close();
            s.channel.close();
            return raced;
        }
        return s;
    }

    /** Moves a session that another node holds to this one. */
    private UploadRecord takeOver(String id) throws IOException {
        synchronized (takeOvers) {
            UploadRecord r = index.get(id);
            if (r != null) {
                return r;
            }
            r = directory.takeOver(id, layout.upload(id));
            if (r == null) {
                return null;
            }
            KeyValueStore.Batch b = kv.batch();
            index.put(b, r);
            b.commit(false);
            directory.announce(id, r.repository());
            log.info("took over upload {} of {} at {} bytes", id, r.repository(), r.offset());
            return r;
        }
    }

    private void persist(UploadSession s) {
        persist(s, s.size);
    }

    /** Records the session with its file good up to {@code offset}. */
    private void persist(UploadSession s, long offset) {
        KeyValueStore.Batch b = kv.batch();
        // Not fsynced: an acknowledged chunk survives kill -9 (the OS has the file and the WAL);
        // after a power loss the client restarts its upload, which it must be ready to do anyway.
        index.put(b, new UploadRecord(s.id, s.repository, s.startedAtMillis, offset, s.owner));
        b.commit(false);
    }

    /** After a restart the running hash is gone; rebuild it from the file. */
    private void ensureHashed(UploadSession s) throws IOException {
        if (s.sha256 == null) {
            MessageDigest md = Digest.Algorithm.SHA256.newMessageDigest();
            hashRange(s.channel, s.size, md);
            s.sha256 = md;
        }
    }

    private static Digest hashFile(UploadSession s, Digest.Algorithm algorithm) throws IOException {
        MessageDigest md = algorithm.newMessageDigest();
        hashRange(s.channel, s.size, md);
        return Digest.of(algorithm, md.digest());
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

    private static boolean isWellFormedId(String id) {
        try {
            return UUID.fromString(id).toString().equals(id);
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static RegistryException unknown(String id) {
        return new RegistryException(ErrorCode.BLOB_UPLOAD_UNKNOWN, "blob upload unknown to registry", null);
    }
}
