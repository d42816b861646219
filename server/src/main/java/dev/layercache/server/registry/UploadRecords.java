package dev.layercache.server.registry;

import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.UploadIndex;
import dev.layercache.server.metadata.UploadIndex.UploadRecord;
import dev.layercache.server.storage.DataLayout;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;

/**
 * Where upload sessions are written down: their records in the metadata store (so that they
 * survive a restart), their files under {@code uploads/}, and, in a cluster, the directory that
 * tells other nodes which node holds a session.
 */
final class UploadRecords {
    private final KeyValueStore kv;
    private final UploadIndex index;
    private final DataLayout layout;
    private final UploadDirectory directory;
    private final Clock clock;

    UploadRecords(KeyValueStore kv, DataLayout layout, UploadDirectory directory, Clock clock) {
        this.kv = kv;
        this.index = new UploadIndex(kv);
        this.layout = layout;
        this.directory = directory;
        this.clock = clock;
    }

    /** The file of session {@code id}. */
    Path file(String id) {
        return layout.upload(id);
    }

    /** The folder of all upload files. */
    Path folder() {
        return layout.uploads();
    }

    UploadRecord get(String id) {
        return index.get(id);
    }

    List<UploadRecord> all() {
        return index.all();
    }

    /**
     * A record that already says the same offset is not written again within this time: a POST
     * records its new session and then acknowledges it, empty, at once. The record's time is only
     * read for expiry after a restart, measured in minutes or hours.
     */
    static final long SAME_RECORD_MILLIS = 1000;

    /** Records session {@code s} with its file good up to {@code offset}, worked on now. */
    void record(UploadSession s, long offset) {
        long now = clock.millis();
        if (offset == s.recordedOffset && now - s.recordedAtMillis < SAME_RECORD_MILLIS) {
            return;
        }
        put(s.record(offset, now));
        s.recordedOffset = offset;
        s.recordedAtMillis = now;
    }

    private void put(UploadRecord r) {
        KeyValueStore.Batch b = kv.batch();
        // Not fsynced: an acknowledged chunk survives kill -9 (the OS has the file and the WAL);
        // after a power loss the client restarts its upload, which it must be ready to do anyway.
        index.put(b, r);
        b.commit(false);
    }

    /**
     * Records a new session here and, in a cluster, where other nodes can find it; if the
     * directory refuses, the record goes again and the caller removes the session.
     */
    void announce(UploadSession s) throws IOException {
        record(s, s.size());
        try {
            directory.announce(s.id, s.repository);
        } catch (IOException | RuntimeException e) {
            s.recordedOffset = -1;
            forgetHere(s.id);
            throw e;
        }
    }

    /**
     * Moves session {@code id} from the node of the cluster that holds it to this one: its bytes
     * into {@link #file}, its record here and in the directory. Null when no live node holds it.
     */
    UploadRecord takeOver(String id) throws IOException {
        UploadRecord r = directory.takeOver(id, file(id));
        if (r != null) {
            put(r);
            directory.announce(id, r.repository());
        }
        return r;
    }

    /** Removes the session's record here, leaving the directory to a node that took it over. */
    void forgetHere(String id) {
        KeyValueStore.Batch b = kv.batch();
        index.delete(b, id);
        b.commit(false);
    }

    /**
     * Adds the removal of session {@code s}'s record here to {@code batch}; once the batch is
     * written, {@link #forgotten} finishes the job. Always deleted, even if this process never
     * wrote it: a session restored after a restart has a record from before.
     */
    void forgetIn(KeyValueStore.Batch batch, UploadSession s) {
        index.delete(batch, s.id);
    }

    /** After {@link #forgetIn}'s batch was written: removes the session from the directory. */
    void forgotten(String id) {
        directory.forget(id);
    }

    /** Removes the session's record here and in the directory: it ended. */
    void forget(String id) {
        forgetHere(id);
        directory.forget(id);
    }
}
