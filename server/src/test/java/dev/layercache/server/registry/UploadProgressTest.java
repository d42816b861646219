package dev.layercache.server.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.metadata.UploadIndex;
import dev.layercache.server.metrics.Surface;
import dev.layercache.server.storage.DataLayout;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Progress recorded in the middle of a stream ({@link Upload#recordProgress}) names only
 * bytes the file already has: with the disk held back, nothing beyond what was written is
 * recorded, and once the disk catches up the record moves on. A record ahead of the file would
 * make a restarted node drop the upload (its file is shorter than recorded) or resume it wrongly.
 */
class UploadProgressTest {
    @TempDir
    Path dir;

    @Test
    void recordedProgressNeverRunsAheadOfTheFile() throws Exception {
        DataLayout layout = new DataLayout(dir.resolve("data")).create();
        HeldDisk disk = new HeldDisk();
        try (RocksKeyValueStore kv = new RocksKeyValueStore(layout.metadata())) {
            UploadService uploads = new UploadService(kv, layout, null, Clock.systemUTC(), disk);
            Upload s = uploads.start(Surface.OCI, RepositoryName.parse("progress/test"), "anonymous", "anonymous", true);
            byte[] bytes = new byte[24 << 20];
            new Random(8).nextBytes(bytes);

            // Exactly the two stages a file has (its first of 1 MiB, then one of 4 MiB): both go to
            // the (held) disk, none is waited for.
            int twoStages = 5 << 20;
            s.readFrom(new ByteArrayInputStream(bytes, 0, twoStages), twoStages);
            s.recordProgress();
            long recorded = new UploadIndex(kv).get(s.id()).offset();
            assertEquals(0, recorded, "the disk has written nothing yet, so nothing is recorded");
            assertEquals(0, Files.size(layout.upload(s.id())));

            disk.release(); // the disk writes what it was given (two full stages)
            s.readFrom(new ByteArrayInputStream(bytes, twoStages, bytes.length - twoStages), bytes.length - twoStages);
            s.recordProgress();
            recorded = new UploadIndex(kv).get(s.id()).offset();
            long onFile = Files.size(layout.upload(s.id()));
            assertTrue(recorded >= twoStages && recorded <= onFile,
                    "recorded " + recorded + " with " + onFile + " bytes in the file");
            byte[] head = java.util.Arrays.copyOf(Files.readAllBytes(layout.upload(s.id())), (int) recorded);
            assertTrue(java.util.Arrays.equals(java.util.Arrays.copyOf(bytes, (int) recorded), head),
                    "the recorded bytes are the ones sent");

            s.acknowledge();
            assertEquals(bytes.length, new UploadIndex(kv).get(s.id()).offset(), "an acknowledgement drains the file");
            s.close();
        } finally {
            disk.release();
        }
    }

    /** A disk pool that holds its tasks until released, then runs them (and later ones) on a real pool. */
    private static final class HeldDisk implements Executor {
        private final List<Runnable> held = new ArrayList<>();
        private boolean open;

        @Override
        public synchronized void execute(Runnable task) {
            if (open) {
                ForkJoinPool.commonPool().execute(task);
            } else {
                held.add(task);
            }
        }

        synchronized void release() {
            open = true;
            held.forEach(ForkJoinPool.commonPool()::execute);
            held.clear();
        }
    }
}
