package dev.layercache.server.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.metadata.UploadIndex;
import dev.layercache.server.metrics.Surface;
import dev.layercache.server.metrics.UploadOutcome;
import dev.layercache.server.retention.AccessTracker;
import dev.layercache.server.retention.ReferenceGuard;
import dev.layercache.server.storage.DataLayout;
import dev.layercache.server.storage.DiskBlobBackend;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@link Upload} handle over a real data folder and RocksDB: close takes back what was not
 * acknowledged and may be called again, commit says whether the blob was new, and each upload is
 * counted once, however its handle is closed and cancelled after.
 */
class UploadTest {
    private static final RepositoryName REPO = RepositoryName.parse("handle/test");
    private static final String OWNER = "alice";

    @TempDir
    Path dir;

    private final List<String> counted = new ArrayList<>();
    private final ExecutorService disk = Executors.newFixedThreadPool(2);
    private DataLayout layout;
    private RocksKeyValueStore kv;
    private BlobService blobs;
    private UploadService uploads;

    @BeforeEach
    void open() throws Exception {
        layout = new DataLayout(dir.resolve("data")).create();
        openStore();
    }

    /** The node's stores and services over {@link #layout}: again after a "restart". */
    private void openStore() throws Exception {
        Clock clock = Clock.systemUTC();
        kv = new RocksKeyValueStore(layout.metadata());
        blobs = new BlobService(kv, new DiskBlobBackend(layout), clock, new AccessTracker(kv, clock, Duration.ZERO),
                new ReferenceGuard());
        uploads = new UploadService(kv, layout, blobs, clock, disk, UploadDirectory.NONE,
                (surface, outcome) -> counted.add(surface.label() + ":" + outcome.label()));
        uploads.recover();
    }

    @AfterEach
    void close() {
        kv.close();
        disk.shutdownNow();
    }

    @Test
    void closeTakesBackWhatWasNotAcknowledged() throws Exception {
        byte[] first = bytes(1, 300_000);
        byte[] second = bytes(2, 200_000);
        String id;
        try (Upload upload = uploads.start(Surface.OCI, REPO, OWNER, OWNER, true)) {
            id = upload.id();
            upload.write(ByteBuffer.wrap(first));
            upload.acknowledge();
        }
        try (Upload upload = uploads.resume(Surface.OCI, REPO, id, OWNER)) {
            upload.write(ByteBuffer.wrap(bytes(3, 123_457))); // a request that dies half-way
            assertEquals(first.length + 123_457, upload.size());
        }
        assertEquals(first.length, Files.size(layout.upload(id)), "the file is cut back to the acknowledged bytes");
        assertEquals(first.length, uploads.heldBytes(REPO, id, OWNER));
        assertEquals(first.length, new UploadIndex(kv).get(id).offset());

        try (Upload upload = uploads.resume(Surface.OCI, REPO, id, OWNER)) {
            assertEquals(first.length, upload.size());
            upload.write(ByteBuffer.wrap(second));
            // The hash went back too: the upload verifies as first + second.
            assertEquals(Upload.Committed.ADDED, upload.commit(Digest.sha256(concat(first, second))));
        }
        assertEquals(List.of("oci:committed"), counted);
    }

    @Test
    void closeMayBeCalledAgainAndTheSessionIsFreeAfterIt() throws Exception {
        Upload upload = uploads.start(Surface.OCI, REPO, OWNER, OWNER, true);
        upload.write(ByteBuffer.wrap(bytes(4, 1000)));
        upload.acknowledge();
        assertThrows(RegistryException.class, () -> uploads.resume(Surface.OCI, REPO, upload.id(), OWNER),
                "held by a request");
        upload.close();
        upload.close();
        upload.cancel(); // after close: does nothing, the session belongs to the next request

        try (Upload again = uploads.resume(Surface.OCI, REPO, upload.id(), OWNER)) {
            assertEquals(1000, again.size());
        }
        assertTrue(Files.exists(layout.upload(upload.id())));
        assertEquals(1, uploads.openSessions());
        assertEquals(List.of(), counted, "closing ends no upload");
        assertThrows(IllegalStateException.class, () -> upload.write(ByteBuffer.wrap(new byte[1])));
    }

    @Test
    void commitSaysWhetherTheBlobWasNew() throws Exception {
        byte[] content = bytes(5, 70_000);
        Digest digest = Digest.sha256(content);
        Upload.Committed[] results = new Upload.Committed[2];
        for (int i = 0; i < 2; i++) {
            try (Upload upload = uploads.start(i == 0 ? Surface.OCI : Surface.GRPC, REPO, OWNER, OWNER, false)) {
                upload.write(ByteBuffer.wrap(content));
                results[i] = upload.commit(digest);
                upload.cancel(); // after a commit: nothing to cancel, nothing more to count
            }
        }
        assertEquals(Upload.Committed.ADDED, results[0]);
        assertEquals(Upload.Committed.ALREADY_PRESENT, results[1]);
        assertEquals(List.of("oci:committed", "grpc:already_present"), counted);
        assertEquals(content.length, blobs.stat(REPO, digest));
        assertEquals(0, uploads.openSessions());
        try (var files = Files.list(layout.uploads())) {
            assertEquals(0, files.count(), "no upload file is left");
        }
    }

    @Test
    void aWrongDigestEndsTheUploadAndIsCountedOnce() throws Exception {
        Upload upload = uploads.start(Surface.OCI, REPO, OWNER, OWNER, true);
        upload.write(ByteBuffer.wrap(bytes(6, 5000)));
        RegistryException e = assertThrows(RegistryException.class,
                () -> upload.commit(Digest.sha256(new byte[] {1})));
        assertEquals(ErrorCode.DIGEST_INVALID, e.code());
        upload.cancel();
        upload.close();
        assertEquals(List.of("oci:" + UploadOutcome.DIGEST_MISMATCH.label()), counted);
        assertFalse(Files.exists(layout.upload(upload.id())));
        RegistryException gone = assertThrows(RegistryException.class,
                () -> uploads.resume(Surface.OCI, REPO, upload.id(), OWNER));
        assertEquals(ErrorCode.BLOB_UPLOAD_UNKNOWN, gone.code());
    }

    @Test
    void cancelRemovesTheBytesAndCountsOnce() throws Exception {
        Upload upload = uploads.start(Surface.GRPC, REPO, OWNER, OWNER, true);
        upload.write(ByteBuffer.wrap(bytes(7, 5000)));
        upload.acknowledge();
        upload.cancel();
        upload.cancel();
        upload.close();
        assertEquals(List.of("grpc:aborted"), counted);
        assertFalse(Files.exists(layout.upload(upload.id())));
        assertEquals(null, new UploadIndex(kv).get(upload.id()));
        assertEquals(-1, uploads.heldBytes(REPO, upload.id(), OWNER));
        assertEquals(0, uploads.openSessions());
    }

    @Test
    void anUploadNoClientWasToldOfGoesWithItsHandle() throws Exception {
        String id;
        try (Upload upload = uploads.start(Surface.OCI, REPO, OWNER, OWNER, false)) {
            id = upload.id();
            upload.write(ByteBuffer.wrap(bytes(8, 5000)));
        }
        assertFalse(Files.exists(layout.upload(id)));
        assertEquals(0, uploads.openSessions());
        assertEquals(List.of(), counted, "a monolithic upload that died is not counted, as before");
    }

    @Test
    void anAcknowledgedUploadContinuesAfterARestart() throws Exception {
        byte[] first = bytes(9, 4 << 20 | 17);
        byte[] second = bytes(10, 99_999);
        String id;
        try (Upload upload = uploads.start(Surface.OCI, REPO, OWNER, OWNER, true)) {
            id = upload.id();
            upload.write(ByteBuffer.wrap(first));
            upload.acknowledge();
        }
        kv.close();
        openStore(); // the running hash is gone; the file is hashed again when the upload continues

        assertEquals(1, uploads.openSessions());
        try (Upload upload = uploads.resume(Surface.OCI, REPO, id, OWNER)) {
            assertEquals(first.length, upload.size());
            upload.write(ByteBuffer.allocateDirect(second.length).put(second).flip());
            assertEquals(Upload.Committed.ADDED, upload.commit(Digest.sha256(concat(first, second))));
        }
        assertEquals(List.of("oci:committed"), counted);
    }

    @Test
    void aSessionRestoredAfterARestartTakesItsFileWithItWhenCancelled() throws Exception {
        // This process never opened the restored session's file: its removal must not be skipped
        // (only a file this process knows it never made is left alone).
        String id;
        try (Upload upload = uploads.start(Surface.OCI, REPO, OWNER, OWNER, true)) {
            id = upload.id();
            upload.write(ByteBuffer.wrap(bytes(11, 3000)));
            upload.acknowledge();
        }
        assertTrue(Files.exists(layout.upload(id)));
        kv.close();
        openStore();

        Upload upload = uploads.resume(Surface.OCI, REPO, id, OWNER);
        upload.cancel();
        upload.close();
        assertFalse(Files.exists(layout.upload(id)));
        assertEquals(0, uploads.openSessions());
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
