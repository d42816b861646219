package dev.layercache.server.lifecycle;

import dev.layercache.server.core.Digest;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.retention.ReferenceGuard;
import dev.layercache.server.storage.BlobBackend;
import dev.layercache.server.storage.BlobContent;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The consistency pass at start: repairs what a crash (or a hand in the data folder) can leave
 * between the metadata and the blob files. A record whose file is gone is forgotten with the
 * roots that need it; a file without a record (a crash between the rename and the record) is
 * adopted when its bytes match its name, and removed otherwise. Upload files are the upload
 * service's own start-up business.
 *
 * <p>On a node it runs in the background ({@link #inBackground}): listing a million blob files
 * takes tens of seconds, and nothing the pass finds may make a request's answer wrong
 * meanwhile, so it need not hold readiness back. While it runs:
 * <ul>
 * <li>every answer that says a blob exists also looks for its file ({@code BlobService}'s
 *     files-in-doubt mode): a record whose file is gone is a miss, never a 200;</li>
 * <li>such a blob found by a request is left to the pass ({@link #lost}), not forgotten on the
 *     request's thread (forgetting scans every root);</li>
 * <li>each repair looks again under the digest's lock first ({@link ReferenceGuard#asking}): a
 *     blob pushed again, or collected, since the listing is left alone;</li>
 * <li>the lifecycle's count, and so every scheduled eviction and collection, waits for the end
 *     ({@link StoreStatus#awaitStartupCheck()}).</li>
 * </ul>
 */
public final class StartupCheck {
    private static final Logger log = LoggerFactory.getLogger(StartupCheck.class);

    /**
     * What the pass found and did.
     *
     * @param at when it began
     */
    public record Report(long records, long files, int recordsWithoutFile, int filesAdopted, int filesRemoved,
                         long millis, Instant at) {
    }

    /** Called on the pass's thread before it looks at anything: tests hold the pass there. */
    @FunctionalInterface
    public interface Hook {
        Hook NONE = () -> { };

        void beforePass() throws InterruptedException;
    }

    private final KeyValueStore kv;
    private final BlobBackend backend;
    private final BlobRepair repair;
    private final ReferenceGuard guard;
    private final Clock clock;
    /** Blobs found without their file by requests while the pass runs; null when it is not running. */
    private Set<Digest> lostMeanwhile;
    private volatile boolean cancelled;

    public StartupCheck(KeyValueStore kv, BlobBackend backend, BlobRepair repair, ReferenceGuard guard, Clock clock) {
        this.kv = kv;
        this.backend = backend;
        this.repair = repair;
        this.guard = Objects.requireNonNull(guard, "guard");
        this.clock = clock;
    }

    /** A pass running on a thread of its own; {@link #close} stops it (before the stores close). */
    public final class Background implements AutoCloseable {
        private final Thread thread;

        private Background(Thread thread) {
            this.thread = thread;
        }

        /** Stops the pass where it is (what it repaired stays repaired) and waits for its thread. */
        @Override
        public void close() {
            cancelled = true;
            thread.interrupt();
            try {
                thread.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Runs the pass now on a thread of its own, reporting to {@code status}; until it ends,
     * {@code filesInDoubt} is told true (then false) so that the blob services look for files.
     */
    public Background inBackground(StoreStatus status, java.util.function.Consumer<Boolean> filesInDoubt, Hook hook) {
        Instant began = clock.instant();
        synchronized (this) {
            lostMeanwhile = new LinkedHashSet<>();
        }
        status.startupCheckBegins(began);
        filesInDoubt.accept(true);
        Thread t = new Thread(() -> {
            Report report = null;
            try {
                hook.beforePass();
                report = pass(began);
            } catch (InterruptedException | CancellationException e) {
                log.info("start-up check stopped before its end (the node is stopping)");
            } catch (IOException | RuntimeException e) {
                log.error("start-up check failed; the scrub finds what it would have", e);
            } finally {
                // Only now may answers stop looking for files: the pass has repaired what it found.
                filesInDoubt.accept(false);
                forgetLostMeanwhile();
                status.startupChecked(report);
            }
        }, "layercache-startup-check");
        t.setDaemon(true);
        t.start();
        return new Background(t);
    }

    /** Runs the whole pass now, on this thread. */
    public Report run() throws IOException {
        return pass(clock.instant());
    }

    /**
     * What the blob services do with a blob whose record outlived its file: left to the pass while
     * it runs (it forgets each once, off the request's thread), forgotten by {@code repair} otherwise.
     */
    public BiConsumer<Digest, String> lost(BiConsumer<Digest, String> repair) {
        return (digest, why) -> {
            synchronized (this) {
                if (lostMeanwhile != null) {
                    lostMeanwhile.add(digest);
                    return;
                }
            }
            repair.accept(digest, why);
        };
    }

    private void forgetLostMeanwhile() {
        List<Digest> left;
        synchronized (this) {
            left = lostMeanwhile == null ? List.of() : List.copyOf(lostMeanwhile);
            lostMeanwhile = null;
        }
        if (cancelled) {
            return; // the node is stopping: the next start's pass finds them
        }
        BlobIndex index = new BlobIndex(kv);
        for (Digest d : left) {
            forgetIfStillWithoutFile(index, d, "has no file (found during the start-up check)");
        }
    }

    private Report pass(Instant began) throws IOException {
        long started = System.nanoTime();
        BlobIndex index = new BlobIndex(kv);
        List<Digest> withoutFile = new ArrayList<>();
        long[] records = {0};
        try {
            index.forEach((digest, record) -> {
                stopIfCancelled();
                records[0]++;
                try {
                    if (backend.size(digest) < 0) {
                        withoutFile.add(digest);
                    }
                } catch (IOException io) {
                    throw new UncheckedIOException(io);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        int forgotten = 0;
        for (Digest d : withoutFile) {
            stopIfCancelled();
            if (forgetIfStillWithoutFile(index, d, "has no file (found at start)")) {
                forgotten++;
            }
        }
        List<Digest> orphans = new ArrayList<>();
        long[] files = {0};
        backend.forEach(d -> {
            stopIfCancelled();
            files[0]++;
            if (index.size(d) < 0) {
                orphans.add(d);
            }
        });
        int adopted = 0;
        int removed = 0;
        for (Digest d : orphans) {
            stopIfCancelled();
            switch (adoptOrRemove(index, d)) {
                case ADOPTED -> adopted++;
                case REMOVED -> removed++;
                case LEFT -> { }
            }
        }
        Report report = new Report(records[0], files[0], forgotten, adopted, removed,
                (System.nanoTime() - started) / 1_000_000, began);
        log.info("start-up check: {} blob records, {} files; {} records without a file forgotten, {} files adopted, "
                + "{} files removed, in {} ms", records[0], files[0], forgotten, adopted, removed, report.millis());
        return report;
    }

    private void stopIfCancelled() {
        if (cancelled) {
            throw new CancellationException("the node is stopping");
        }
    }

    /**
     * Forgets {@code d} unless it has its file again, or no record, by now: under the digest's lock,
     * so that a push of the same blob (which holds it from the file's rename to the record) either
     * came first and is left alone, or comes after and writes a new record.
     */
    private boolean forgetIfStillWithoutFile(BlobIndex index, Digest d, String why) {
        return guard.asking(d, () -> {
            try {
                if (index.size(d) < 0 || backend.size(d) >= 0) {
                    return false;
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            repair.forget(d, why);
            return true;
        });
    }

    private enum Fate { ADOPTED, REMOVED, LEFT }

    /**
     * A file without a record: adopted when its bytes match its name, removed otherwise. Hashed
     * outside the digest's lock (a large file takes a while), then looked at again under it: a
     * push that wrote the record meanwhile, or a collection that removed the file, wins.
     */
    private Fate adoptOrRemove(BlobIndex index, Digest d) throws IOException {
        long size = verifiedSize(d);
        try {
            return guard.asking(d, () -> {
                try {
                    if (index.size(d) >= 0 || backend.size(d) < 0) {
                        return Fate.LEFT; // recorded by a push meanwhile, or removed by a collection
                    }
                    if (size >= 0) {
                        if (backend.size(d) != size) {
                            return Fate.LEFT;
                        }
                        KeyValueStore.Batch batch = kv.batch();
                        index.put(batch, d, size, clock.millis());
                        batch.commit(true);
                        return Fate.ADOPTED;
                    }
                    backend.delete(d);
                    return Fate.REMOVED;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** The file's size when its bytes hash to its name, else -1. */
    private long verifiedSize(Digest d) throws IOException {
        try (BlobContent ch = backend.open(d)) {
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
