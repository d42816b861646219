package dev.layercache.server.http;

import dev.layercache.server.mirror.BlobFetch;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.stream.ChunkedInput;
import io.netty.handler.stream.ChunkedWriteHandler;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A blob's body read from the mirror's fetch as it grows. When nothing new is there yet,
 * {@link #readChunk} answers null and {@link ChunkedWriteHandler} pauses; the fetch's progress
 * resumes it ({@code resume}), at most once per pause, on the connection's event loop. A fetch
 * that fails makes the next read throw, which ends the response short of its length.
 */
final class LiveBlobInput implements ChunkedInput<ByteBuf> {
    private final BlobFetch.Reader reader;
    private final int chunk;
    /** Set while paused for bytes to arrive: the one progress that sees it set resumes the transfer. */
    private final AtomicBoolean waiting = new AtomicBoolean();
    private long offset;

    LiveBlobInput(BlobFetch.Reader reader, int chunk, Runnable resume) {
        this.reader = reader;
        this.chunk = chunk;
        reader.onProgress(() -> {
            if (waiting.compareAndSet(true, false)) {
                resume.run();
            }
        });
    }

    @Override
    public boolean isEndOfInput() {
        return offset >= reader.length();
    }

    @Override
    @Deprecated
    public ByteBuf readChunk(ChannelHandlerContext ctx) throws IOException {
        return readChunk(ctx.alloc());
    }

    @Override
    public ByteBuf readChunk(ByteBufAllocator allocator) throws IOException {
        if (isEndOfInput()) {
            return null;
        }
        // Marked before looking, so that bytes arriving after the look still wake this input.
        waiting.set(true);
        long readable = reader.readable();
        if (readable <= offset) {
            return null;
        }
        waiting.set(false);
        int n = (int) Math.min(chunk, readable - offset);
        ByteBuf buf = allocator.buffer(n);
        boolean sent = false;
        try {
            ByteBuffer into = buf.nioBuffer(0, n);
            while (into.hasRemaining()) {
                if (reader.read(into, offset + into.position()) < 0) {
                    throw new EOFException("the fetch's file ended before the " + readable + " bytes written");
                }
            }
            buf.writerIndex(n);
            offset += n;
            sent = true;
            return buf;
        } finally {
            if (!sent) {
                buf.release();
            }
        }
    }

    @Override
    public void close() throws IOException {
        reader.close();
    }

    @Override
    public long length() {
        return reader.length();
    }

    @Override
    public long progress() {
        return offset;
    }
}
