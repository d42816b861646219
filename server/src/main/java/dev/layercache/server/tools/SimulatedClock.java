package dev.layercache.server.tools;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The system clock plus an offset that only grows: the simulation moves it forward, and the node
 * it runs tells time by it (last uses, ages, the lifecycle's schedule).
 */
final class SimulatedClock extends Clock {
    /** A simulated hour, in milliseconds: the simulation's step, and the unit of the ages it reports. */
    static final long HOUR = Duration.ofHours(1).toMillis();

    private final AtomicLong offsetMillis = new AtomicLong();

    /** Moves the time to at least {@code millis}; never back, so last uses stay in order. */
    void advanceTo(long millis) {
        offsetMillis.accumulateAndGet(millis - System.currentTimeMillis(), Math::max);
    }

    @Override
    public long millis() {
        return System.currentTimeMillis() + offsetMillis.get();
    }

    @Override
    public Instant instant() {
        return Instant.ofEpochMilli(millis());
    }

    @Override
    public ZoneId getZone() {
        return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
        return this;
    }
}
