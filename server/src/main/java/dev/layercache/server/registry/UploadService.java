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
 *
 * <p>A session holds no open file and no buffer between requests (see {@link UploadSession}), and
 * sessions are bounded three ways, because cancelled CI jobs leave sessions behind all the time and
 * anyone may start one: per client ({@code max-uploads-per-identity}; anonymous clients are told
 * apart by address), on the whole node ({@code max-uploads}, where a new session first takes the
 * place of the one idle longest, if it has been idle a while), and in time ({@code
 * upload-idle-timeout} since the last request, {@code upload-timeout} since the start).
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
    /** Held while a session is admitted, so that concurrent starts cannot pass the limits together. */
    private final Object admission = new Object();
    private volatile long maxBlobBytes;
    private volatile int maxSessionsPerClient;
    private volatile int maxSessions;
    private volatile java.time.Duration idleTimeout = java.time.Duration.ZERO;

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
     * A session idle at least this long may give its place to a new one when the node holds
     * {@code max-uploads}: long enough that no client in the middle of its upload loses it (clients
     * send the next chunk right after the last answer), short enough that sessions nobody continues
     * cannot keep everyone else out.
     */
    static final java.time.Duration RECLAIMABLE_AFTER = java.time.Duration.ofMinutes(1);

    /**
     * Limits per upload, per client and per node ({@code max-blob-size},
     * {@code max-uploads-per-identity}, {@code max-uploads}; 0 for none) and how long a session may
     * stay idle ({@code upload-idle-timeout}; zero for no limit).
     */
    public void limits(long maxBlobBytes, int maxSessionsPerClient, int maxSessions, java.time.Duration idleTimeout) {
        this.maxBlobBytes = maxBlobBytes;
        this.maxSessionsPerClient = maxSessionsPerClient;
        this.maxSessions = maxSessions;
        this.idleTimeout = idleTimeout;
    }

    /** BLOB_TOO_LARGE when a blob of {@code declaredSize} bytes may not be stored here. */
    public void checkSize(long declaredSize) {
        long max = maxBlobBytes;
        if (max > 0 && declaredSize > max) {
            throw new RegistryException(ErrorCode.BLOB_TOO_LARGE,
                    "blob of " + declaredSize + " bytes is larger than this registry's limit of " + max + " bytes");
        }
    }

    /**
     * Makes room for one more session of {@code client}, under {@link #admission}: TOO_MANY_REQUESTS
     * (with a time to retry) when the client holds as many sessions as it may, or the node as many
     * as it may and none has been idle for {@link #RECLAIMABLE_AFTER}.
     */
    private void admit(String client) {
        int perClient = maxSessionsPerClient;
        if (perClient > 0 && open.values().stream().filter(s -> s.client.equals(client)).count() >= perClient) {
            throw new RegistryException(ErrorCode.TOO_MANY_REQUESTS,
                    client + " has " + perClient + " uploads open, the most allowed at once (max-uploads-per-identity);"
                            + " finish or cancel one, or wait until idle ones expire", 1L);
        }
        int max = maxSessions;
        if (max > 0 && open.size() >= max && !reclaimIdlest()) {
            throw new RegistryException(ErrorCode.TOO_MANY_REQUESTS,
                    "this node holds " + max + " upload sessions, the most allowed at once (max-uploads)", 5L);
        }
    }

    /** Ends the session idle longest, if it has been idle long enough and no request holds it. */
    private boolean reclaimIdlest() {
        long cutoff = clock.millis() - RECLAIMABLE_AFTER.toMillis();
        UploadSession idlest = null;
        for (UploadSession s : open.values()) {
            if (s.lastActiveMillis < cutoff && !s.inUse.get()
                    && (idlest == null || s.lastActiveMillis < idlest.lastActiveMillis)) {
                idlest = s;
            }
        }
        if (idlest == null || !idlest.inUse.compareAndSet(false, true)) {
            return false;
        }
        log.info("upload {} of {} (idle since {}) gave its place to a new session: the node holds max-uploads sessions",
                idlest.id, idlest.repository, java.time.Instant.ofEpochMilli(idlest.lastActiveMillis));
        discard(idlest);
        return true;
    }

    /** A new, empty session file; opened only when a request writes to it. */
    private void createFile(UploadSession s) throws IOException {
        Files.createFile(layout.upload(s.id));
    }

    /**
     * Opens a parked session's file, whose acknowledged bytes end at {@code s.size}, and its
     * writer: direct I/O where the file system has it (see {@link WriteBehind}), buffered otherwise.
     */
    private void unpark(UploadSession s) throws IOException {
        if (s.channel != null) {
            return;
        }
        Path file = layout.upload(s.id);
        FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.READ);
        try {
            if (channel.size() != s.size) {
                channel.truncate(s.size);
            }
            s.writer = WriteBehind.open(file, channel, s.size, disk);
            s.channel = channel;
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** Closes a session's file and gives its buffers back: nothing is held between requests. */
    private static void park(UploadSession s) {
        if (s.writer != null) {
            s.writer.settle();
            s.writer.close();
            s.writer = null;
        }
        if (s.channel != null) {
            try {
                s.channel.close();
            } catch (IOException e) {
                log.debug("closing upload file {}", s.id, e);
            }
            s.channel = null;
        }
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
            // Parked until a client continues it; counted, expired and limited like any other.
            open.put(r.id(), new UploadSession(r.id(), r.repository(), r.startedAtMillis(), r.offset(), r.owner(),
                    r.owner(), r.lastActiveMillis()));
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
    public UploadSession start(RepositoryName repo, boolean announced, String owner, String client) throws IOException {
        String id = UUID.randomUUID().toString();
        long now = clock.millis();
        UploadSession s = new UploadSession(id, repo, now, 0, owner, client, now);
        s.sha256 = Digest.Algorithm.SHA256.newMessageDigest();
        s.inUse.set(true);
        synchronized (admission) {
            admit(client);
            open.put(id, s); // holds its place; in use, so nothing reclaims it meanwhile
        }
        try {
            // Outside the lock: in a cluster, announcing is a bucket request.
            createFile(s);
            if (announced) {
                announce(s);
            }
        } catch (IOException | RuntimeException e) {
            open.remove(id);
            Files.deleteIfExists(layout.upload(id));
            throw e;
        }
        return s;
    }

    /**
     * Takes the session {@code id} of {@code repo}, creating it when it does not exist: for
     * clients that choose their own upload ids (the gRPC WriteBlob). The id must be a UUID.
     */
    public UploadSession acquireOrStart(RepositoryName repo, String id, String owner, String client)
            throws IOException {
        if (!isWellFormedId(id)) {
            throw new RegistryException(ErrorCode.BLOB_UPLOAD_INVALID, "upload id must be a UUID");
        }
        synchronized (admission) {
            if (open.get(id) == null && restore(id) == null) {
                admit(client);
                long now = clock.millis();
                UploadSession s = new UploadSession(id, repo, now, 0, owner, client, now);
                createFile(s);
                s.sha256 = Digest.Algorithm.SHA256.newMessageDigest();
                announce(s);
                open.put(id, s);
            }
        }
        return acquire(repo, id, owner);
    }

    /**
     * Removes, with their bytes, upload sessions started before {@code timeout} ago or last worked
     * on longer ago than the idle timeout (see {@link #limits}); a session in use by a request
     * right now is left for the next round. Returns how many went.
     */
    public int expire(java.time.Duration timeout) throws IOException {
        java.time.Duration idleTimeout = this.idleTimeout;
        long now = clock.millis();
        long startedCutoff = now - timeout.toMillis();
        long idleCutoff = idleTimeout.isZero() ? Long.MIN_VALUE : now - idleTimeout.toMillis();
        int removed = 0;
        for (UploadSession s : open.values()) {
            boolean old = s.startedAtMillis < startedCutoff;
            if ((old || s.lastActiveMillis < idleCutoff) && s.inUse.compareAndSet(false, true)) {
                discard(s);
                log.info("upload {} of {} expired ({})", s.id, s.repository, old ? "upload-timeout" : "upload-idle-timeout");
                removed++;
            }
        }
        // Records without a session here: a node that gave up a session it had restored.
        for (UploadRecord r : index.all()) {
            if (!open.containsKey(r.id()) && (r.startedAtMillis() < startedCutoff || r.lastActiveMillis() < idleCutoff)) {
                KeyValueStore.Batch b = kv.batch();
                index.delete(b, r.id());
                b.commit(false);
                Files.deleteIfExists(layout.upload(r.id()));
                directory.forget(r.id());
                log.info("upload {} of {} expired", r.id(), r.repository());
                removed++;
            }
        }
        return removed;
    }

    /** Upload sessions in progress on this node, including those restored after a restart and not yet continued. */
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

    /** Ends a request's hold on the session: its file is closed and its buffers go back until the next request. */
    public void release(UploadSession s) {
        s.lastActiveMillis = clock.millis();
        park(s);
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
        unpark(s);
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
        if (s.writer != null) { // null when no request has written to the session yet
            s.writer.drain();
        }
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
        park(s);
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
        park(s);
        try {
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
            park(s);
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
        park(s); // parked already: a session is handed over only between requests
        FileChannel bytes = FileChannel.open(layout.upload(id), StandardOpenOption.READ);
        UploadRecord record = new UploadRecord(s.id, s.repository, s.startedAtMillis, s.size, s.owner,
                s.lastActiveMillis);
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
        UploadSession s = new UploadSession(id, r.repository(), r.startedAtMillis(), r.offset(), r.owner(), r.owner(),
                r.lastActiveMillis());
        UploadSession raced = open.putIfAbsent(id, s);
        return raced != null ? raced : s;
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
        index.put(b, new UploadRecord(s.id, s.repository, s.startedAtMillis, offset, s.owner, clock.millis()));
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
