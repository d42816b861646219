package dev.layercache.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.ServerCall;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A call held while its credentials are checked: events before the start are handed over in
 * order, and a message the starting listener asks for goes straight to it, never held (grpc frees
 * a message's stream when {@code onMessage} returns).
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class DeferredListenerTest {
    /** A listener that writes down what it is told. */
    static final class Recording extends ServerCall.Listener<String> {
        final List<String> events = new CopyOnWriteArrayList<>();

        @Override
        public void onMessage(String message) {
            events.add("message " + message);
        }

        @Override
        public void onHalfClose() {
            events.add("half-close");
        }

        @Override
        public void onCancel() {
            events.add("cancel");
        }

        @Override
        public void onReady() {
            events.add("ready");
        }
    }

    @Test
    void eventsBeforeTheStartAreHandedOverInOrder() {
        DeferredListener<String> deferred = new DeferredListener<>();
        deferred.onReady();
        deferred.onHalfClose();
        Recording real = new Recording();
        deferred.start(() -> real);
        deferred.onCancel();
        assertEquals(List.of("ready", "half-close", "cancel"), real.events);
    }

    @Test
    void aMessageAskedForWhileStartingWaitsForTheHandOverAndIsNeverHeld() throws Exception {
        DeferredListener<String> deferred = new DeferredListener<>();
        Recording real = new Recording();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<String> seenWhenOnMessageReturned = new CopyOnWriteArrayList<>();
        Thread pool = new Thread(() -> {
            try {
                deferred.onMessage("m"); // grpc's pool delivering what the starting listener asked for
                seenWhenOnMessageReturned.addAll(real.events);
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        deferred.start(() -> {
            pool.start(); // as the service's startCall asks for a message
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (pool.getState() != Thread.State.BLOCKED && pool.isAlive() && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            return real;
        });
        pool.join();
        assertEquals(null, failure.get());
        assertEquals(List.of("message m"), seenWhenOnMessageReturned, "delivered before onMessage returned");
    }
}
