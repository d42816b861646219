package dev.layercache.client.internal;

import java.util.concurrent.ArrayBlockingQueue;

/**
 * A few byte arrays kept for reuse. A download reads about a thousand 1 MiB messages per GiB;
 * a new array for each costs the JVM zeroing a megabyte and, as the young generation grows, the
 * kernel faulting in fresh pages: together more of the client's CPU for a download than reading
 * the bytes from the socket (BENCHMARKS.md, "Figures behind choices in the code"). Bounded in
 * count and size, so the pool holds a few megabytes at most; an array never given back is
 * simply collected.
 */
final class ArrayPool {
    private final ArrayBlockingQueue<byte[]> free;
    private final int maxLength;

    /**
     * @param maxArrays arrays kept at most
     * @param maxLength arrays longer than this are not kept
     */
    ArrayPool(int maxArrays, int maxLength) {
        this.free = new ArrayBlockingQueue<>(maxArrays);
        this.maxLength = maxLength;
    }

    /** An array of at least {@code length} bytes, not zeroed when reused. */
    byte[] take(int length) {
        byte[] array = free.poll();
        // One too small is dropped: a stream's messages have one size but for its last.
        return array != null && array.length >= length ? array : new byte[length];
    }

    /** Gives {@code array} back; its owner must not use it afterwards. */
    void give(byte[] array) {
        if (array.length <= maxLength) {
            free.offer(array);
        }
    }

    /** Arrays waiting for reuse. */
    int size() {
        return free.size();
    }
}
