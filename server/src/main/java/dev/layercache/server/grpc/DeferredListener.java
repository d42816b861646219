package dev.layercache.server.grpc;

import io.grpc.ServerCall;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * A call's listener before the call may start (its credentials are being checked elsewhere): holds
 * the events that come meanwhile and hands them over in order once the real listener is known.
 * No message can come before the real listener asks for one; a half-close, a cancellation or a
 * ready signal can. Events reach the real listener one at a time, under this object's lock, also
 * while the held ones are handed over from another thread.
 */
final class DeferredListener<Q> extends ServerCall.Listener<Q> {
    private ServerCall.Listener<Q> delegate;
    private List<Consumer<ServerCall.Listener<Q>>> held = new ArrayList<>();

    /** From now on events go to {@code listener}; the held ones first. */
    synchronized void start(ServerCall.Listener<Q> listener) {
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
    public void onMessage(Q message) {
        event(l -> l.onMessage(message));
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
