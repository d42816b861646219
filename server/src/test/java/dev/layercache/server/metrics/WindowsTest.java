package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class WindowsTest {
    private static final int HITS = Windows.Field.HITS.ordinal();
    private static final int MISSES = Windows.Field.MISSES.ordinal();

    @Test
    void windowsCountOnlyTheirMinutes() {
        Windows w = new Windows();
        long now = 1_000_000;
        w.add(now - 10, Windows.Field.HITS, 1);   // in 1h, not in 5m
        w.add(now - 4, Windows.Field.HITS, 2);    // in 5m
        w.add(now, Windows.Field.MISSES, 3);      // in 5m
        w.add(now - 61, Windows.Field.HITS, 100); // out of 1h, in 24h

        assertEquals(2, w.lastMinutes(now, 5)[HITS]);
        assertEquals(3, w.lastMinutes(now, 5)[MISSES]);
        assertEquals(3, w.lastMinutes(now, 60)[HITS]);
        assertEquals(103, w.lastDay(now)[HITS]);
        assertEquals(3, w.lastDay(now)[MISSES]);
    }

    @Test
    void aSlotComingRoundAgainStartsFromZero() {
        Windows w = new Windows();
        long now = 5_000;
        w.add(now, Windows.Field.HITS, 7);
        // One hour later the same minute slot is reused: the old count must not leak in.
        w.add(now + 60, Windows.Field.HITS, 1);
        assertEquals(1, w.minute(now + 60)[HITS]);
        assertEquals(0, w.minute(now)[HITS], "a minute more than an hour ago reads as nothing");
        assertEquals(1, w.lastMinutes(now + 60, 60)[HITS]);
        // The day window still has both (different hours).
        assertEquals(8, w.lastDay(now + 60)[HITS]);
        // A day later the hour slot is reused too.
        assertEquals(0, w.lastDay(now + 60 + 24 * 60)[HITS]);
    }

    @Test
    void theDayWindowDropsHoursOlderThanADay() {
        Windows w = new Windows();
        long hourStart = 60L * 1000;
        w.add(hourStart, Windows.Field.SAVED_BYTES, 10);
        assertEquals(10, w.lastDay(hourStart + 23 * 60 + 59)[Windows.Field.SAVED_BYTES.ordinal()]);
        assertEquals(0, w.lastDay(hourStart + 24 * 60)[Windows.Field.SAVED_BYTES.ordinal()]);
    }

    @Test
    void concurrentAddsAreAllCounted() throws Exception {
        Windows w = new Windows();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        CountDownLatch done = new CountDownLatch(4);
        for (int t = 0; t < 4; t++) {
            pool.execute(() -> {
                for (int i = 0; i < 100_000; i++) {
                    w.add(42, Windows.Field.HITS, 1);
                }
                done.countDown();
            });
        }
        done.await(30, TimeUnit.SECONDS);
        pool.shutdown();
        assertArrayEquals(new long[] {400_000, 0, 0, 0, 0, 0, 0, 0}, w.minute(42));
    }
}
