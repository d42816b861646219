package dev.layercache.server.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.metadata.UploadIndex.UploadRecord;
import dev.layercache.server.metrics.Surface;
import dev.layercache.server.retention.AccessTracker;
import dev.layercache.server.retention.ReferenceGuard;
import dev.layercache.server.storage.DataLayout;
import dev.layercache.server.storage.DiskBlobBackend;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two nodes' upload services, whose directory moves a session from one to the other the way
 * {@code ClusterUploads} does over HTTP, but in-process: the holder gives the session up only
 * between requests, the taker continues from the acknowledged bytes, and the holder forgets it.
 */
class UploadHandOverTest {
    private static final RepositoryName REPO = RepositoryName.parse("cluster/app");

    @TempDir
    Path dir;

    private final ExecutorService disk = Executors.newFixedThreadPool(2);
    private final List<AutoCloseable> closing = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closing) {
            c.close();
        }
        disk.shutdownNow();
    }

    @Test
    void aSessionMovesToTheNodeARequestReaches() throws Exception {
        UploadService[] holder = new UploadService[1];
        List<String> takenOver = new ArrayList<>();
        UploadDirectory directory = new UploadDirectory() {
            @Override
            public void announce(String id, RepositoryName repository) {
            }

            @Override
            public void forget(String id) {
            }

            @Override
            public UploadRecord takeOver(String id, Path target) throws IOException {
                UploadHandOver.HandedOver handed = holder[0].handOver(id);
                if (handed == null) {
                    return null;
                }
                takenOver.add(id);
                try (FileChannel from = handed.bytes();
                     FileChannel to = FileChannel.open(target, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    from.transferTo(0, handed.record().offset(), to);
                }
                return handed.record();
            }
        };
        UploadService a = node("a", directory);
        UploadService b = node("b", directory);
        holder[0] = a;

        byte[] first = bytes(1, 150_000);
        byte[] second = bytes(2, 50_000);
        Upload held = a.start(Surface.OCI, REPO, "bob", "bob", true);
        held.write(ByteBuffer.wrap(first));
        held.acknowledge();
        assertNull(a.handOver(held.id()), "a request holds it: not handed over");
        held.write(ByteBuffer.wrap(bytes(3, 999))); // not acknowledged: stays behind
        held.close();

        try (Upload moved = b.resume(Surface.OCI, REPO, held.id(), "bob")) {
            assertEquals(List.of(held.id()), takenOver);
            assertEquals(first.length, moved.size(), "the acknowledged bytes moved");
            moved.write(ByteBuffer.wrap(second));
            moved.commit(Digest.sha256(concat(first, second)));
        }
        assertEquals(0, a.openSessions());
        assertFalse(Files.exists(new DataLayout(dir.resolve("a")).upload(held.id())), "a's file went with it");
        assertEquals(-1, a.heldBytes(REPO, held.id(), "bob"));
        assertNull(a.handOver(held.id()), "nothing left to hand over");
    }

    private UploadService node(String name, UploadDirectory directory) throws Exception {
        Clock clock = Clock.systemUTC();
        DataLayout layout = new DataLayout(dir.resolve(name)).create();
        RocksKeyValueStore kv = new RocksKeyValueStore(layout.metadata());
        closing.add(kv);
        BlobService blobs = new BlobService(kv, new DiskBlobBackend(layout), clock,
                new AccessTracker(kv, clock, Duration.ZERO), new ReferenceGuard());
        UploadService uploads = new UploadService(kv, layout, blobs, clock, disk, directory, UploadCounter.NONE);
        uploads.recover();
        return uploads;
    }

    private static byte[] bytes(int seed, int n) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
