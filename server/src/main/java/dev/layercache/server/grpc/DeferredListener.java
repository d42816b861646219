package dev.layercache.server.grpc;

import io.grpc.ServerCall;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A call's listener before the call may start (its credentials are being checked elsewhere): holds
 * the events that come meanwhile and hands them over in order once the real listener is known.
 *
 * <p>A half-close, a cancellation or a ready signal can come before the call starts, and are held.
 * A message cannot: none is read before the real listener asks for one, and it asks while it is
 * being made. That happens under this object's lock ({@link #start}), so a message that arrives
 * at once, on a thread of the call's pool, waits for the hand-over and then goes straight to the
 * real listener. It must: grpc closes a message's stream as soon as {@code onMessage} returns,
 * and a held stream would be read after it was freed. Events reach the real listener one at a
 * time, under the lock.
 */
final class DeferredListener<Q> extends ServerCall.Listener<Q> {
    private ServerCall.Listener<Q> delegate;
    private List<Consumer<ServerCall.Listener<Q>>> held = new ArrayList<>();

    /** Makes the real listener (which starts the call), then hands it the held events and every later one. */
    synchronized void start(Supplier<ServerCall.Listener<Q>> starter) {
        ServerCall.Listener<Q> listener = starter.get();
        for (Consumer<ServerCall.Listener<Q>> event : held) {
            event.accept(listener);
        }
        held = null;
        delegate = listener;
    }

    private synchronized void event(Consumer<ServerCall.Listener<Q>> event) {
        if (delegate != null) {
            event.accept(delegate);
        } else {
            held.add(event);
        }
    }

    @Override
    public synchronized void onMessage(Q message) {
        if (delegate == null) {
            throw new IllegalStateException("a message before the call started: nothing asked for it");
        }
        delegate.onMessage(message);
    }

    @Override
    public void onHalfClose() {
        event(ServerCall.Listener::onHalfClose);
    }

    @Override
    public void onCancel() {
        event(ServerCall.Listener::onCancel);
    }

    @Override
    public void onComplete() {
        event(ServerCall.Listener::onComplete);
    }

    @Override
    public void onReady() {
        event(ServerCall.Listener::onReady);
    }
}
