package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.Random;

/**
 * How a client retries calls that fail with {@code UNAVAILABLE} or {@code RESOURCE_EXHAUSTED}
 * (or lose their connection), and resumes transfers whose stream broke: at most {@code maxAttempts} attempts, waiting an
 * exponentially growing, jittered delay between them. Before attempt {@code n + 1} (n from 1)
 * the client waits {@code min(maxBackoff, initialBackoff * multiplier^(n-1))}, scaled by a
 * uniformly random factor in {@code [1 - jitter, 1 + jitter]}.
 *
 * <p>A transfer that made progress since its last failure starts counting attempts again, so
 * that a long download survives several server restarts.
 *
 * @param maxAttempts attempts in all, at least 1 (1 means no retry)
 * @param initialBackoff the delay before the first retry
 * @param maxBackoff the longest delay
 * @param multiplier the growth of the delay from one retry to the next, at least 1
 * @param jitter the random spread of each delay, within 0 and 1
 */
public record RetryPolicy(int maxAttempts, Duration initialBackoff, Duration maxBackoff, double multiplier,
                          double jitter) {

    /** Validates the fields. */
    public RetryPolicy {
        requireNonNull(initialBackoff, "initialBackoff");
        requireNonNull(maxBackoff, "maxBackoff");
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts must be at least 1: " + maxAttempts);
        }
        if (initialBackoff.isNegative() || maxBackoff.compareTo(initialBackoff) < 0) {
            throw new IllegalArgumentException("want 0 <= initialBackoff <= maxBackoff");
        }
        if (!(multiplier >= 1.0) || !(jitter >= 0.0 && jitter <= 1.0)) {
            throw new IllegalArgumentException("want multiplier >= 1 and 0 <= jitter <= 1");
        }
    }

    /** 8 attempts, 200 ms doubling up to 5 s, 20% jitter: rides out about 20 s of unavailability. */
    public static RetryPolicy defaults() {
        return new RetryPolicy(8, Duration.ofMillis(200), Duration.ofSeconds(5), 2.0, 0.2);
    }

    /** One attempt: no retry, no resumption. */
    public static RetryPolicy none() {
        return new RetryPolicy(1, Duration.ZERO, Duration.ZERO, 1.0, 0.0);
    }

    /** This policy with another number of attempts. */
    public RetryPolicy withMaxAttempts(int maxAttempts) {
        return new RetryPolicy(maxAttempts, initialBackoff, maxBackoff, multiplier, jitter);
    }

    /** The delay before attempt {@code failedAttempts + 1}, with jitter drawn from {@code random}. */
    public Duration delayAfter(int failedAttempts, Random random) {
        requireNonNull(random, "random");
        double base = initialBackoff.toNanos() * Math.pow(multiplier, Math.max(0, failedAttempts - 1));
        double capped = Math.min(base, maxBackoff.toNanos());
        double factor = 1.0 + jitter * (2 * random.nextDouble() - 1);
        return Duration.ofNanos((long) Math.max(0, capped * factor));
    }
}
