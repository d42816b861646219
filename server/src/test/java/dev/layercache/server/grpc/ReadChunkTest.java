package dev.layercache.server.grpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.layercache.api.v1.ReadBlobResponse;
import io.grpc.Drainable;
import io.grpc.KnownLength;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ReadChunk} against the generated message: the same bytes on the wire for any region and
 * size field, whether grpc-java drains the stream or reads it; a chunk not yet read when its
 * thread reads the next one keeps its own bytes; a file shorter than recorded is an error before
 * anything is sent.
 */
class ReadChunkTest {
    @TempDir
    Path dir;

    private Path blob(int size) throws IOException {
        byte[] bytes = new byte[size];
        new Random(size).nextBytes(bytes);
        Path file = dir.resolve("blob-" + size);
        Files.write(file, bytes);
        return file;
    }

    private static byte[] expected(Path file, long position, int n, long size) throws IOException {
        byte[] all = Files.readAllBytes(file);
        return ReadBlobResponse.newBuilder()
                .setData(ByteString.copyFrom(Arrays.copyOfRange(all, (int) position, (int) position + n)))
                .setSize(size).build().toByteArray();
    }

    private static byte[] drain(ReadChunk chunk) throws IOException {
        InputStream stream = ReadChunk.MARSHALLER.stream(chunk);
        assertTrue(stream instanceof Drainable && stream instanceof KnownLength, "grpc-java frames it without a copy");
        int known = stream.available();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int written = ((Drainable) stream).drainTo(out);
        assertEquals(known, written, "the length told to the framer is the length written");
        assertEquals(0, stream.available());
        return out.toByteArray();
    }

    private static byte[] readByPieces(ReadChunk chunk, int piece) throws IOException {
        InputStream stream = ReadChunk.MARSHALLER.stream(chunk);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[piece];
        for (int n; (n = stream.read(buf, 0, piece)) >= 0; ) {
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    @Test
    void sameBytesAsTheGeneratedMessage() throws IOException {
        int big = BlobsGrpcService.CHUNK + 12_345;
        Path file = blob(big);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            int[][] regions = {{0, 0}, {0, 1}, {0, 127}, {0, 128}, {5, 16_383}, {7, ReadChunk.PIECE},
                    {3, ReadChunk.PIECE + 1}, {0, BlobsGrpcService.CHUNK}, {12_345, BlobsGrpcService.CHUNK}};
            for (int[] r : regions) {
                for (long size : new long[] {0, big, 1L << 40}) {
                    byte[] want = expected(file, r[0], r[1], size);
                    assertArrayEquals(want, drain(ReadChunk.read(ch, r[0], r[1], size)), Arrays.toString(r));
                    assertArrayEquals(want, readByPieces(ReadChunk.read(ch, r[0], r[1], size), 1000));
                    assertArrayEquals(want, readByPieces(ReadChunk.read(ch, r[0], r[1], size), 1));
                    ReadChunk parsed = ReadChunk.MARSHALLER.parse(ReadChunk.MARSHALLER.stream(
                            ReadChunk.read(ch, r[0], r[1], size)));
                    assertEquals(ReadBlobResponse.parseFrom(want), parsed.toResponse());
                }
            }
        }
    }

    @Test
    void aChunkNotYetReadKeepsItsBytesWhenItsThreadReadsTheNext() throws IOException {
        Path file = blob(3 * 100_000);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ReadChunk first = ReadChunk.read(ch, 0, 100_000, 300_000);
            InputStream firstStream = ReadChunk.MARSHALLER.stream(first);
            byte[] head = new byte[10];
            assertEquals(10, firstStream.read(head)); // partly read, as a late reader might
            ReadChunk second = ReadChunk.read(ch, 100_000, 100_000, 0); // reuses this thread's buffer
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.write(head);
            firstStream.transferTo(out);
            assertArrayEquals(expected(file, 0, 100_000, 300_000), out.toByteArray());
            assertArrayEquals(expected(file, 100_000, 100_000, 0), drain(second));

            // A chunk already streamed is not copied; reading it again after its buffer is reused is refused.
            ReadChunk third = ReadChunk.read(ch, 200_000, 100_000, 0);
            assertArrayEquals(expected(file, 200_000, 100_000, 0), drain(third));
            ReadChunk.read(ch, 0, 10, 0);
            assertThrows(IllegalStateException.class, () -> drain(third));
        }
    }

    @Test
    void aFileShorterThanRecordedFailsTheRead() throws IOException {
        Path file = blob(1000);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            IOException e = assertThrows(IOException.class, () -> ReadChunk.read(ch, 500, 600, 1100));
            assertEquals("blob file shorter than recorded", e.getMessage());
        }
    }
}
