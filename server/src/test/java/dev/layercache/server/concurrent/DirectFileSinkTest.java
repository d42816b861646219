package dev.layercache.server.concurrent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The direct sink against a model: chunks of every size, flushes at any point, truncations to
 * any offset (as a failed upload request is rolled back) and reopening mid-block (as after a
 * restart) must leave the file byte for byte what was written.
 */
class DirectFileSinkTest {
    @TempDir
    Path dir;

    @Test
    void randomWritesFlushesAndTruncationsMatchTheModel() throws IOException {
        Path file = dir.resolve("upload");
        Random random = new Random(17);
        ByteArrayOutputStream model = new ByteArrayOutputStream();
        try (FileChannel buffered = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                StandardOpenOption.READ)) {
            DirectFileSink sink = DirectFileSink.open(file, buffered, 0);
            assertNotNull(sink, "this test needs a file system with O_DIRECT (ext4, xfs...)");
            for (int step = 0; step < 400; step++) {
                int action = random.nextInt(10);
                if (action < 7) {
                    int n = random.nextInt(10) == 0 ? random.nextInt(3 << 20) : random.nextInt(20_000);
                    byte[] bytes = new byte[n];
                    random.nextBytes(bytes);
                    ByteBuffer src = random.nextBoolean() ? ByteBuffer.wrap(bytes)
                            : ByteBuffer.allocateDirect(n).put(bytes).flip();
                    sink.write(src, model.size());
                    model.writeBytes(bytes);
                } else if (action < 9) {
                    sink.flush();
                    assertArrayEquals(model.toByteArray(), Files.readAllBytes(file), "after flush, step " + step);
                } else {
                    sink.flush();
                    int size = model.size() == 0 ? 0 : random.nextInt(model.size() + 1);
                    buffered.truncate(size);
                    sink.truncated(size);
                    byte[] kept = Arrays.copyOf(model.toByteArray(), size);
                    model.reset();
                    model.writeBytes(kept);
                }
            }
            sink.flush();
            sink.close();
            assertArrayEquals(model.toByteArray(), Files.readAllBytes(file));

            // Reopened mid-block, as after a restart, it continues where the file ends.
            DirectFileSink again = DirectFileSink.open(file, buffered, model.size());
            byte[] more = new byte[100_000];
            random.nextBytes(more);
            again.write(ByteBuffer.wrap(more), model.size());
            again.flush();
            model.writeBytes(more);
            again.close();
            assertArrayEquals(model.toByteArray(), Files.readAllBytes(file));
        }
    }

    @Test
    void aWriteAnywhereButTheEndIsRefused() throws IOException {
        Path file = dir.resolve("upload");
        try (FileChannel buffered = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                StandardOpenOption.READ)) {
            DirectFileSink sink = DirectFileSink.open(file, buffered, 0);
            assertNotNull(sink);
            sink.write(ByteBuffer.wrap(new byte[10]), 0);
            assertThrows(IOException.class, () -> sink.write(ByteBuffer.wrap(new byte[10]), 5));
            sink.close();
            assertEquals(0, Files.size(file), "nothing flushed yet");
        }
    }

    /**
     * Stages are pooled between sinks: a sink that gets the stage another one filled and closed
     * (mid-block, mid-stage) must write only its own bytes, and one that never writes takes none.
     */
    @Test
    void aReusedStageCarriesNothingOver() throws IOException {
        Random random = new Random(5);
        for (int i = 0; i < 40; i++) {
            Path file = dir.resolve("reuse-" + i);
            byte[] bytes = new byte[random.nextInt(4) == 0 ? random.nextInt(3 << 20) : random.nextInt(9000)];
            random.nextBytes(bytes);
            try (FileChannel buffered = FileChannel.open(file, StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE, StandardOpenOption.READ)) {
                DirectFileSink sink = DirectFileSink.open(file, buffered, 0);
                assertNotNull(sink);
                int at = 0;
                while (at < bytes.length) {
                    int n = Math.min(bytes.length - at, 1 + random.nextInt(700_000));
                    sink.write(ByteBuffer.wrap(bytes, at, n), at);
                    at += n;
                }
                sink.flush();
                sink.close();
            }
            assertArrayEquals(bytes, Files.readAllBytes(file), "file " + i + " of " + bytes.length + " bytes");
        }
    }
}
