package dev.layercache.server.registry;

import dev.layercache.server.metadata.UploadIndex.UploadRecord;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Puts the upload sessions of the last run back after a start, kill -9 included. A record names
 * the bytes the server acknowledged, and files are written ahead of their records, so a file may
 * hold more than its record (cut back: the client resends from the acknowledged offset) but never
 * less, unless the disk lost it (the session is dropped, and its client starts again).
 */
final class UploadRecovery {
    private static final Logger log = LoggerFactory.getLogger(UploadRecovery.class);

    private final UploadRecords records;
    private final UploadSessions sessions;
    private final Executor disk;

    UploadRecovery(UploadRecords records, UploadSessions sessions, Executor disk) {
        this.records = records;
        this.sessions = sessions;
        this.disk = disk;
    }

    /**
     * Reconciles records and files: a session whose file is missing or shorter than its
     * acknowledged offset is dropped (its client gets BLOB_UPLOAD_UNKNOWN), a longer file is cut
     * back, and files without a session are removed. The sessions left are parked in the table,
     * counted, expired and limited like any other, until a client continues them.
     */
    void run() throws IOException {
        Set<String> live = new HashSet<>();
        for (UploadRecord r : records.all()) {
            Path file = records.file(r.id());
            // A session with no bytes may have no file yet (see UploadFile.empty).
            long length = Files.exists(file) ? Files.size(file) : r.offset() == 0 ? 0 : -1;
            if (length < r.offset()) {
                log.info("dropping upload {}: its file lost acknowledged bytes", r.id());
                records.forgetHere(r.id());
                Files.deleteIfExists(file);
                continue;
            }
            if (length > r.offset()) {
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                    ch.truncate(r.offset());
                }
            }
            live.add(r.id());
            sessions.restore(UploadSession.of(r, UploadFile.existing(file, r.offset(), disk)));
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(records.folder())) {
            for (Path f : files) {
                if (!live.contains(f.getFileName().toString())) {
                    log.info("removing orphaned upload file {}", f.getFileName());
                    Files.deleteIfExists(f);
                }
            }
        }
    }
}
