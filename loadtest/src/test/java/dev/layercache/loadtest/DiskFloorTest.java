package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The disk floor writes and fsyncs real files, reports what it timed, and leaves nothing behind. */
class DiskFloorTest {
    @TempDir
    Path dir;

    @Test
    void aRoundWritesFsyncsAndRemovesItsFile() throws Exception {
        DiskFloor.Round r = DiskFloor.oneRound(dir, 3L * DiskFloor.WRITE + (1 << 20));
        assertTrue(r.writeMBs() > 0 && r.durableMBs() > 0 && r.fsyncMs() >= 0, r::toString);
        assertTrue(r.durableMBs() <= r.writeMBs(), "the fsync is part of the durable rate: " + r);
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(0, left.count(), "the round's file is removed");
        }
    }

    @Test
    void theCommandReportsTheMedianAndItsShareOfSha256() throws Exception {
        Path json = dir.resolve("disk.json");
        Path data = Files.createDirectory(dir.resolve("data"));
        int exit = new CommandLine(new Main()).execute("disk-floor", "--dir", data.toString(), "--mib", "16",
                "--rounds", "3", "--json", json.toString());
        assertEquals(0, exit);
        JsonNode row = new ObjectMapper().readTree(json.toFile()).path("rows").get(0);
        double rate = row.path("MB_per_s").asDouble();
        assertTrue(row.path("MB_per_s_min").asDouble() <= rate && rate <= row.path("MB_per_s_max").asDouble(),
                row::toString);
        assertEquals(rate / row.path("single_core_sha256_MB_per_s").asDouble(),
                row.path("share_of_sha256_rate").asDouble(), 1e-9);
        try (Stream<Path> left = Files.list(data)) {
            assertEquals(0, left.count(), "no file is left in the measured directory");
        }
    }
}
