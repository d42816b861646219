package dev.layercache.server.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.metadata.Table;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fleet simulation on a tiny scale (two simulated days, a few hundred tags): it reports a day
 * at a time, and with tight bounds the node keeps its tombstones and untagged manifests within them.
 */
class FleetWeekTest {
    private static final int MAX_RECORDS = 20;
    private static final double HISTORY_HOURS = 12;
    private static final double UNTAGGED_HOURS = 3;

    @TempDir
    Path dir;

    @Test
    void twoDaysOfAFleetStayWithinTheBounds() throws Exception {
        FleetOptions.Builder options = FleetOptions.builder(dir.resolve("data"));
        options.days = 2;
        options.projects = 4;
        options.buildkitProjects = 1;
        options.steps = 4;
        options.buildsPerHour = 3;
        options.threads = 4;
        options.deleteShare = 0.2;
        options.serverFlags(List.of("--max-disk-size", "256KiB", "--min-free-disk", "0",
                "--history-max-age", "12h", "--history-max-records", String.valueOf(MAX_RECORDS),
                "--untagged-max-age", "3h"));
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        List<FleetDay> days = FleetWeek.run(options.build(),
                new PrintStream(printed, true, StandardCharsets.UTF_8));

        assertEquals(2, days.size());
        String out = printed.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("\nday 1: ") && out.contains("\nday 2: "), out);
        String table = FleetDay.markdown(days);
        assertTrue(table.startsWith("| day | step tags |") && table.contains("\n| 2 | "), table);
        long stepTagsBefore = 0;
        for (FleetDay d : days) {
            assertEquals(0, d.errors(), "unexpected answers on day " + d.day());
            assertTrue(d.stepTags() > stepTagsBefore, "step tags pushed on day " + d.day());
            stepTagsBefore = d.stepTags();
            assertEquals(Table.values().length, d.records().size(), "every table counted");
            assertTrue(d.records(Table.TAGS) > 0 && d.records(Table.BLOBS) > 0 && d.metadataBytes() > 0, d.toString());
            // Blobs of 64 KiB or less live in the metadata (blob_bytes), larger ones in blobs/:
            // this fleet's are all small, so the folder may be empty, but every blob is somewhere.
            assertTrue(d.blobBytes() > 0 || d.records(Table.BLOB_BYTES) == d.records(Table.BLOBS), d.toString());
            assertTrue(d.startupMillis() > 0, "the restart was timed");

            assertTrue(d.maxTombstonesPerRepository() <= MAX_RECORDS, "tombstones per repository: " + d);
            // The lifecycle runs every simulated hour: nothing outlives its bound by more than that.
            assertTrue(d.oldestTombstoneHours() <= HISTORY_HOURS + 1, "oldest tombstone: " + d);
            assertTrue(d.oldestUntaggedHours() <= UNTAGGED_HOURS + 1, "oldest untagged manifest: " + d);
        }
        FleetDay last = days.get(1);
        assertTrue(last.exports() > 10 && last.deletions() > 0 && last.evictedTags() > 0, last.toString());
        assertTrue(last.evictedTags() + last.deletions() > MAX_RECORDS * 4L,
                "more names were lost than the bounds keep, so the count bound acted: " + last);
        assertTrue(last.evictedManifests() > 0, "superseded exports expired: " + last);
    }
}
