package dev.layercache.server.registry;

import dev.layercache.server.concurrent.WriteBehind;
import dev.layercache.server.core.RepositoryName;
import java.nio.channels.FileChannel;
import java.security.MessageDigest;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An upload in progress: its file, the running SHA-256 of the bytes acknowledged so far, and a
 * checkpoint to return to when the request that is adding bytes fails. One request at a time may
 * hold a session ({@link UploadService#acquire}). Between requests a session is parked: its file
 * is closed and its write buffers are back in the pool, so that a session nobody continues (a
 * cancelled CI job's) costs a record and a few hundred bytes of hash state, not descriptors and
 * direct memory.
 */
public final class UploadSession {
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
    final AtomicBoolean inUse = new AtomicBoolean();
    /** When a request last worked on the session. */
    volatile long lastActiveMillis;

    /** Open only while a request holds the session; null when parked. */
    FileChannel channel;
    /** Writes to {@link #channel} behind the hashing caller; drained before anything reads the file. Null when parked. */
    WriteBehind writer;
    /** Hash of bytes [0, size); null after a restart until the file is hashed again. */
    MessageDigest sha256;
    volatile long size;

    // State at the start of the current request, restored if it fails.
    long checkpointSize;
    MessageDigest checkpointHash;

    UploadSession(String id, RepositoryName repository, long startedAtMillis, long size, String owner, String client,
                  long lastActiveMillis) {
        this.id = id;
        this.owner = owner;
        this.client = client;
        this.lastActiveMillis = lastActiveMillis;
        this.repository = repository;
        this.startedAtMillis = startedAtMillis;
        this.size = size;
    }

    public String id() {
        return id;
    }

    public RepositoryName repository() {
        return repository;
    }

    /** Bytes received and acknowledged (or being received by the current request). */
    public long size() {
        return size;
    }
}
