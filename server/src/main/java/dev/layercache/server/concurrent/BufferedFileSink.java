package dev.layercache.server.concurrent;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/** A {@link FileSink} of plain positional writes through the page cache. */
public final class BufferedFileSink implements FileSink {
    private final FileChannel channel;

    public BufferedFileSink(FileChannel channel) {
        this.channel = channel;
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        long at = position;
        while (src.hasRemaining()) {
            at += channel.write(src, at);
        }
    }

    @Override
    public void flush() {
        // every write is already in the file
    }

    @Override
    public void truncated(long size) {
        // nothing held back
    }
}
