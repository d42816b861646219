package dev.layercache.client.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The pool of message arrays: reuse, and bounds on what it keeps. */
class ArrayPoolTest {
    @Test
    void aGivenArrayIsTakenAgain() {
        ArrayPool pool = new ArrayPool(2, 1024);
        byte[] a = pool.take(100);
        assertEquals(100, a.length);
        pool.give(a);
        assertSame(a, pool.take(100));
        pool.give(a);
        assertSame(a, pool.take(10), "a shorter message fits in a longer array");
    }

    @Test
    void anArrayTooShortIsDroppedForANewOne() {
        ArrayPool pool = new ArrayPool(2, 1024);
        byte[] small = pool.take(10);
        pool.give(small);
        byte[] big = pool.take(500);
        assertNotSame(small, big);
        assertEquals(500, big.length);
        assertEquals(0, pool.size());
    }

    @Test
    void keepsNoMoreThanItsCountAndNothingTooLong() {
        ArrayPool pool = new ArrayPool(3, 1024);
        for (int i = 0; i < 10; i++) {
            pool.give(new byte[1024]);
        }
        assertEquals(3, pool.size());
        ArrayPool other = new ArrayPool(3, 1024);
        other.give(new byte[1025]);
        assertEquals(0, other.size());
        assertTrue(other.take(1025).length >= 1025);
    }
}
