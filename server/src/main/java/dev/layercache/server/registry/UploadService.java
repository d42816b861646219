package dev.layercache.server.registry;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.UploadIndex.UploadRecord;
import dev.layercache.server.metrics.Surface;
import dev.layercache.server.storage.DataLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.Executor;

/**
 * Resumable blob uploads: bytes stream into a file under {@code uploads/} while being hashed, and
 * become a blob only when their size and digest match what the client declares at the end.
 *
 * <p>Each request works on its upload through an {@link Upload} handle, which it closes when
 * done: the handle writes, acknowledges, commits or cancels, and on close takes back what was
 * not acknowledged. Sessions are recorded in the metadata store, so they survive a restart
 * ({@link #recover}), and, in a cluster, move to the node a request reaches
 * ({@link UploadHandOver}). The pieces:
 *
 * <ul>
 *   <li>{@link UploadSessions}: the sessions held here, their limits and their expiry;
 *   <li>{@link UploadFile}: a session's bytes and their running hash;
 *   <li>{@link UploadRecords}: the records of sessions, here and in the cluster's directory;
 *   <li>{@link UploadRecovery}: the sessions of the last run, put back after a start;
 *   <li>{@link UploadHandOver}: sessions moving between nodes.
 * </ul>
 */
public final class UploadService {
    private final UploadRecords records;
    private final UploadSessions sessions;
    private final UploadHandOver handOvers;
    private final BlobService blobs;
    private final Clock clock;
    private final Executor disk;
    private final UploadCounter counter;

    /** A node on its own that counts nothing; {@code disk} runs the file writes, so that hashing and writing overlap. */
    public UploadService(KeyValueStore kv, DataLayout layout, BlobService blobs, Clock clock, Executor disk) {
        this(kv, layout, blobs, clock, disk, UploadDirectory.NONE, UploadCounter.NONE);
    }

    /**
     * As above, in a cluster whose nodes find each other's sessions through {@code directory},
     * counting how each upload ends with {@code counter}.
     */
    public UploadService(KeyValueStore kv, DataLayout layout, BlobService blobs, Clock clock, Executor disk,
                         UploadDirectory directory, UploadCounter counter) {
        this.records = new UploadRecords(kv, layout, directory, clock);
        this.sessions = new UploadSessions(records, clock);
        this.handOvers = new UploadHandOver(records, sessions);
        this.blobs = blobs;
        this.clock = clock;
        this.disk = disk;
        this.counter = counter;
    }

    /**
     * Limits per upload, per client and per node ({@code max-blob-size},
     * {@code max-uploads-per-identity}, {@code max-uploads}; 0 for none) and how long a session may
     * stay idle ({@code upload-idle-timeout}; zero for no limit).
     */
    public void limits(long maxBlobBytes, int maxSessionsPerClient, int maxSessions, Duration idleTimeout) {
        sessions.limits(maxBlobBytes, maxSessionsPerClient, maxSessions, idleTimeout);
    }

    /** BLOB_TOO_LARGE when a blob of {@code declaredSize} bytes may not be stored here. */
    public void checkSize(long declaredSize) {
        sessions.checkSize(declaredSize);
    }

    /** Puts the sessions of the last run back (see {@link UploadRecovery}); once, before serving. */
    public void recover() throws IOException {
        new UploadRecovery(records, sessions, disk).run();
    }

    /**
     * Starts an upload in {@code repo} for a request through {@code surface}; TOO_MANY_REQUESTS
     * when {@code client} or the node may hold no more sessions. With {@code announced}, the
     * session is recorded (and so survives a restart) before the handle is returned, for a
     * client that will be told its id; without, it lives only as long as the handle unless
     * acknowledged: a monolithic upload that dies with its request leaves nothing behind.
     */
    public Upload start(Surface surface, RepositoryName repo, String owner, String client, boolean announced)
            throws IOException {
        String id = UUID.randomUUID().toString();
        long now = clock.millis();
        UploadSession s = new UploadSession(id, repo, now, owner, client, now, emptyFile(id));
        s.inUse.set(true); // held by this request from the start, so nothing reclaims it meanwhile
        sessions.admit(s);
        try {
            // Outside the admission lock: in a cluster, announcing is a bucket request. No file
            // yet: it is made when bytes first go to it (see UploadFile.empty).
            if (announced) {
                records.announce(s);
            }
        } catch (IOException | RuntimeException e) {
            sessions.remove(s);
            Files.deleteIfExists(s.file.path());
            throw e;
        }
        return handle(s, surface, false);
    }

    /**
     * Continues upload {@code id} of {@code repo} for one request of {@code owner}, taking it over
     * from another node of the cluster if one holds it. An id of another repository or another
     * identity is as unknown (BLOB_UPLOAD_UNKNOWN) as one that never existed; an upload another
     * request holds is BLOB_UPLOAD_INVALID.
     */
    public Upload resume(Surface surface, RepositoryName repo, String id, String owner) throws IOException {
        UploadSession s = find(id, true);
        if (s == null || !s.belongsTo(repo, owner) || !sessions.hold(s)) {
            throw unknown();
        }
        return handle(s, surface, true);
    }

    /**
     * Continues upload {@code id} of {@code repo}, starting it when it does not exist: for clients
     * that choose their own upload ids (the gRPC WriteBlob). The id must be a UUID.
     */
    public Upload resumeOrStart(Surface surface, RepositoryName repo, String id, String owner, String client)
            throws IOException {
        if (!isWellFormedId(id)) {
            throw new RegistryException(ErrorCode.BLOB_UPLOAD_INVALID, "upload id must be a UUID");
        }
        sessions.admitIfAbsent(client, () -> find(id, true), () -> {
            long now = clock.millis();
            UploadSession s = new UploadSession(id, repo, now, owner, client, now, emptyFile(id));
            try {
                records.announce(s);
            } catch (IOException | RuntimeException e) {
                s.file.delete();
                throw e;
            }
            return s;
        });
        return resume(surface, repo, id, owner);
    }

    /** The bytes held for upload {@code id} of {@code repo}, or -1 when there is no such upload. */
    public long heldBytes(RepositoryName repo, String id, String owner) throws IOException {
        UploadSession s = find(id, true);
        return s == null || !s.belongsTo(repo, owner) ? -1 : s.size();
    }

    /** Upload sessions in progress on this node, including those restored after a restart and not yet continued. */
    public int openSessions() {
        return sessions.size();
    }

    /**
     * Removes, with their bytes, upload sessions started before {@code timeout} ago or last worked
     * on longer ago than the idle timeout (see {@link #limits}); a session in use by a request
     * right now is left for the next round. Returns how many went.
     */
    public int expire(Duration timeout) throws IOException {
        return sessions.expire(timeout);
    }

    /**
     * Gives session {@code id} up to another node of the cluster (see {@link UploadHandOver#give});
     * null when this node does not hold it, or a request does.
     */
    public UploadHandOver.HandedOver handOver(String id) throws IOException {
        return handOvers.give(find(id, false));
    }

    private Upload handle(UploadSession s, Surface surface, boolean known) {
        return new Upload(s, surface, known, sessions, records, blobs, counter);
    }

    private UploadFile emptyFile(String id) {
        return UploadFile.empty(records.file(id), disk);
    }

    /**
     * Session {@code id}: held here, restored from its record here, or with {@code fromPeers},
     * taken over from another node. Null when none has it, or its file lost acknowledged bytes.
     */
    private UploadSession find(String id, boolean fromPeers) throws IOException {
        UploadSession s = sessions.get(id);
        if (s != null || !isWellFormedId(id)) {
            return s;
        }
        UploadRecord r = records.get(id);
        if (r == null && fromPeers) {
            r = handOvers.take(id);
        }
        if (r == null) {
            return null;
        }
        Path file = records.file(id);
        // A session with no bytes may have no file yet (see UploadFile.empty).
        if (Files.exists(file) ? Files.size(file) < r.offset() : r.offset() > 0) {
            return null;
        }
        return sessions.restore(UploadSession.of(r, UploadFile.existing(file, r.offset(), disk)));
    }

    private static boolean isWellFormedId(String id) {
        try {
            return UUID.fromString(id).toString().equals(id);
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static RegistryException unknown() {
        return new RegistryException(ErrorCode.BLOB_UPLOAD_UNKNOWN, "blob upload unknown to registry", null);
    }
}
