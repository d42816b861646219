package dev.layercache.server.concurrent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Tasks in order, one at a time, on a shared pool; added tasks wait for a start and share one hand-off. */
class SerialQueueTest {
    private final ExecutorService threads = Executors.newFixedThreadPool(4);
    /** Hand-offs to the pool: what {@link SerialQueue#add} then {@link SerialQueue#start} saves. */
    private final AtomicInteger handOffs = new AtomicInteger();

    @AfterEach
    void stop() {
        threads.shutdownNow();
    }

    private SerialQueue queue() {
        return new SerialQueue(task -> {
            handOffs.incrementAndGet();
            threads.execute(task);
        });
    }

    @Test
    void addedTasksWaitForTheStartThenRunInOrderInOneHandOff() throws Exception {
        SerialQueue queue = queue();
        List<Integer> ran = Collections.synchronizedList(new ArrayList<>());
        for (int i = 0; i < 5; i++) {
            int n = i;
            queue.add(() -> ran.add(n));
        }
        Thread.sleep(100);
        assertTrue(ran.isEmpty(), "nothing runs before the start");
        assertEquals(0, handOffs.get());
        CountDownLatch done = new CountDownLatch(1);
        queue.add(done::countDown);
        queue.start();
        assertTrue(done.await(5, TimeUnit.SECONDS));
        assertEquals(List.of(0, 1, 2, 3, 4), ran);
        assertEquals(1, handOffs.get(), "the tasks added together went to the pool together");
    }

    @Test
    void aSubmitStartsTasksAddedBeforeIt() throws Exception {
        SerialQueue queue = queue();
        List<String> ran = Collections.synchronizedList(new ArrayList<>());
        queue.add(() -> ran.add("added"));
        CountDownLatch done = new CountDownLatch(1);
        queue.submit(() -> {
            ran.add("submitted");
            done.countDown();
        });
        assertTrue(done.await(5, TimeUnit.SECONDS));
        assertEquals(List.of("added", "submitted"), ran);
    }

    @Test
    void tasksAfterAnAwaitedStageWaitForItWithoutAThread() throws Exception {
        SerialQueue queue = queue();
        CompletableFuture<Void> stage = new CompletableFuture<>();
        AtomicReference<String> order = new AtomicReference<>("");
        CountDownLatch done = new CountDownLatch(1);
        queue.addAwaiting(() -> {
            order.updateAndGet(s -> s + "a");
            return stage;
        });
        queue.add(() -> {
            order.updateAndGet(s -> s + "b");
            done.countDown();
        });
        queue.start();
        assertFalse(done.await(200, TimeUnit.MILLISECONDS), "the task after the stage waits for it");
        assertEquals("a", order.get());
        stage.complete(null);
        assertTrue(done.await(5, TimeUnit.SECONDS));
        assertEquals("ab", order.get());
    }

    @Test
    void neverTwoTasksAtOnceUnderConcurrentSubmitters() throws Exception {
        SerialQueue queue = queue();
        AtomicInteger running = new AtomicInteger();
        AtomicInteger overlaps = new AtomicInteger();
        AtomicInteger count = new AtomicInteger();
        int submitters = 4;
        int each = 2_000;
        CountDownLatch done = new CountDownLatch(submitters * each);
        ExecutorService outside = Executors.newFixedThreadPool(submitters);
        try {
            for (int t = 0; t < submitters; t++) {
                outside.execute(() -> {
                    for (int i = 0; i < each; i++) {
                        Runnable task = () -> {
                            if (running.incrementAndGet() > 1) {
                                overlaps.incrementAndGet();
                            }
                            count.incrementAndGet();
                            running.decrementAndGet();
                            done.countDown();
                        };
                        if (i % 2 == 0) {
                            queue.submit(task);
                        } else {
                            queue.add(task);
                            queue.start();
                        }
                    }
                });
            }
            assertTrue(done.await(30, TimeUnit.SECONDS));
        } finally {
            outside.shutdownNow();
        }
        assertEquals(submitters * each, count.get());
        assertEquals(0, overlaps.get(), "two tasks ran at once");
    }
}
