package dev.layercache.server.storage;

import java.io.ByteArrayInputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.util.Objects;

/**
 * A stored blob's bytes as a reader gets them from a {@link BlobBackend}: a {@link File} to stream
 * from (the HTTP surface hands it to the kernel with zero copies), or, for a small blob kept in
 * the metadata store ({@link InlineBlobBackend}), the {@link Inline} bytes themselves. Readers
 * that only read use {@link #read}, {@link #stream} or {@link #readAll} and need not care which;
 * a transport that can do better with one kind switches on the two records.
 *
 * <p>The receiver closes the content: a file's descriptor is released, inline bytes need nothing.
 * A file's content stays readable after the blob is deleted, as inline bytes do by being a copy.
 */
public sealed interface BlobContent extends Closeable {

    /** The content's length in bytes. */
    long size() throws IOException;

    /** Reads into {@code dst} from {@code position}, as {@link FileChannel#read(ByteBuffer, long)}: -1 at the end. */
    int read(ByteBuffer dst, long position) throws IOException;

    /** The whole content as a stream, from its first byte. */
    InputStream stream();

    /** The whole content in one array: only for contents known to be small. */
    default byte[] readAll() throws IOException {
        long size = size();
        if (size > Integer.MAX_VALUE - 8) {
            throw new IOException("a blob of " + size + " bytes does not fit in an array");
        }
        ByteBuffer buf = ByteBuffer.allocate((int) size);
        while (buf.hasRemaining()) {
            if (read(buf, buf.position()) < 0) {
                throw new IOException("blob shorter than its size");
            }
        }
        return buf.array();
    }

    /** A blob file, open for reading; positional reads, so that the channel may be shared. */
    record File(FileChannel channel) implements BlobContent {
        public File {
            Objects.requireNonNull(channel, "channel");
        }

        @Override
        public long size() throws IOException {
            return channel.size();
        }

        @Override
        public int read(ByteBuffer dst, long position) throws IOException {
            return channel.read(dst, position);
        }

        @Override
        public InputStream stream() {
            return Channels.newInputStream(channel);
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }

    /** A small blob's bytes, read from the metadata store: the array is this content's alone (never written). */
    record Inline(byte[] bytes) implements BlobContent {
        public Inline {
            Objects.requireNonNull(bytes, "bytes");
        }

        @Override
        public long size() {
            return bytes.length;
        }

        @Override
        public int read(ByteBuffer dst, long position) {
            if (position >= bytes.length) {
                return -1;
            }
            int n = (int) Math.min(dst.remaining(), bytes.length - position);
            dst.put(bytes, (int) position, n);
            return n;
        }

        @Override
        public InputStream stream() {
            return new ByteArrayInputStream(bytes);
        }

        @Override
        public byte[] readAll() {
            return bytes;
        }

        @Override
        public void close() {
            // nothing held
        }
    }
}
