package dev.layercache.server.concurrent;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Where a {@link WriteBehind} puts bytes: appended in order at the position where the file's
 * bytes end. Calls come from one thread at a time.
 */
public interface FileSink {

    /** Appends {@code src} at {@code position}, which must be where the written bytes end. */
    void write(ByteBuffer src, long position) throws IOException;

    /** Makes every byte written so far part of the file (readable, and counted in its size). */
    void flush() throws IOException;

    /** The file was cut back to {@code size} bytes; the next write continues there. */
    void truncated(long size) throws IOException;

    /** Releases what the sink opened itself (not the caller's channel). */
    default void close() {
    }
}
