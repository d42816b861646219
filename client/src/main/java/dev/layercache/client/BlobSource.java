package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Where an upload reads its bytes: a source that can be opened again at any offset, so that an
 * upload whose stream broke resumes where the server stopped rather than from the start. The
 * client closes every stream it opens.
 */
@FunctionalInterface
public interface BlobSource {

    /** A new stream of the blob's bytes from {@code offset} to the end. */
    InputStream open(long offset) throws IOException;

    /** A file, opened with a seek to the offset. */
    static BlobSource ofFile(Path file) {
        requireNonNull(file, "file");
        return offset -> {
            FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
            try {
                ch.position(offset);
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
            return Channels.newInputStream(ch);
        };
    }

    /** Bytes in memory (for small blobs and tests); the array is not copied. */
    static BlobSource ofBytes(byte[] bytes) {
        requireNonNull(bytes, "bytes");
        return offset -> new ByteArrayInputStream(bytes, (int) Math.min(offset, bytes.length),
                (int) Math.max(0, bytes.length - offset));
    }

    /**
     * Streams from {@code opener}, each opened from the start and skipped to the offset: for
     * sources that cannot seek.
     */
    static BlobSource ofStreams(StreamOpener opener) {
        requireNonNull(opener, "opener");
        return offset -> {
            InputStream in = opener.open();
            try {
                long left = offset;
                while (left > 0) {
                    long skipped = in.skip(left);
                    if (skipped <= 0) {
                        if (in.read() < 0) {
                            throw new EOFException("the stream ended before offset " + offset);
                        }
                        skipped = 1;
                    }
                    left -= skipped;
                }
                return in;
            } catch (IOException | RuntimeException e) {
                in.close();
                throw e;
            }
        };
    }

    /** Opens a new stream of a blob's bytes from its start. */
    @FunctionalInterface
    interface StreamOpener {
        /** A new stream from the first byte. */
        InputStream open() throws IOException;
    }
}
