package dev.layercache.server.registry;

import dev.layercache.server.metadata.UploadIndex.UploadRecord;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves upload sessions between the nodes of a cluster (see {@link UploadDirectory}). A request
 * for a session held elsewhere makes this node {@link #take} it; the holder {@link #give}s it up:
 * its acknowledged bytes move once, and the session carries on here, hashing them again.
 */
public final class UploadHandOver {
    private static final Logger log = LoggerFactory.getLogger(UploadHandOver.class);

    private final UploadRecords records;
    private final UploadSessions sessions;
    /** One take-over at a time, so that two requests for the same session fetch it once. */
    private final Object takeOvers = new Object();

    UploadHandOver(UploadRecords records, UploadSessions sessions) {
        this.records = records;
        this.sessions = sessions;
    }

    /** A session handed to another node: its acknowledged bytes, readable after this node let go. */
    public record HandedOver(UploadRecord record, FileChannel bytes) {
    }

    /**
     * Gives session {@code s} up to another node: returns its acknowledged bytes (a channel that
     * stays readable after the file is removed) and forgets it here, without touching the
     * directory, which the new owner updates. Null when there is no such session, or a request
     * holds it: a session is handed over only between requests.
     */
    HandedOver give(UploadSession s) throws IOException {
        if (s == null || !s.inUse.compareAndSet(false, true)) {
            return null;
        }
        s.file.park(); // parked already, between requests
        s.file.createIfAbsent(); // a session with no bytes may have no file yet
        FileChannel bytes = FileChannel.open(s.file.path(), StandardOpenOption.READ);
        UploadRecord record = s.record(s.size(), s.lastActiveMillis);
        Files.deleteIfExists(s.file.path());
        sessions.remove(s);
        records.forgetHere(s.id);
        log.info("upload {} of {} handed over to another node at {} bytes", s.id, s.repository, s.size());
        return new HandedOver(record, bytes);
    }

    /** Moves session {@code id} from the node that holds it to this one; its record, or null when no node has it. */
    UploadRecord take(String id) throws IOException {
        synchronized (takeOvers) {
            UploadRecord r = records.get(id);
            if (r != null) {
                return r; // another request took it over meanwhile
            }
            r = records.takeOver(id);
            if (r != null) {
                log.info("took over upload {} of {} at {} bytes", id, r.repository(), r.offset());
            }
            return r;
        }
    }
}
