package dev.layercache.server.registry;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metrics.Surface;
import dev.layercache.server.metrics.UploadOutcome;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One request's hold on an upload session, from {@link UploadService#start},
 * {@link UploadService#resume} or {@link UploadService#resumeOrStart}: add bytes with
 * {@link #write} or {@link #readFrom}, then {@link #acknowledge} them (the client may resume
 * after them), {@link #commit} the upload as a blob, or {@link #cancel} it. {@link #close} ends
 * the hold whatever happened: bytes not acknowledged are taken back, so a request that fails
 * half-way leaves the session where the last acknowledged request left it, and the session is
 * parked until the next request. Close and cancel may be called again and after any other end,
 * so that the handle sits in a try-with-resources block:
 *
 * <pre>{@code
 * try (Upload upload = uploads.resume(Surface.OCI, repo, id, owner)) {
 *     upload.write(bytes);
 *     upload.acknowledge();
 * }
 * }</pre>
 *
 * <p>The handle counts how the upload ended (see {@link UploadCounter}): committed or already
 * present from the commit, a digest mismatch, or aborted by {@link #cancel}. Closing counts
 * nothing: the session lives on. One thread at a time.
 */
public final class Upload implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(Upload.class);

    /** What a commit did. */
    public enum Committed {
        /** The blob is new to the store. */
        ADDED,
        /** The store had the blob already; the upload's copy was dropped, and the blob linked. */
        ALREADY_PRESENT
    }

    private final UploadSession session;
    private final Surface surface;
    private final UploadSessions sessions;
    private final UploadRecords records;
    private final BlobService blobs;
    private final UploadCounter counter;
    /**
     * Whether a client may come back to the session: it named the session, or was told its id
     * with an acknowledgement. A session nobody knows is removed on close, not kept for a resume.
     */
    private boolean known;
    /** The session is gone: committed, or its bytes removed. */
    private boolean ended;
    private boolean closed;
    private boolean counted;

    Upload(UploadSession session, Surface surface, boolean known, UploadSessions sessions, UploadRecords records,
           BlobService blobs, UploadCounter counter) {
        this.session = session;
        this.surface = surface;
        this.known = known;
        this.sessions = sessions;
        this.records = records;
        this.blobs = blobs;
        this.counter = counter;
    }

    public String id() {
        return session.id;
    }

    public RepositoryName repository() {
        return session.repository;
    }

    /** Bytes received: acknowledged, plus those this request added so far. */
    public long size() {
        return session.size();
    }

    /**
     * Appends {@code bytes}: to the upload's hash, and to its file soon after. The bytes are
     * copied before this returns, so the caller may reuse the buffer at once. BLOB_TOO_LARGE past
     * {@code max-blob-size}; a write failure surfaces here or at the next call.
     */
    public void write(ByteBuffer bytes) throws IOException {
        checkOpen();
        sessions.checkSize(size() + bytes.remaining());
        session.file.write(bytes);
    }

    /**
     * Says that this request is about to add {@code bytes} bytes (a declared body length), so that
     * the file's last write before {@link #acknowledge} is a short one. Only a hint: the bytes
     * that arrive are what counts.
     */
    public void expect(long bytes) {
        checkOpen();
        if (bytes > 0) {
            session.file.expect(bytes);
        }
    }

    /** Appends the next {@code length} bytes of {@code in}, as {@link #write}; {@code in} ending sooner is an {@link java.io.EOFException}. */
    public void readFrom(InputStream in, long length) throws IOException {
        checkOpen();
        sessions.checkSize(size() + length);
        session.file.readFrom(in, length);
    }

    /**
     * Records how far the upload has got without waiting for its file: the bytes the disk already
     * has. After a crash the upload resumes from there; nothing else changes.
     */
    public void recordProgress() {
        checkOpen();
        records.record(session, session.file.onFile());
    }

    /** Acknowledges the bytes received, once they are all on the file: the client may resume after them. */
    public void acknowledge() throws IOException {
        checkOpen();
        session.file.acknowledge();
        records.record(session, size());
        known = true;
    }

    /**
     * Finishes the upload: the bytes must hash to {@code expected} (DIGEST_INVALID otherwise, and
     * the upload ends with nothing stored). The verified file becomes the blob, linked to the
     * session's repository; if the blob already exists, the upload's copy is dropped. Any failure
     * after the bytes were verified ends the upload too: its client starts again.
     */
    public Committed commit(Digest expected) throws IOException {
        checkOpen();
        UploadFile file = session.file;
        byte[] onHeap = file.wholeOnHeap();
        // inlineLimit() 0: the backend keeps every blob as a file (a cluster), even an empty one.
        if (onHeap != null && expected.algorithm() == Digest.Algorithm.SHA256
                && blobs.inlineLimit() > 0 && file.size() <= blobs.inlineLimit()) {
            return commitInline(expected, onHeap);
        }
        Digest actual = file.digest(expected.algorithm());
        if (!actual.equals(expected)) {
            throw refused(actual, expected);
        }
        // fsync before the rename: after a crash the name must never point at missing bytes.
        file.force();
        file.park();
        end();
        boolean added;
        try {
            added = blobs.commitVerified(session.repository, expected, file.path(), file.size());
        } catch (RuntimeException | IOException e) {
            // The file is closed: the session cannot continue. The client starts the upload again.
            file.delete();
            sessions.forget(session);
            throw e;
        }
        sessions.forget(session);
        count(added ? UploadOutcome.COMMITTED : UploadOutcome.ALREADY_PRESENT);
        return added ? Committed.ADDED : Committed.ALREADY_PRESENT;
    }

    /** Ends the session of bytes that hash to {@code actual}, not the {@code expected} digest: nothing is kept. */
    private RegistryException refused(Digest actual, Digest expected) {
        end();
        sessions.discard(session);
        count(UploadOutcome.DIGEST_MISMATCH);
        return new RegistryException(ErrorCode.DIGEST_INVALID,
                "uploaded content has digest " + actual + ", not " + expected, expected.toString());
    }

    /**
     * {@link #commit} of a small upload whose bytes are all on the heap ({@code onHeap}): the
     * bytes go into the metadata store in the batch of the blob's record (see
     * {@link BlobService#commitInline}); the upload file, never written, is only removed.
     */
    private Committed commitInline(Digest expected, byte[] onHeap) throws IOException {
        UploadFile file = session.file;
        Digest actual = file.sha256();
        if (!actual.equals(expected)) {
            throw refused(actual, expected);
        }
        int length = (int) file.size();
        end();
        boolean added;
        try {
            // The session's record goes in the blob's batch: one write less per small blob, and
            // after a crash there is either the blob and no session, or the session as it was.
            added = blobs.commitInline(session.repository, expected, onHeap, length,
                    batch -> records.forgetIn(batch, session));
        } catch (RuntimeException | IOException e) {
            sessions.forget(session);
            throw e;
        } finally {
            // Not synced: an upload file left by a crash is removed by the next start's recovery.
            file.delete();
        }
        sessions.forgotten(session);
        count(added ? UploadOutcome.COMMITTED : UploadOutcome.ALREADY_PRESENT);
        return added ? Committed.ADDED : Committed.ALREADY_PRESENT;
    }

    /**
     * Ends the upload and removes its bytes, counted as aborted (unless a commit already counted
     * it). Does nothing once the handle is closed.
     */
    public void cancel() {
        if (closed) {
            return;
        }
        closed = true;
        if (!ended) {
            end();
            sessions.discard(session);
        }
        count(UploadOutcome.ABORTED);
    }

    /**
     * Ends this request's hold: bytes not acknowledged are taken back and the session is parked
     * for the next request, or, if no client knows it, removed. Does nothing the second time, or
     * after a commit or cancel.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (ended) {
            return;
        }
        if (!known) {
            end();
            sessions.discard(session);
            return;
        }
        try {
            session.file.rollback();
        } catch (IOException e) {
            log.warn("cannot roll back upload {}; dropping it", session.id, e);
            end();
            sessions.discard(session);
            return;
        }
        sessions.release(session);
    }

    private void end() {
        ended = true;
    }

    private void count(UploadOutcome outcome) {
        if (!counted) {
            counted = true;
            counter.count(surface, outcome);
        }
    }

    private void checkOpen() {
        if (closed || ended) {
            throw new IllegalStateException("upload " + session.id + " is " + (ended ? "ended" : "closed"));
        }
    }
}
