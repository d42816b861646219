package dev.layercache.client;

/**
 * Receives what a {@link LayerCacheClient} does that a caller may want to show or log: retries
 * and transfer progress. The library never logs on its own; give it a listener that writes to
 * your logging framework or a progress bar. Every method has an empty default.
 *
 * <p>Methods are called on the threads doing the work, several at a time during parallel
 * transfers: implementations must be thread-safe and quick.
 */
public interface ClientListener {

    /** A listener that ignores everything. */
    ClientListener NONE = new ClientListener() {
    };

    /** A call or transfer failed and will be tried again after {@link RetryEvent#delay()}. */
    default void onRetry(RetryEvent event) {
    }

    /** A transfer started, progressed, resumed, was found already present or completed. */
    default void onTransfer(TransferEvent event) {
    }
}
