package dev.layercache.server.metadata;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RocksKeyValueStoreTest extends KeyValueStoreContract {
    @TempDir
    Path dir;
    private RocksKeyValueStore current;

    @Override
    protected KeyValueStore store() {
        current = new RocksKeyValueStore(dir.resolve("db"));
        return current;
    }

    @Override
    protected KeyValueStore reopen() {
        current.close();
        current = new RocksKeyValueStore(dir.resolve("db"));
        return current;
    }

    /**
     * RocksDB's native code kills the process when used after close (a metrics census scanning
     * at shutdown did): close must wait for operations in progress, and later ones must fail
     * with an exception, never reach the freed handles.
     */
    @Test
    void closeWaitsForOperationsInProgressAndRefusesLaterOnes() throws Exception {
        RocksKeyValueStore store = (RocksKeyValueStore) store();
        KeyValueStore.Batch b = store.batch();
        for (int i = 0; i < 20_000; i++) {
            b.put(Table.BLOBS, String.format("k%06d", i).getBytes(), new byte[64]);
        }
        b.commit(false);
        CountDownLatch started = new CountDownLatch(2);
        AtomicInteger completedScans = new AtomicInteger();
        AtomicInteger refused = new AtomicInteger();
        List<Thread> scanners = new ArrayList<>();
        List<Throwable> unexpected = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int t = 0; t < 2; t++) {
            Thread scanner = new Thread(() -> {
                started.countDown();
                try {
                    while (true) {
                        assertEquals(20_000, store.scan(Table.BLOBS, new byte[0], null, 1_000_000).size());
                        completedScans.incrementAndGet();
                    }
                } catch (MetadataException e) {
                    refused.incrementAndGet();
                } catch (Throwable e) {
                    unexpected.add(e);
                }
            });
            scanner.start();
            scanners.add(scanner);
        }
        started.await();
        Thread.sleep(50);
        store.close();
        for (Thread scanner : scanners) {
            scanner.join(30_000);
        }
        assertTrue(unexpected.isEmpty(), () -> "scans failed otherwise: " + unexpected);
        assertEquals(2, refused.get(), "both scanners end with the store's exception");
        assertTrue(completedScans.get() > 0, "scans ran while the store was open");
        assertThrows(MetadataException.class, () -> store.get(Table.BLOBS, "k000001".getBytes()));
        assertThrows(MetadataException.class, () -> store.batch().put(Table.BLOBS, new byte[] {1}, new byte[0])
                .commit(true));
        store.close(); // a second close is harmless
        current = null;
    }

    @AfterEach
    void close() {
        if (current != null) {
            current.close();
        }
    }
}
