package dev.layercache.server.lifecycle;

import dev.layercache.server.core.Digest;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.storage.BlobBackend;
import dev.layercache.server.storage.BlobContent;
import dev.layercache.server.storage.DataLayout;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Re-hashes every stored blob, at most {@code bytesPerSecond}, so that rot on the disk is found
 * before a build pulls it: a blob whose bytes no longer match its digest is moved to
 * {@code quarantine/}, forgotten with every root that needs it (clients then miss and rebuild),
 * and never served again; a blob whose file is gone is forgotten likewise.
 */
public final class Scrubber {
    private static final Logger log = LoggerFactory.getLogger(Scrubber.class);
    private static final int CHUNK = 1 << 20;

    /** One pass over the store. */
    public record Report(Instant at, long blobs, long bytes, int corrupt, int missing, long millis) {
    }

    private final BlobIndex blobIndex;
    private final BlobBackend backend;
    private final DataLayout layout;
    private final BlobRepair repair;
    private final Clock clock;

    public Scrubber(KeyValueStore kv, BlobBackend backend, DataLayout layout, BlobRepair repair, Clock clock) {
        this.blobIndex = new BlobIndex(kv);
        this.backend = backend;
        this.layout = layout;
        this.repair = repair;
        this.clock = clock;
    }

    /** One pass; {@code bytesPerSecond} of 0 runs unthrottled. Stops early when interrupted. */
    public Report pass(long bytesPerSecond) throws IOException {
        long started = System.nanoTime();
        long[] counts = new long[4]; // blobs, bytes, corrupt, missing
        ByteBuffer buffer = ByteBuffer.allocate(CHUNK);
        try {
            blobIndex.forEach((digest, record) -> {
                if (Thread.currentThread().isInterrupted()) {
                    throw new Interrupted();
                }
                try {
                    check(digest, buffer, counts, started, bytesPerSecond);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (Interrupted stopped) {
            // the pass ends here: the report says how far it got
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        long blobs = counts[0];
        long bytes = counts[1];
        int corrupt = (int) counts[2];
        int missing = (int) counts[3];
        Report report = new Report(clock.instant(), blobs, bytes, corrupt, missing,
                (System.nanoTime() - started) / 1_000_000);
        if (corrupt + missing > 0) {
            log.warn("scrub: {} blobs ({} bytes) checked, {} corrupt and quarantined, {} missing", blobs, bytes,
                    corrupt, missing);
        } else {
            log.info("scrub: {} blobs ({} bytes) checked in {} ms, all intact", blobs, bytes, report.millis());
        }
        return report;
    }

    /** Stops a pass from inside the scan when the thread is interrupted. */
    private static final class Interrupted extends RuntimeException {
        Interrupted() {
            super(null, null, false, false);
        }
    }

    /** Hashes one blob's file; forgets the blob when the file is gone, quarantines it when it is rotten. */
    private void check(Digest digest, ByteBuffer buffer, long[] counts, long started, long bytesPerSecond)
            throws IOException {
        counts[0]++;
        try (BlobContent ch = backend.open(digest)) {
            if (ch == null) {
                counts[3]++;
                repair.forget(digest, "has no file");
                return;
            }
            MessageDigest md = digest.algorithm().newMessageDigest();
            long position = 0;
            while (true) {
                buffer.clear();
                int n = ch.read(buffer, position);
                if (n < 0) {
                    break;
                }
                md.update(buffer.array(), 0, n);
                position += n;
                counts[1] += n;
                throttle(started, counts[1], bytesPerSecond);
            }
            if (!Digest.of(digest.algorithm(), md.digest()).equals(digest)) {
                counts[2]++;
                quarantine(digest);
            }
        }
    }

    /**
     * Moves the rotten bytes aside first (no reader gets them from now on), then forgets the
     * blob. Inline bytes (kept in the metadata store) are copied to the quarantine folder as a
     * file would be moved, then removed.
     */
    private void quarantine(Digest digest) throws IOException {
        BlobContent still = backend.open(digest);
        Path aside = layout.quarantine().resolve(digest.toString().replace(':', '-'));
        if (still instanceof BlobContent.Inline inline) {
            Files.write(aside, inline.bytes());
            backend.delete(digest);
        } else if (still != null) {
            still.close();
            Files.move(layout.blob(digest), aside, StandardCopyOption.REPLACE_EXISTING);
        }
        repair.forget(digest, "failed its digest check and was quarantined");
    }

    private static void throttle(long startedNanos, long bytes, long bytesPerSecond) {
        if (bytesPerSecond <= 0) {
            return;
        }
        long due = startedNanos + (long) (bytes * 1e9 / bytesPerSecond);
        long wait = due - System.nanoTime();
        if (wait > 0) {
            try {
                Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
