package dev.layercache.server.lifecycle;

import dev.layercache.server.core.Digest;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.storage.BlobBackend;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.security.MessageDigest;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The consistency pass at start: repairs what a crash (or a hand in the data folder) can leave
 * between the metadata and the blob files. A record whose file is gone is forgotten with the
 * roots that need it; a file without a record (a crash between the rename and the record) is
 * adopted when its bytes match its name, and removed otherwise. Upload files are the upload
 * service's own start-up business.
 */
public final class StartupCheck {
    private static final Logger log = LoggerFactory.getLogger(StartupCheck.class);
    /** What the pass found and did. */
    public record Report(long records, long files, int recordsWithoutFile, int filesAdopted, int filesRemoved,
                         long millis) {
    }

    private final KeyValueStore kv;
    private final BlobBackend backend;
    private final BlobRepair repair;
    private final Clock clock;

    public StartupCheck(KeyValueStore kv, BlobBackend backend, BlobRepair repair, Clock clock) {
        this.kv = kv;
        this.backend = backend;
        this.repair = repair;
        this.clock = clock;
    }

    public Report run() throws IOException {
        long started = System.nanoTime();
        BlobIndex index = new BlobIndex(kv);
        List<Digest> withoutFile = new ArrayList<>();
        long[] records = {0};
        index.forEach((digest, record) -> {
            records[0]++;
            try {
                if (backend.size(digest) < 0) {
                    withoutFile.add(digest);
                }
            } catch (IOException io) {
                throw new java.io.UncheckedIOException(io);
            }
        });
        for (Digest d : withoutFile) {
            repair.forget(d, "has no file (found at start)");
        }
        List<Digest> orphans = new ArrayList<>();
        long[] files = {0};
        backend.forEach(d -> {
            files[0]++;
            if (index.size(d) < 0) {
                orphans.add(d);
            }
        });
        int adopted = 0;
        int removed = 0;
        for (Digest d : orphans) {
            long size = verifiedSize(d);
            if (size >= 0) {
                KeyValueStore.Batch batch = kv.batch();
                index.put(batch, d, size, clock.millis());
                batch.commit(true);
                adopted++;
            } else {
                backend.delete(d);
                removed++;
            }
        }
        Report report = new Report(records[0], files[0], withoutFile.size(), adopted, removed,
                (System.nanoTime() - started) / 1_000_000);
        log.info("start-up check: {} blob records, {} files; {} records without a file forgotten, {} files adopted, "
                + "{} files removed, in {} ms", records[0], files[0], withoutFile.size(), adopted, removed, report.millis());
        return report;
    }

    /** The file's size when its bytes hash to its name, else -1. */
    private long verifiedSize(Digest d) throws IOException {
        try (FileChannel ch = backend.open(d)) {
            if (ch == null) {
                return -1;
            }
            MessageDigest md = d.algorithm().newMessageDigest();
            ByteBuffer buf = ByteBuffer.allocate(1 << 20);
            long position = 0;
            for (int n; (n = ch.read(buf.clear(), position)) > 0; position += n) {
                md.update(buf.array(), 0, n);
            }
            return Digest.of(d.algorithm(), md.digest()).equals(d) ? position : -1;
        }
    }
}
