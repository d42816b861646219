package dev.layercache.server.lifecycle;

import dev.layercache.server.core.Digest;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.storage.BlobBackend;
import dev.layercache.server.storage.DataLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
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
    private static final int PAGE = 1024;
    private static final int CHUNK = 1 << 20;

    /** One pass over the store. */
    public record Report(Instant at, long blobs, long bytes, int corrupt, int missing, long millis) {
    }

    private final KeyValueStore kv;
    private final BlobBackend backend;
    private final DataLayout layout;
    private final BlobRepair repair;
    private final Clock clock;

    public Scrubber(KeyValueStore kv, BlobBackend backend, DataLayout layout, BlobRepair repair, Clock clock) {
        this.kv = kv;
        this.backend = backend;
        this.layout = layout;
        this.repair = repair;
        this.clock = clock;
    }

    /** One pass; {@code bytesPerSecond} of 0 runs unthrottled. Stops early when interrupted. */
    public Report pass(long bytesPerSecond) throws IOException {
        long started = System.nanoTime();
        long blobs = 0;
        long bytes = 0;
        int corrupt = 0;
        int missing = 0;
        ByteBuffer buffer = ByteBuffer.allocate(CHUNK);
        byte[] after = null;
        while (!Thread.currentThread().isInterrupted()) {
            List<KeyValueStore.Entry> page = kv.scan(Table.BLOBS, new byte[0], after, PAGE);
            for (KeyValueStore.Entry e : page) {
                String text = Keys.string(e.key());
                if (!Digest.isValid(text)) {
                    continue;
                }
                Digest digest = Digest.parse(text);
                blobs++;
                try (FileChannel ch = backend.open(digest)) {
                    if (ch == null) {
                        missing++;
                        repair.forget(digest, "has no file");
                        continue;
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
                        bytes += n;
                        throttle(started, bytes, bytesPerSecond);
                    }
                    if (!Digest.of(digest.algorithm(), md.digest()).equals(digest)) {
                        corrupt++;
                        quarantine(digest);
                    }
                }
            }
            if (page.size() < PAGE) {
                break;
            }
            after = page.get(page.size() - 1).key();
        }
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

    /** Moves the rotten file aside first (no reader gets it from now on), then forgets it. */
    private void quarantine(Digest digest) throws IOException {
        FileChannel still = backend.open(digest);
        if (still != null) {
            still.close();
            Files.move(layout.blob(digest), layout.quarantine().resolve(digest.toString().replace(':', '-')),
                    StandardCopyOption.REPLACE_EXISTING);
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
