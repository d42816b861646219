package dev.layercache.server.tools;

import dev.layercache.server.metadata.Table;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The figures of one simulated day of {@link FleetWeek}, counted after the node stopped (the totals
 * are since the start), and how the tool reports them: a {@link #line() line} per day as it goes,
 * a {@link #markdown markdown table} of them all at the end (the format BENCHMARKS.md quotes).
 * A day without a restart ({@code restart-daily false}) has only the byte counts, measured while the
 * node runs: no records (an empty map), and -1 for the rest of the census and the start-up.
 *
 * @param evictedTags          tags the lifecycle removed (budget or age)
 * @param evictedManifests     untagged manifests the lifecycle removed (budget or untagged-max-age)
 * @param untagged             manifests no tag and no index names
 * @param oldestUntaggedHours  the oldest last use among them, in hours before the count (0: none)
 * @param oldestTombstoneHours the oldest tombstone, in hours before the count (0: none)
 * @param metadataBytes        the metadata folder as the stopped node left it, write-ahead log included
 * @param walBytes             the part of it that is RocksDB's write-ahead log (replayed by the next start)
 * @param startupMillis        how long {@code LayerCacheServer.start} took on the store afterwards
 * @param startupCheckMillis   the part of it the start-up consistency check took
 * @param metadataOpenMillis   how long opening a copy of the stopped node's metadata folder took: RocksDB
 *                             replaying its write-ahead log, the metadata store's part of a start
 * @param lifecycleSeconds     real time the day's hourly lifecycle runs took
 * @param repushes             manifest pushes refused because a blob the build had seen was collected
 *                             meanwhile (its root evicted), and made again after pushing the blobs
 */
public record FleetDay(int day, long builds, long stepTags, long hits, long exports, long deletions, long evictedTags,
                       long evictedManifests, Map<Table, Long> records, long untagged, double oldestUntaggedHours,
                       long maxTombstonesPerRepository, double oldestTombstoneHours, long metadataBytes,
                       long walBytes, long blobBytes, long startupMillis, long startupCheckMillis,
                       long metadataOpenMillis, double realSeconds, double lifecycleSeconds, long repushes,
                       long errors) {
    /** The tables reported in columns: the ones traffic of this kind writes. */
    private static final List<Table> COLUMNS = List.of(Table.BLOBS, Table.LINKS, Table.MANIFESTS, Table.TAGS,
            Table.TOMBSTONES, Table.ACCESS, Table.RELEASES);

    public long records(Table t) {
        return records.getOrDefault(t, 0L);
    }

    /** The day in one line ({@code loadtest/metadata-week.sh} picks the lines starting with "day "). */
    String line() {
        String counts = String.format(Locale.ROOT, "day %d: %,d builds, %,d step hits, %,d step tags, %,d exports,"
                        + " %,d deletions, evicted %,d tags and %,d untagged manifests; ", day, builds,
                hits, stepTags, exports, deletions, evictedTags, evictedManifests);
        String bytes = String.format(Locale.ROOT, "metadata %.1f MB (write-ahead log %.1f MB), blobs %.1f MB",
                metadataBytes / 1e6, walBytes / 1e6, blobBytes / 1e6);
        String time = String.format(Locale.ROOT, "%.0f s real (hourly lifecycle runs %.1f s), %d manifest pushes"
                        + " repeated after their blobs were collected, %d errors", realSeconds, lifecycleSeconds,
                repushes, errors);
        if (records.isEmpty()) {
            return counts + bytes + ", measured running; " + time;
        }
        StringBuilder tables = new StringBuilder();
        records.forEach((t, n) -> tables.append(tables.length() > 0 ? " " : "").append(t.columnFamily())
                .append('=').append(n));
        return counts + "records: " + tables + String.format(Locale.ROOT, "; untagged %,d (oldest %.1f h),"
                        + " tombstones <= %,d per repository (oldest %.1f h); ", untagged, oldestUntaggedHours,
                maxTombstonesPerRepository, oldestTombstoneHours)
                + bytes + String.format(Locale.ROOT, "; start-up %,d ms (check %,d ms; opening the metadata alone"
                + " %,d ms); ", startupMillis, startupCheckMillis, metadataOpenMillis) + time;
    }

    /** The days as a markdown table; tables that stayed empty all week are named below it. */
    public static String markdown(List<FleetDay> days) {
        StringBuilder sb = new StringBuilder("| day | step tags | exports | deletions | evicted tags / manifests |");
        for (Table t : COLUMNS) {
            sb.append(' ').append(t.name()).append(" |");
        }
        sb.append(" untagged | metadata MB (WAL) | blobs MB | start-up ms |\n|---|---|---|---|---|");
        sb.append("---|".repeat(COLUMNS.size())).append("---|---|---|---|\n");
        for (FleetDay d : days) {
            boolean counted = !d.records().isEmpty();
            sb.append(String.format(Locale.ROOT, "| %d | %,d | %,d | %,d | %,d / %,d |", d.day(), d.stepTags(),
                    d.exports(), d.deletions(), d.evictedTags(), d.evictedManifests()));
            for (Table t : COLUMNS) {
                sb.append(counted ? String.format(Locale.ROOT, " %,d |", d.records(t)) : " – |");
            }
            sb.append(counted ? String.format(Locale.ROOT, " %,d |", d.untagged()) : " – |");
            sb.append(String.format(Locale.ROOT, " %.1f (%.1f) | %.1f |", d.metadataBytes() / 1e6,
                    d.walBytes() / 1e6, d.blobBytes() / 1e6));
            sb.append(d.startupMillis() < 0 ? " – |\n" : String.format(Locale.ROOT, " %,d |%n", d.startupMillis()));
        }
        List<String> others = new ArrayList<>();
        for (Table t : Table.values()) {
            if (!COLUMNS.contains(t)) {
                long max = days.stream().mapToLong(d -> d.records(t)).max().orElse(0);
                others.add(t.name() + " " + (max == 0 ? "0" : "at most " + String.format(Locale.ROOT, "%,d", max)));
            }
        }
        return sb.append("\nOther tables: ").append(String.join(", ", others)).append('.').toString();
    }
}
