package dev.layercache.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.mirror.BlobFetch;
import dev.layercache.server.storage.BlobContent;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;

/**
 * What a handler answers: a status, headers and one of no body, a small in-memory body, a
 * region of a file sent with zero copies, or a blob read as the mirror fetches it. For {@code HEAD} the headers describe the body that a
 * {@code GET} would have, and no body is sent.
 */
public final class Response {
    private final HttpResponseStatus status;
    private final HttpHeaders headers = new DefaultHttpHeaders(false);
    private ByteBuf body;
    private FileChannel file;
    private long filePosition;
    private long fileLength;
    private BlobFetch.Reader live;
    private boolean close;

    private Response(HttpResponseStatus status) {
        this.status = status;
    }

    public static Response status(HttpResponseStatus status) {
        return new Response(status).header(HttpHeaderNames.CONTENT_LENGTH, "0");
    }

    public static Response json(HttpResponseStatus status, ObjectMapper mapper, JsonNode body, String contentType) {
        try {
            return bytes(status, mapper.writeValueAsBytes(body), contentType);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public static Response bytes(HttpResponseStatus status, byte[] content, String contentType) {
        Response r = new Response(status);
        r.body = Unpooled.wrappedBuffer(content);
        r.header(HttpHeaderNames.CONTENT_TYPE, contentType);
        r.header(HttpHeaderNames.CONTENT_LENGTH, Integer.toString(content.length));
        return r;
    }

    public static Response text(HttpResponseStatus status, String text) {
        return bytes(status, text.getBytes(StandardCharsets.UTF_8), "text/plain; charset=utf-8");
    }

    /** Streams {@code length} bytes of {@code file} from {@code position}; the response owns the channel. */
    public static Response file(HttpResponseStatus status, FileChannel file, long position, long length) {
        Response r = new Response(status);
        r.file = file;
        r.filePosition = position;
        r.fileLength = length;
        r.header(HttpHeaderNames.CONTENT_LENGTH, Long.toString(length));
        return r;
    }

    /**
     * Sends {@code length} bytes of a stored blob's {@code content} from {@code position}: a file
     * with zero copies (see {@link #file}), a small blob's inline bytes as a wrapped buffer. The
     * response owns the content.
     */
    public static Response content(HttpResponseStatus status, BlobContent content, long position, long length) {
        if (content instanceof BlobContent.Inline i) {
            Response r = new Response(status);
            r.body = Unpooled.wrappedBuffer(i.bytes(), (int) position, (int) length);
            r.header(HttpHeaderNames.CONTENT_LENGTH, Long.toString(length));
            return r;
        }
        return file(status, ((BlobContent.File) content).channel(), position, length);
    }

    /** Streams a blob still being fetched, as it arrives; the response owns the reader. */
    public static Response live(HttpResponseStatus status, BlobFetch.Reader reader) {
        Response r = new Response(status);
        r.live = reader;
        r.header(HttpHeaderNames.CONTENT_LENGTH, Long.toString(reader.length()));
        return r;
    }

    public Response header(CharSequence name, Object value) {
        headers.set(name, value);
        return this;
    }

    /** Adds a header line, keeping the lines of that name already there ({@code Warning} may repeat). */
    public Response addHeader(CharSequence name, Object value) {
        headers.add(name, value);
        return this;
    }

    /** Closes the connection after this response (the rest of the request body will not be read). */
    public Response closeConnection() {
        this.close = true;
        return this;
    }

    public HttpResponseStatus status() {
        return status;
    }

    public HttpHeaders headers() {
        return headers;
    }

    ByteBuf body() {
        return body;
    }

    FileChannel file() {
        return file;
    }

    long filePosition() {
        return filePosition;
    }

    long fileLength() {
        return fileLength;
    }

    BlobFetch.Reader live() {
        return live;
    }

    boolean closesConnection() {
        return close;
    }

    /** Frees what the response holds if it will not be sent. */
    void discard() {
        if (body != null) {
            body.release();
            body = null;
        }
        if (file != null) {
            try {
                file.close();
            } catch (java.io.IOException ignored) {
                // nothing else to do with a channel we are dropping
            }
            file = null;
        }
        if (live != null) {
            try {
                live.close();
            } catch (java.io.IOException ignored) {
                // as for the file
            }
            live = null;
        }
    }
}
