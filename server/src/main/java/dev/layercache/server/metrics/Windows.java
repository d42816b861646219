package dev.layercache.server.metrics;

import java.time.Clock;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Counters over sliding windows in fixed memory: one slot per minute for the last hour and one
 * per hour for the last day. The 5-minute and 1-hour windows add minutes, the 24-hour window adds
 * the current hour and the 23 before it. A slot is reused when its time comes round again: the
 * first add in a new minute (or hour) clears it, under a lock taken once per slot and period.
 *
 * <p>Every request adds here, from every event loop at once; so the slots are striped by thread,
 * each stripe in arrays of its own, and a read sums the stripes. Without that, the event loops
 * hand the same cache lines back and forth on every request.
 *
 * <p>A namespace's windows count the {@link Field}s; the mirror's per-upstream windows count
 * fields of their own ({@code MirrorMeters.Field}), so neither pays memory for the other's.
 */
final class Windows {
    /**
     * What is counted per slot. Existence checks (a pusher's blob {@code HEAD}, FindMissingBlobs)
     * are not lookups: they have fields of their own, outside {@code HITS} and {@code MISSES}.
     */
    enum Field {
        HITS, MISSES, CAPACITY_MISSES, SERVED_BYTES, RECEIVED_BYTES, SAVED_BYTES,
        EXISTENCE_CHECKS, EXISTENCE_CHECK_HITS
    }

    static final int MINUTES = 60;
    static final int HOURS = 24;

    /** Stripes: a power of two at least the number of cores. */
    private static final int STRIPES = Integer.highestOneBit(Math.max(1, Runtime.getRuntime().availableProcessors()) * 2 - 1);

    private final int fields;
    private final Slots[] minutes = new Slots[STRIPES];
    private final Slots[] hours = new Slots[STRIPES];

    /** Windows of a namespace: the {@link Field}s. */
    Windows() {
        this(Field.values().length);
    }

    /** Windows of {@code fields} counters, numbered from 0 (an enum's ordinals). */
    Windows(int fields) {
        this.fields = fields;
        for (int i = 0; i < STRIPES; i++) {
            minutes[i] = new Slots(MINUTES, fields);
            hours[i] = new Slots(HOURS, fields);
        }
    }

    /** The minute {@code clock} is in, as the windows number them: minutes since the epoch. */
    static long minute(Clock clock) {
        return Math.floorDiv(clock.millis(), 60_000L);
    }

    void add(long minute, Field field, long n) {
        add(minute, field.ordinal(), n);
    }

    /** Adds {@code n} to counter {@code field} (an ordinal below the constructor's count). */
    void add(long minute, int field, long n) {
        if (n == 0) {
            return;
        }
        int stripe = (int) Thread.currentThread().getId() & (STRIPES - 1);
        minutes[stripe].add(minute, field, n);
        hours[stripe].add(Math.floorDiv(minute, 60), field, n);
    }

    /** Sums over the last {@code count} minutes ending with {@code minute}, at most an hour. */
    long[] lastMinutes(long minute, int count) {
        return sum(minutes, minute, Math.min(count, MINUTES));
    }

    /** Sums over the hour of {@code minute} and the 23 before it. */
    long[] lastDay(long minute) {
        return sum(hours, Math.floorDiv(minute, 60), HOURS);
    }

    /** One minute's counts, or zeros when nothing was counted then (or it is over an hour ago). */
    long[] minute(long minute) {
        return sum(minutes, minute, 1);
    }

    private long[] sum(Slots[] stripes, long last, int count) {
        long[] total = new long[fields];
        for (Slots slots : stripes) {
            long[] part = slots.sum(last, count);
            for (int f = 0; f < fields; f++) {
                total[f] += part[f];
            }
        }
        return total;
    }

    private static final class Slots {
        private final int size;
        private final int fields;
        private final AtomicLongArray periods;
        private final AtomicLongArray counts;

        Slots(int size, int fields) {
            this.size = size;
            this.fields = fields;
            this.periods = new AtomicLongArray(size);
            for (int i = 0; i < size; i++) {
                periods.set(i, Long.MIN_VALUE);
            }
            this.counts = new AtomicLongArray(size * fields);
        }

        void add(long period, int field, long n) {
            int slot = (int) Math.floorMod(period, (long) size);
            if (periods.get(slot) != period) {
                claim(slot, period);
            }
            counts.addAndGet(slot * fields + field, n);
        }

        private synchronized void claim(int slot, long period) {
            long held = periods.get(slot);
            if (held >= period) {
                return; // claimed meanwhile (or a late add for a period already overwritten: counted in the new one)
            }
            for (int f = 0; f < fields; f++) {
                counts.set(slot * fields + f, 0);
            }
            periods.set(slot, period);
        }

        long[] sum(long last, int count) {
            long[] total = new long[fields];
            for (long p = last - count + 1; p <= last; p++) {
                int slot = (int) Math.floorMod(p, (long) size);
                if (periods.get(slot) == p) {
                    for (int f = 0; f < fields; f++) {
                        total[f] += counts.get(slot * fields + f);
                    }
                }
            }
            return total;
        }
    }
}
