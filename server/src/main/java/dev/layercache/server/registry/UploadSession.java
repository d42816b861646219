package dev.layercache.server.registry;

import dev.layercache.server.concurrent.WriteBehind;
import dev.layercache.server.core.RepositoryName;
import java.nio.channels.FileChannel;
import java.security.MessageDigest;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An upload in progress: its file, the running SHA-256 of the bytes acknowledged so far, and a
 * checkpoint to return to when the request that is adding bytes fails. One request at a time may
 * hold a session ({@link UploadService#acquire}).
 */
public final class UploadSession {
    final String id;
    final RepositoryName repository;
    final long startedAtMillis;
    /** The identity that started the upload: only it may continue it. */
    final String owner;
    final AtomicBoolean inUse = new AtomicBoolean();

    FileChannel channel;
    /** Writes to {@link #channel} behind the hashing caller; drained before anything reads the file. */
    WriteBehind writer;
    /** Hash of bytes [0, size); null after a restart until the file is hashed again. */
    MessageDigest sha256;
    volatile long size;

    // State at the start of the current request, restored if it fails.
    long checkpointSize;
    MessageDigest checkpointHash;

    UploadSession(String id, RepositoryName repository, long startedAtMillis, long size, String owner) {
        this.id = id;
        this.owner = owner;
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
