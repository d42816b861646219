package dev.layercache.client.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.client.ClientListener;
import dev.layercache.client.LayerCacheException;
import dev.layercache.client.RetryEvent;
import dev.layercache.client.RetryPolicy;
import io.grpc.Status;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Which failures the client tries again, and that it stops when it should. */
class RetrierTest {
    /** What grpc-java's Netty transport reports for a call written to a connection already closed. */
    private static final Status CONNECTION_LOST = Status.UNKNOWN.withDescription("channel closed")
            .withCause(new ClosedChannelException());

    private final List<RetryEvent> retries = new CopyOnWriteArrayList<>();
    private final AtomicInteger backoffResets = new AtomicInteger();
    private final Retrier retrier = new Retrier(new RetryPolicy(4, Duration.ofMillis(1), Duration.ofMillis(2), 2, 0),
            new ClientListener() {
                @Override
                public void onRetry(RetryEvent event) {
                    retries.add(event);
                }
            }, backoffResets::incrementAndGet, "127.0.0.1:1");

    @Test
    void aLostConnectionIsRetriedAndResumedLikeUnavailable() {
        assertTrue(Retrier.isRetryable(CONNECTION_LOST));
        assertTrue(Retrier.isResumable(CONNECTION_LOST));
        // The closed channel may come wrapped in another exception.
        assertTrue(Retrier.isRetryable(Status.UNKNOWN.withCause(new IOException("write",
                new ClosedChannelException()))));

        AtomicInteger attempts = new AtomicInteger();
        String result = retrier.call("WriteBlob", () -> {
            if (attempts.incrementAndGet() < 3) {
                throw CONNECTION_LOST.asRuntimeException();
            }
            return "done";
        });
        assertEquals("done", result);
        assertEquals(3, attempts.get());
        assertEquals(2, retries.size(), retries.toString());
        assertEquals(Status.Code.UNKNOWN, retries.get(0).code());
        assertEquals("channel closed", retries.get(0).description());
        assertEquals(2, backoffResets.get(), "the reconnect backoff is reset before each retry");
    }

    @Test
    void anUnknownFailureFromTheServerIsNotRetried() {
        // A server's own UNKNOWN (an exception in a handler) carries no cause across the wire.
        Status fromServer = Status.UNKNOWN.withDescription("boom");
        assertFalse(Retrier.isRetryable(fromServer));
        assertFalse(Retrier.isResumable(fromServer));
        assertFalse(Retrier.isRetryable(Status.UNKNOWN.withCause(new IOException("not a closed channel"))));

        AtomicInteger attempts = new AtomicInteger();
        LayerCacheException e = assertThrows(LayerCacheException.class, () -> retrier.call("GetEntry", () -> {
            attempts.incrementAndGet();
            throw fromServer.asRuntimeException();
        }));
        assertEquals(Status.Code.UNKNOWN, e.code());
        assertEquals(1, attempts.get());
        assertTrue(retries.isEmpty(), retries.toString());
    }

    @Test
    void unaryCallsAreNotRetriedOnCodesOnlyABrokenStreamResumes() {
        for (Status.Code code : List.of(Status.Code.CANCELLED, Status.Code.ABORTED, Status.Code.INTERNAL)) {
            assertFalse(Retrier.isRetryable(Status.fromCode(code)), code.toString());
            assertTrue(Retrier.isResumable(Status.fromCode(code)), code.toString());
        }
        for (Status.Code code : List.of(Status.Code.INVALID_ARGUMENT, Status.Code.NOT_FOUND,
                Status.Code.FAILED_PRECONDITION, Status.Code.DATA_LOSS)) {
            assertFalse(Retrier.isRetryable(Status.fromCode(code)), code.toString());
            assertFalse(Retrier.isResumable(Status.fromCode(code)), code.toString());
        }
    }

    @Test
    void givesUpAfterThePolicysAttempts() {
        AtomicInteger attempts = new AtomicInteger();
        LayerCacheException e = assertThrows(LayerCacheException.class, () -> retrier.call("PutEntry", () -> {
            attempts.incrementAndGet();
            throw CONNECTION_LOST.asRuntimeException();
        }));
        assertEquals(4, attempts.get());
        assertEquals(3, retries.size());
        assertEquals(Status.Code.UNKNOWN, e.code());
    }
}
