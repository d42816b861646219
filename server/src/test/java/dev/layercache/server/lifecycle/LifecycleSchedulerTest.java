package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.config.ServerConfig;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Writes start a run when they take the store past its watermark, but not one per write while
 * the store stays over it: a budget lowered to a byte (min-free-disk on a full disk) once made
 * every stored blob a pass over the whole store.
 */
class LifecycleSchedulerTest {

    @Test
    void aStoreThatStaysOverItsWatermarkIsNotPassedOverOncePerStoredBlob() throws Exception {
        StoreStatus status = new StoreStatus();
        Budget aByte = new Budget(1, 1, 1, 0, 0, 0, 1, true); // no gap between the watermarks
        status.budget(aByte);
        status.runEnded(aByte, 1 << 20); // the last run could not get under: blobs in their grace
        AtomicInteger runs = new AtomicInteger();
        Semaphore ran = new Semaphore(0);
        Runnable run = () -> {
            runs.incrementAndGet();
            status.runEnded(aByte, 1 << 20); // still over: nothing it could evict
            ran.release();
        };
        try (LifecycleScheduler scheduler = new LifecycleScheduler(ServerConfig.Lifecycle.DEFAULT, status,
                () -> { }, run, () -> { })) {
            scheduler.start();
            for (int i = 0; i < 200; i++) { // a burst of small blobs within well under a second
                scheduler.blobStored(4096);
                Thread.sleep(1);
            }
            assertTrue(runs.get() <= 1, runs.get() + " runs for a burst of 200 blobs");
            ran.drainPermits();
            Thread.sleep(1100);
            scheduler.blobStored(4096); // a second after the last run: worth another
            assertTrue(ran.tryAcquire(10, TimeUnit.SECONDS), "a write a second after the last run starts one");
            int afterPause = runs.get();
            for (int i = 0; i < 100; i++) {
                scheduler.blobStored(4096);
            }
            Thread.sleep(200);
            assertEquals(afterPause, runs.get(), "writes right after a run that ended over the watermark wait");
        }
    }
}
