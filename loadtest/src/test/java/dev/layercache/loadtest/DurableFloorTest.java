package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The durable floor: its sink writes exactly the bytes it is given, in both modes and in any
 * pieces (a tail shorter than a disk block too), and {@code floor --dir} reports the loopback
 * floor and both durable floors, leaving no file behind.
 */
class DurableFloorTest {
    @TempDir
    Path dir;

    @Test
    void theSinkWritesTheBytesItIsGivenEitherWay() throws Exception {
        Random random = new Random(7);
        byte[] bytes = new byte[2 * DurableSink.STAGE + 123_457];
        random.nextBytes(bytes);
        for (DurableSink.Mode mode : DurableSink.Mode.values()) {
            Path file;
            try (DurableSink sink = new DurableSink(dir, mode)) {
                file = sink.file();
                for (int at = 0; at < bytes.length; ) {
                    int n = Math.min(bytes.length - at, 1 + random.nextInt(300_000));
                    sink.write(bytes, at, n);
                    at += n;
                }
                sink.finish();
                assertEquals(bytes.length, sink.written(), mode.toString());
                assertArrayEquals(bytes, Files.readAllBytes(file), mode.toString());
            }
            assertTrue(Files.notExists(file), "closing removes the file");
        }
    }

    @Test
    void theCommandReportsTheLoopbackAndBothDurableFloors() throws Exception {
        Path json = dir.resolve("floor.json");
        Path data = Files.createDirectory(dir.resolve("data"));
        int exit = new CommandLine(new Main()).execute("floor", "--dir", data.toString(), "--mib", "16",
                "--rounds", "2", "--json", json.toString());
        assertEquals(0, exit);
        JsonNode rows = new ObjectMapper().readTree(json.toFile()).path("rows");
        assertEquals(3, rows.size(), rows::toString);
        assertTrue(rows.get(0).path("benchmark").asText().startsWith("TCP loopback into SHA-256"));
        assertTrue(rows.get(1).path("benchmark").asText().startsWith("durable, direct writes"));
        assertTrue(rows.get(2).path("benchmark").asText().startsWith("durable, page-cache writes"));
        for (JsonNode row : rows) {
            double rate = row.path("MB_per_s").asDouble();
            assertTrue(rate > 0 && row.path("MB_per_s_min").asDouble() <= rate
                    && rate <= row.path("MB_per_s_max").asDouble(), row::toString);
            assertEquals(rate / row.path("single_core_sha256_MB_per_s").asDouble(),
                    row.path("share_of_sha256_rate").asDouble(), 1e-9);
        }
        try (Stream<Path> left = Files.list(data)) {
            assertEquals(0, left.count(), "no file is left in the measured directory");
        }
    }
}
