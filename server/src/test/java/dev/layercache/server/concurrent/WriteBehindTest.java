package dev.layercache.server.concurrent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The write-behind writer against a model, with direct I/O and without: writes of every size
 * (within a block, across stages), drains at any point, truncations to any offset (as a failed
 * upload request is rolled back) and reopening mid-block (as after a restart) must leave the
 * file byte for byte what was written, while the disk pool writes behind the caller.
 */
class WriteBehindTest {
    @TempDir
    Path dir;

    private final ForkJoinPool disk = new ForkJoinPool(2);

    @AfterEach
    void stopPool() throws InterruptedException {
        disk.shutdown();
        assertTrue(disk.awaitTermination(30, TimeUnit.SECONDS));
    }

    @ParameterizedTest(name = "direct I/O tried: {0}")
    @ValueSource(booleans = {true, false})
    void randomWritesDrainsAndTruncationsMatchTheModel(boolean direct) throws IOException {
        Path file = dir.resolve("upload");
        Random random = new Random(17);
        ByteArrayOutputStream model = new ByteArrayOutputStream();
        try (FileChannel buffered = open(file)) {
            WriteBehind writer = WriteBehind.open(file, buffered, 0, disk, direct);
            for (int step = 0; step < 400; step++) {
                int action = random.nextInt(10);
                if (action < 7) {
                    int n = random.nextInt(10) == 0 ? random.nextInt(9 << 20) : random.nextInt(20_000);
                    byte[] bytes = new byte[n];
                    random.nextBytes(bytes);
                    ByteBuffer src = random.nextBoolean() ? ByteBuffer.wrap(bytes)
                            : ByteBuffer.allocateDirect(n).put(bytes).flip();
                    if (random.nextInt(4) == 0) {
                        // A hint of where the bytes end: right, short of it, or past it.
                        writer.expectEnd(model.size() + n + (random.nextInt(3) - 1) * random.nextInt(3 << 20));
                    }
                    writer.write(src, model.size());
                    assertEquals(0, src.position(), "the caller's buffer is left as it was");
                    model.writeBytes(bytes);
                } else if (action < 9) {
                    writer.drain();
                    assertArrayEquals(model.toByteArray(), Files.readAllBytes(file), "after drain, step " + step);
                } else {
                    writer.settle();
                    int size = model.size() == 0 ? 0 : random.nextInt(model.size() + 1);
                    buffered.truncate(size);
                    writer.truncated(size);
                    byte[] kept = Arrays.copyOf(model.toByteArray(), size);
                    model.reset();
                    model.writeBytes(kept);
                }
            }
            writer.drain();
            writer.close();
            assertArrayEquals(model.toByteArray(), Files.readAllBytes(file));

            // Reopened mid-block, as after a restart, it continues where the file ends.
            WriteBehind again = WriteBehind.open(file, buffered, model.size(), disk, direct);
            byte[] more = new byte[100_000];
            random.nextBytes(more);
            again.write(ByteBuffer.wrap(more), model.size());
            again.drain();
            model.writeBytes(more);
            again.close();
            assertArrayEquals(model.toByteArray(), Files.readAllBytes(file));
        }
    }

    /** The caller reuses its buffer as soon as write returns: what it puts there later is not written. */
    @Test
    void theCallersBufferIsCopiedBeforeWriteReturns() throws IOException {
        Path file = dir.resolve("upload");
        Random random = new Random(3);
        byte[] expected = new byte[3 * WriteBehind.STAGE + 12_345];
        random.nextBytes(expected);
        try (FileChannel buffered = open(file)) {
            WriteBehind writer = WriteBehind.open(file, buffered, 0, disk);
            ByteBuffer reused = ByteBuffer.allocateDirect(256 << 10);
            for (int at = 0; at < expected.length; ) {
                int n = Math.min(reused.capacity(), expected.length - at);
                reused.clear().put(expected, at, n).flip();
                writer.write(reused, at);
                reused.clear().put(new byte[n]).flip(); // the next use of the buffer, before the disk got to it
                at += n;
            }
            writer.drain();
            writer.close();
        }
        assertArrayEquals(expected, Files.readAllBytes(file));
    }

    /**
     * The disk starts after the first {@link WriteBehind#EDGE_STAGE} bytes, not a whole stage; and
     * with the end announced, all but the last {@code EDGE_STAGE} bytes reach the file before the
     * caller drains: a drain (a PATCH's acknowledgement) waits for one short write.
     */
    @Test
    void theFirstStageAndTheLastBeforeAnAnnouncedEndAreShort() throws Exception {
        Path file = dir.resolve("upload");
        Random random = new Random(5);
        int end = 3 * WriteBehind.STAGE + 2 * WriteBehind.EDGE_STAGE + 12_345;
        byte[] bytes = new byte[end];
        random.nextBytes(bytes);
        try (FileChannel buffered = open(file)) {
            WriteBehind writer = WriteBehind.open(file, buffered, 0, disk);
            writer.write(ByteBuffer.wrap(bytes, 0, WriteBehind.EDGE_STAGE), 0);
            awaitOnFile(writer, WriteBehind.EDGE_STAGE);
            writer.expectEnd(end);
            for (int at = WriteBehind.EDGE_STAGE; at < end; ) {
                int n = Math.min(256 << 10, end - at);
                writer.write(ByteBuffer.wrap(bytes, at, n), at);
                at += n;
            }
            awaitOnFile(writer, end - WriteBehind.EDGE_STAGE - WriteBehind.BLOCK);
            assertTrue(writer.onFile() < end, "the last bytes wait for the drain");
            writer.drain();
            assertEquals(end, writer.onFile());
            writer.close();
        }
        assertArrayEquals(bytes, Files.readAllBytes(file));
    }

    private static void awaitOnFile(WriteBehind writer, long atLeast) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (writer.onFile() < atLeast) {
            assertTrue(System.nanoTime() < deadline, "onFile " + writer.onFile() + " never reached " + atLeast);
            Thread.sleep(5);
        }
    }

    /** What {@link WriteBehind#onFile} reports, without a drain, is in the file already: safe to record. */
    @Test
    void onFileNeverRunsAheadOfTheFile() throws IOException {
        Path file = dir.resolve("upload");
        Random random = new Random(9);
        byte[] bytes = new byte[5 * WriteBehind.STAGE + 777];
        random.nextBytes(bytes);
        try (FileChannel buffered = open(file)) {
            WriteBehind writer = WriteBehind.open(file, buffered, 0, disk);
            long seen = 0;
            for (int at = 0; at < bytes.length; ) {
                int n = Math.min(1 + random.nextInt(1 << 20), bytes.length - at);
                writer.write(ByteBuffer.wrap(bytes, at, n), at);
                at += n;
                long onFile = writer.onFile();
                assertTrue(onFile >= seen && onFile <= at, "onFile " + onFile + " after " + at + " bytes");
                byte[] head = Arrays.copyOf(Files.readAllBytes(file), (int) onFile);
                assertArrayEquals(Arrays.copyOf(bytes, (int) onFile), head, "the file's first " + onFile + " bytes");
                seen = onFile;
            }
            assertTrue(seen >= 5L * WriteBehind.STAGE - WriteBehind.STAGE, "full stages reach the file unasked");
            writer.drain();
            assertEquals(bytes.length, writer.onFile());
            writer.close();
        }
        assertArrayEquals(bytes, Files.readAllBytes(file));
    }

    @Test
    void aWriteAnywhereButTheEndIsRefused() throws IOException {
        Path file = dir.resolve("upload");
        try (FileChannel buffered = open(file)) {
            WriteBehind writer = WriteBehind.open(file, buffered, 0, disk);
            writer.write(ByteBuffer.wrap(new byte[10]), 0);
            assertThrows(IOException.class, () -> writer.write(ByteBuffer.wrap(new byte[10]), 5));
            writer.settle();
            writer.close();
            assertEquals(10, Files.size(file));
        }
    }

    /**
     * A disk that refuses the bytes: the failure reaches the caller at its next write or drain,
     * and a caller waiting for a stage the failed write held is not left waiting for ever.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aFailedDiskWriteReachesTheCaller() throws IOException {
        Path file = dir.resolve("upload");
        FileChannel buffered = open(file);
        WriteBehind writer = WriteBehind.open(file, buffered, 0, disk, false);
        buffered.close(); // every write of the disk pool now fails
        byte[] stage = new byte[WriteBehind.STAGE];
        IOException failed = assertThrows(IOException.class, () -> {
            for (int i = 0; i < 10; i++) {
                writer.write(ByteBuffer.wrap(stage), (long) i * stage.length);
            }
            writer.drain();
        });
        assertTrue(failed instanceof java.nio.channels.ClosedChannelException
                || failed.getCause() instanceof java.nio.channels.ClosedChannelException, failed::toString);
        assertThrows(IOException.class, writer::drain, "the failure stays until the file is cut back");
        writer.close();
    }

    /**
     * Stages are pooled between files: a writer that gets the stages another one filled and closed
     * (mid-block, mid-stage) must write only its own bytes.
     */
    @Test
    void aReusedStageCarriesNothingOver() throws IOException {
        Random random = new Random(5);
        for (int i = 0; i < 40; i++) {
            Path file = dir.resolve("reuse-" + i);
            byte[] bytes = new byte[random.nextInt(4) == 0 ? random.nextInt(9 << 20) : random.nextInt(9000)];
            random.nextBytes(bytes);
            try (FileChannel buffered = open(file)) {
                WriteBehind writer = WriteBehind.open(file, buffered, 0, disk);
                int at = 0;
                while (at < bytes.length) {
                    int n = Math.min(bytes.length - at, 1 + random.nextInt(700_000));
                    writer.write(ByteBuffer.wrap(bytes, at, n), at);
                    at += n;
                }
                writer.drain();
                writer.close();
            }
            assertArrayEquals(bytes, Files.readAllBytes(file), "file " + i + " of " + bytes.length + " bytes");
        }
    }

    private static FileChannel open(Path file) throws IOException {
        return FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.READ);
    }

    /**
     * Stages are direct memory, bounded for the whole process: with every stage held by writers
     * that trickle (one byte each, as a few hundred slow clients would), another writer gets none,
     * writes on the caller's thread instead, and its file is still exactly what was written; no
     * more than {@link WriteBehind#MAX_STAGES} stages ever exist.
     */
    @Test
    void whenEveryStageIsHeldAWriterGoesOnWithoutOne() throws IOException {
        java.util.List<WriteBehind> trickling = new java.util.ArrayList<>();
        java.util.List<FileChannel> channels = new java.util.ArrayList<>();
        try {
            for (int i = 0; WriteBehind.stagesInUse() < WriteBehind.MAX_STAGES && i < 2 * WriteBehind.MAX_STAGES; i++) {
                Path f = dir.resolve("trickle-" + i);
                FileChannel ch = open(f);
                channels.add(ch);
                WriteBehind w = WriteBehind.open(f, ch, 0, disk, true);
                w.write(ByteBuffer.wrap(new byte[] {1}), 0);
                trickling.add(w);
            }
            assertEquals(WriteBehind.MAX_STAGES, WriteBehind.stagesInUse(), "every stage is held");

            Path file = dir.resolve("upload");
            byte[] bytes = new byte[(9 << 20) + 123];
            new Random(5).nextBytes(bytes);
            try (FileChannel buffered = open(file)) {
                WriteBehind writer = WriteBehind.open(file, buffered, 0, disk, true);
                for (int at = 0; at < bytes.length; at += 100_000) {
                    writer.write(ByteBuffer.wrap(bytes, at, Math.min(100_000, bytes.length - at)), at);
                }
                writer.drain();
                assertTrue(writer.unstaged(), "no stage was to be had");
                assertEquals(bytes.length, writer.onFile());
                writer.truncated(5000); // a failed request rolled back, then the upload goes on
                buffered.truncate(5000);
                writer.write(ByteBuffer.wrap(bytes, 5000, bytes.length - 5000), 5000);
                writer.drain();
                writer.close();
            }
            assertArrayEquals(bytes, Files.readAllBytes(file));
            assertTrue(WriteBehind.allocatedStages() <= WriteBehind.MAX_STAGES, "stages: " + WriteBehind.allocatedStages());
        } finally {
            for (WriteBehind w : trickling) {
                w.settle();
                w.close();
            }
            for (FileChannel ch : channels) {
                ch.close();
            }
        }
        assertEquals(0, WriteBehind.stagesInUse(), "closed writers give their stages back");
    }

}
