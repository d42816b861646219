package dev.layercache.server.http;

/** How a request is handled and how its body is received. */
sealed interface Binding {

    /** The body is ignored (it should be empty); the endpoint runs once the request is complete. */
    record Plain(Endpoint endpoint) implements Binding {
    }

    /** The body is collected in memory up to {@code limit} bytes (413 beyond it). */
    record Buffered(Endpoint endpoint, int limit) implements Binding {
    }

    /** The body is streamed to the endpoint as it arrives. */
    record Streaming(StreamingEndpoint endpoint) implements Binding {
    }
}
