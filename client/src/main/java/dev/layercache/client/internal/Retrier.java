package dev.layercache.client.internal;

import dev.layercache.client.ClientListener;
import dev.layercache.client.LayerCacheException;
import dev.layercache.client.RetryEvent;
import dev.layercache.client.RetryPolicy;
import io.grpc.Status;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;

/**
 * Retries with the client's {@link RetryPolicy}: unary calls on UNAVAILABLE and
 * RESOURCE_EXHAUSTED; broken transfer streams also on the codes a stream cut by a restarting
 * server ends with. Both also on a lost connection that grpc-java reports as UNKNOWN (see
 * {@link #isConnectionLost}). Each retry is reported to the listener first.
 */
public final class Retrier {
    private static final Set<Status.Code> RETRYABLE = EnumSet.of(Status.Code.UNAVAILABLE,
            Status.Code.RESOURCE_EXHAUSTED);
    private static final Set<Status.Code> RESUMABLE = EnumSet.of(Status.Code.UNAVAILABLE,
            Status.Code.RESOURCE_EXHAUSTED, Status.Code.CANCELLED, Status.Code.ABORTED, Status.Code.INTERNAL);

    private final RetryPolicy policy;
    private final ClientListener listener;
    private final Runnable beforeRetry;
    private final String target;

    /**
     * @param beforeRetry run before each retry: the channel's reconnect backoff is reset there,
     *     so that a server that came back is reached at once
     */
    public Retrier(RetryPolicy policy, ClientListener listener, Runnable beforeRetry, String target) {
        this.policy = policy;
        this.listener = listener;
        this.beforeRetry = beforeRetry;
        this.target = target;
    }

    public RetryPolicy policy() {
        return policy;
    }

    public String target() {
        return target;
    }

    /** Whether a unary call that failed with {@code status} may be tried again. */
    public static boolean isRetryable(Status status) {
        return RETRYABLE.contains(status.getCode()) || isConnectionLost(status);
    }

    /** Whether a blob stream that broke with {@code status} may be resumed. */
    public static boolean isResumable(Status status) {
        return RESUMABLE.contains(status.getCode()) || isConnectionLost(status);
    }

    /**
     * A call written to a connection that the server's end had already closed (a node killed
     * mid-call): grpc-java's Netty transport reports it as UNKNOWN "channel closed" with a
     * {@link ClosedChannelException} as the cause, because it cannot tell whether the server saw
     * the call. Every call of this API is idempotent (blobs are content-addressed, entries are
     * replaced whole), so trying again is safe.
     */
    static boolean isConnectionLost(Status status) {
        if (status.getCode() != Status.Code.UNKNOWN) {
            return false;
        }
        for (Throwable c = status.getCause(); c != null; c = c.getCause()) {
            if (c instanceof ClosedChannelException) {
                return true;
            }
        }
        return false;
    }

    /** Runs {@code attempt} until it succeeds, fails for good or the attempts run out. */
    public <T> T call(String operation, Supplier<T> attempt) {
        for (int n = 1; ; n++) {
            try {
                return attempt.get();
            } catch (RuntimeException e) {
                Status status = Errors.statusOf(e);
                if (status == null || !isRetryable(status) || n >= policy.maxAttempts()
                        || Thread.currentThread().isInterrupted()) {
                    throw Errors.from(e, operation, target);
                }
                pause(operation, n, status);
            }
        }
    }

    /**
     * Reports and waits before attempt {@code failedAttempts + 1}.
     *
     * @throws LayerCacheException CANCELLED when the thread is interrupted while waiting
     */
    public void pause(String operation, int failedAttempts, Status status) {
        Random random = ThreadLocalRandom.current();
        Duration delay = policy.delayAfter(failedAttempts, random);
        listener.onRetry(new RetryEvent(operation, failedAttempts, policy.maxAttempts(), status.getCode(),
                status.getDescription() == null ? "" : status.getDescription(), delay));
        try {
            Thread.sleep(delay.toMillis(), (int) (delay.toNanos() % 1_000_000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LayerCacheException(Status.Code.CANCELLED, operation + ": interrupted", e);
        }
        beforeRetry.run();
    }
}
