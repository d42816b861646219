package dev.layercache.server.retention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.Digest;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class ReferenceGuardTest {
    private static final Digest A = Digest.sha256("a".getBytes(StandardCharsets.UTF_8));
    private static final Digest B = Digest.sha256("b".getBytes(StandardCharsets.UTF_8));

    @Test
    void aBlobPublishedAgainstDuringACollectionIsKept() {
        ReferenceGuard guard = new ReferenceGuard();
        guard.beginMark();
        guard.publishing(List.of(A), () -> null);
        AtomicBoolean removedA = new AtomicBoolean();
        assertFalse(guard.removeIfUnreferenced(A, () -> { removedA.set(true); return true; }));
        assertFalse(removedA.get());
        AtomicBoolean removedB = new AtomicBoolean();
        assertTrue(guard.removeIfUnreferenced(B, () -> { removedB.set(true); return true; }));
        assertTrue(removedB.get());
        guard.endCollection();
        // Outside a collection nothing is remembered.
        guard.publishing(List.of(A), () -> null);
        assertTrue(guard.removeIfUnreferenced(A, () -> true));
    }

    @Test
    void markingWaitsForAPublicationInProgressAndRemovalWaitsForItsLock() throws Exception {
        ReferenceGuard guard = new ReferenceGuard();
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<Void> publication = CompletableFuture.runAsync(() -> guard.publishing(List.of(A), () -> {
            inside.countDown();
            await(release);
            return null;
        }));
        assertTrue(inside.await(10, TimeUnit.SECONDS));
        CompletableFuture<Void> mark = CompletableFuture.runAsync(guard::beginMark);
        assertThrows(TimeoutException.class, () -> mark.get(300, TimeUnit.MILLISECONDS),
                "the mark phase cannot start while a publication that began before it is unfinished");
        CompletableFuture<Boolean> removal = CompletableFuture.supplyAsync(() -> guard.removeIfUnreferenced(A, () -> true));
        assertThrows(TimeoutException.class, () -> removal.get(300, TimeUnit.MILLISECONDS),
                "nor can the blob it refers to be removed");
        release.countDown();
        publication.get(10, TimeUnit.SECONDS);
        mark.get(10, TimeUnit.SECONDS);
        assertEquals(true, removal.get(10, TimeUnit.SECONDS),
                "it began before the mark, so the mark phase sees its manifest: the removal is the collector's call");
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
