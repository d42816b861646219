package dev.layercache.client.internal;

import com.google.protobuf.MessageLite;

/**
 * A parsed message whose {@code bytes} fields point into a pooled array. {@link #close()} gives
 * the array back for the next message: after it, the message's data must not be read. Not
 * closing is safe (the array is collected), only slower.
 *
 * @param <T> the message type
 */
public final class PooledMessage<T extends MessageLite> implements AutoCloseable {
    private final T message;
    private final ArrayPool pool;
    private byte[] array;

    PooledMessage(T message, ArrayPool pool, byte[] array) {
        this.message = message;
        this.pool = pool;
        this.array = array;
    }

    /** The message; its data valid until {@link #close()}. */
    public T message() {
        return message;
    }

    /** Gives the message's array back to the pool; a second call does nothing. */
    @Override
    public void close() {
        if (array != null) {
            pool.give(array);
            array = null;
        }
    }
}
