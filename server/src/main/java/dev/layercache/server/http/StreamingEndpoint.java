package dev.layercache.server.http;

import io.netty.buffer.ByteBuf;

/**
 * Handles a request whose body is streamed (blob uploads): {@link #open} runs when the headers
 * arrive, so a bad request is refused before its body is read; the body then arrives chunk by
 * chunk, in order, never held whole in memory.
 */
@FunctionalInterface
public interface StreamingEndpoint {

    BodyStream open(Request request) throws Exception;

    /** The receiver of one request body. Exactly one of {@link #finish} or {@link #abort} is called last. */
    interface BodyStream {
        /** Consumes a chunk; the caller releases the buffer afterwards. */
        void write(ByteBuf chunk) throws Exception;

        /** The body is complete: produce the response. */
        Response finish() throws Exception;

        /** The request failed or the client went away: undo what this request did. */
        void abort();
    }
}
