package dev.layercache.server.registry;

import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.UploadIndex.UploadRecord;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An upload in progress, as the session table holds it: whose it is, when it was last worked on,
 * and its {@link UploadFile}. One request at a time may hold a session (through an
 * {@link Upload}); between requests it is parked, with its file closed (see {@link UploadFile}).
 */
final class UploadSession {
    final String id;
    final RepositoryName repository;
    final long startedAtMillis;
    /** The identity that started the upload: only it may continue it. */
    final String owner;
    /**
     * Whose quota the session counts against: the identity, or for anonymous requests the
     * client's address, so that one anonymous client cannot take every session of the node.
     */
    final String client;
    /** True while a request holds the session, or while it is being removed. */
    final AtomicBoolean inUse = new AtomicBoolean();
    /** When a request last worked on the session. */
    volatile long lastActiveMillis;
    final UploadFile file;
    /**
     * The offset last recorded for this session, and when (see {@link UploadRecords#record}); -1
     * when it has no record yet. Only the request holding the session writes these.
     */
    long recordedOffset = -1;
    long recordedAtMillis;

    UploadSession(String id, RepositoryName repository, long startedAtMillis, String owner, String client,
                  long lastActiveMillis, UploadFile file) {
        this.id = id;
        this.repository = repository;
        this.startedAtMillis = startedAtMillis;
        this.owner = owner;
        this.client = client;
        this.lastActiveMillis = lastActiveMillis;
        this.file = file;
    }

    /**
     * A session continued from its record (after a restart, or taken over from another node):
     * its quota is its owner's, since the client's address is not recorded.
     */
    static UploadSession of(UploadRecord r, UploadFile file) {
        return new UploadSession(r.id(), r.repository(), r.startedAtMillis(), r.owner(), r.owner(),
                r.lastActiveMillis(), file);
    }

    /** The record of this session with its file good up to {@code offset}. */
    UploadRecord record(long offset, long lastActiveMillis) {
        return new UploadRecord(id, repository, startedAtMillis, offset, owner, lastActiveMillis);
    }

    /** Bytes received (acknowledged, or being received by the current request). */
    long size() {
        return file.size();
    }

    /** Whether {@code owner} may work on this session as one of {@code repo}'s. */
    boolean belongsTo(RepositoryName repo, String owner) {
        return repository.equals(repo) && this.owner.equals(owner);
    }
}
