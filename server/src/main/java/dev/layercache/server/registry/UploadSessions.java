package dev.layercache.server.registry;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.metadata.UploadIndex.UploadRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The upload sessions this node holds, and their bounds. Cancelled CI jobs leave sessions behind
 * all the time and anyone may start one, so sessions are bounded three ways: per client
 * ({@code max-uploads-per-identity}; anonymous clients are told apart by address), on the whole
 * node ({@code max-uploads}, where a new session first takes the place of the one idle longest,
 * if it has been idle a while), and in time ({@code upload-idle-timeout} since the last request,
 * {@code upload-timeout} since the start). Each upload is bounded in size too
 * ({@code max-blob-size}).
 */
final class UploadSessions {
    private static final Logger log = LoggerFactory.getLogger(UploadSessions.class);

    /**
     * A session idle at least this long may give its place to a new one when the node holds
     * {@code max-uploads}: long enough that no client in the middle of its upload loses it (clients
     * send the next chunk right after the last answer), short enough that sessions nobody continues
     * cannot keep everyone else out.
     */
    static final Duration RECLAIMABLE_AFTER = Duration.ofMinutes(1);

    private final ConcurrentMap<String, UploadSession> open = new ConcurrentHashMap<>();
    /** Held while a session is admitted, so that concurrent starts cannot pass the limits together. */
    private final Object admission = new Object();
    private final UploadRecords records;
    private final Clock clock;
    private volatile long maxBlobBytes;
    private volatile int maxSessionsPerClient;
    private volatile int maxSessions;
    private volatile Duration idleTimeout = Duration.ZERO;

    UploadSessions(UploadRecords records, Clock clock) {
        this.records = records;
        this.clock = clock;
    }

    /** See {@link UploadService#limits}. */
    void limits(long maxBlobBytes, int maxSessionsPerClient, int maxSessions, Duration idleTimeout) {
        this.maxBlobBytes = maxBlobBytes;
        this.maxSessionsPerClient = maxSessionsPerClient;
        this.maxSessions = maxSessions;
        this.idleTimeout = idleTimeout;
    }

    /** BLOB_TOO_LARGE when a blob of {@code size} bytes may not be stored here. */
    void checkSize(long size) {
        long max = maxBlobBytes;
        if (max > 0 && size > max) {
            throw new RegistryException(ErrorCode.BLOB_TOO_LARGE,
                    "blob of " + size + " bytes is larger than this registry's limit of " + max + " bytes");
        }
    }

    /** Makes a new session, or finds an existing one. */
    interface Source {
        UploadSession get() throws IOException;
    }

    /** Adds the new session {@code s} if its client and the node have room for it (see {@link #admitIfAbsent}). */
    void admit(UploadSession s) {
        synchronized (admission) {
            makeRoom(s.client);
            open.put(s.id, s);
        }
    }

    /**
     * The session that {@code existing} finds, or else a new one of {@code client} that
     * {@code create} makes, if the limits allow: both under the admission lock, so that two
     * requests naming the same new session make one.
     */
    UploadSession admitIfAbsent(String client, Source existing, Source create) throws IOException {
        synchronized (admission) {
            UploadSession s = existing.get();
            if (s != null) {
                return s;
            }
            makeRoom(client);
            s = create.get();
            open.put(s.id, s);
            return s;
        }
    }

    /**
     * Makes room for one more session of {@code client}: TOO_MANY_REQUESTS (with a time to
     * retry) when the client holds as many sessions as it may, or the node as many as it may and
     * none has been idle for {@link #RECLAIMABLE_AFTER}.
     */
    private void makeRoom(String client) {
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
                idlest.id, idlest.repository, Instant.ofEpochMilli(idlest.lastActiveMillis));
        discard(idlest);
        return true;
    }

    /** The session {@code id} if this node holds it in memory. */
    UploadSession get(String id) {
        return open.get(id);
    }

    /** Adds a session continued from its record; the one already here if another request was quicker. */
    UploadSession restore(UploadSession s) {
        UploadSession raced = open.putIfAbsent(s.id, s);
        return raced != null ? raced : s;
    }

    /**
     * Takes session {@code s} for one request; BLOB_UPLOAD_INVALID when another request holds
     * it, and false when it ended meanwhile.
     */
    boolean hold(UploadSession s) {
        if (!s.inUse.compareAndSet(false, true)) {
            throw new RegistryException(ErrorCode.BLOB_UPLOAD_INVALID,
                    "upload " + s.id + " is in use by another request");
        }
        if (!open.containsKey(s.id)) {
            s.inUse.set(false);
            return false;
        }
        return true;
    }

    /** Ends a request's hold on the session: its file is closed and its buffers go back until the next request. */
    void release(UploadSession s) {
        s.lastActiveMillis = clock.millis();
        s.file.park();
        s.inUse.set(false);
    }

    /** Ends a session whose bytes will not become a blob, removing them. */
    void discard(UploadSession s) {
        s.file.delete();
        forget(s);
    }

    /** Ends a session whose file is gone (it became a blob, or was removed). */
    void forget(UploadSession s) {
        open.remove(s.id);
        records.forget(s.id);
    }

    /** Ends a session whose record went in a batch of the caller's ({@link UploadRecords#forgetIn}). */
    void forgotten(UploadSession s) {
        open.remove(s.id);
        records.forgotten(s.id);
    }

    /** Takes a session out of the table only: it lives on elsewhere (handed over), or never got its record. */
    void remove(UploadSession s) {
        open.remove(s.id);
    }

    /** Sessions held, including those restored after a restart and not yet continued. */
    int size() {
        return open.size();
    }

    /**
     * Removes, with their bytes, sessions started before {@code timeout} ago or last worked on
     * longer ago than the idle timeout; a session in use by a request right now is left for the
     * next round. Returns how many went.
     */
    int expire(Duration timeout) throws IOException {
        Duration idleTimeout = this.idleTimeout;
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
        for (UploadRecord r : records.all()) {
            if (!open.containsKey(r.id()) && (r.startedAtMillis() < startedCutoff || r.lastActiveMillis() < idleCutoff)) {
                records.forget(r.id());
                Files.deleteIfExists(records.file(r.id()));
                log.info("upload {} of {} expired", r.id(), r.repository());
                removed++;
            }
        }
        return removed;
    }
}
