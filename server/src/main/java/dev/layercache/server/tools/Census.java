package dev.layercache.server.tools;

import static dev.layercache.server.tools.SimulatedClock.HOUR;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.Root;
import dev.layercache.server.metadata.AccessIndex;
import dev.layercache.server.metadata.ManifestIndex;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.metadata.TagIndex;
import dev.layercache.server.metadata.TombstoneIndex;
import dev.layercache.server.storage.DataLayout;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * What a node's data folder holds, as {@link FleetWeek} counts it at the end of a day: the records
 * of every metadata table, the untagged manifests and the tombstones, and the bytes on disk.
 *
 * @param records                    records per table (empty: not counted, the node was running)
 * @param untagged                   manifests no tag and no index names (-1: not counted)
 * @param oldestUntaggedHours        the oldest last use among them, in hours before the count
 * @param maxTombstonesPerRepository the most tombstones any one repository has
 * @param oldestTombstoneHours       the oldest tombstone, in hours before the count
 * @param metadataBytes              the metadata folder, write-ahead log included
 * @param walBytes                   the part of it that is RocksDB's write-ahead log
 * @param blobBytes                  the blobs folder (blobs of 64 KiB or less are in the metadata folder)
 * @param openMillis                 how long opening a copy of the metadata folder took (-1: not opened)
 */
record Census(Map<Table, Long> records, long untagged, double oldestUntaggedHours,
              long maxTombstonesPerRepository, double oldestTombstoneHours, long metadataBytes, long walBytes,
              long blobBytes, long openMillis) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The folders' sizes only, of a node that is running. */
    static Census bytesOnly(Path dataDir) throws IOException {
        DataLayout layout = new DataLayout(dataDir);
        return new Census(Map.of(), -1, -1, -1, -1, bytesUnder(layout.metadata(), ""),
                bytesUnder(layout.metadata(), ".log"), bytesUnder(layout.blobs(), ""), -1);
    }

    /**
     * Counts the records of every table, the untagged manifests and the tombstones of a stopped
     * node's folder. The count opens a copy: opening RocksDB replays its write-ahead log into new
     * table files, which would spare the next start of the node the very work it is timed for.
     */
    static Census census(Path dataDir, long nowMillis) throws IOException {
        DataLayout layout = new DataLayout(dataDir);
        long metadataBytes = bytesUnder(layout.metadata(), "");
        long walBytes = bytesUnder(layout.metadata(), ".log");
        Path copy = Files.createTempDirectory(dataDir.toAbsolutePath().getParent(), "census");
        try {
            copyMetadata(layout.metadata(), copy);
            return count(copy, nowMillis, metadataBytes, walBytes, bytesUnder(layout.blobs(), ""));
        } finally {
            deleteTree(copy);
        }
    }

    /** Table files are never changed once written: links to them do; the rest is copied. */
    private static void copyMetadata(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Path target = to.resolve(f.getFileName());
                if (f.getFileName().toString().endsWith(".sst")) {
                    Files.createLink(target, f);
                } else if (Files.isRegularFile(f)) {
                    Files.copy(f, target);
                }
            }
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : (Iterable<Path>) files.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(f);
            }
        }
    }

    private static Census count(Path metadata, long nowMillis, long metadataBytes, long walBytes, long blobBytes) {
        Map<Table, Long> records = new EnumMap<>(Table.class);
        long opening = System.nanoTime();
        long untagged = 0;
        long oldestUntagged = nowMillis;
        long oldestTombstone = nowMillis;
        Map<String, Long> tombstonesPerRepository = new HashMap<>();
        long openMillis;
        try (RocksKeyValueStore kv = new RocksKeyValueStore(metadata)) {
            openMillis = (System.nanoTime() - opening) / 1_000_000;
            for (Table t : Table.values()) {
                records.put(t, kv.count(t));
            }
            Set<String> named = new HashSet<>();
            new TagIndex(kv).forEachTag((repo, tag, digest) -> named.add(repo + "\0" + digest));
            List<String> manifests = new ArrayList<>();
            new ManifestIndex(kv).forEach((repo, m) -> {
                manifests.add(repo + "\0" + m.digest());
                if (MediaTypes.isIndex(m.mediaType())) {
                    try {
                        for (JsonNode child : JSON.readTree(m.content()).path("manifests")) {
                            named.add(repo + "\0" + child.path("digest").asText());
                        }
                    } catch (IOException unreadable) {
                        throw new UncheckedIOException(unreadable);
                    }
                }
            });
            AccessIndex uses = new AccessIndex(kv);
            for (String key : manifests) {
                if (named.contains(key)) {
                    continue;
                }
                untagged++;
                String[] parts = key.split("\0", 2);
                long use = uses.get(new Root(Root.Kind.MANIFEST, parts[0], parts[1]));
                if (use >= 0) {
                    oldestUntagged = Math.min(oldestUntagged, use);
                }
            }
            long[] oldest = {oldestTombstone};
            new TombstoneIndex(kv).forEach((repo, name, removedAt) -> {
                tombstonesPerRepository.merge(repo, 1L, Long::sum);
                if (removedAt > 0) {
                    oldest[0] = Math.min(oldest[0], removedAt);
                }
            });
            oldestTombstone = oldest[0];
        }
        return new Census(records, untagged, (nowMillis - oldestUntagged) / (double) HOUR,
                tombstonesPerRepository.values().stream().mapToLong(Long::longValue).max().orElse(0),
                (nowMillis - oldestTombstone) / (double) HOUR, metadataBytes, walBytes, blobBytes,
                openMillis);
    }

    /** Bytes of the files under {@code dir} whose names end with {@code suffix}. */
    private static long bytesUnder(Path dir, String suffix) throws IOException {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(f -> f.getFileName().toString().endsWith(suffix) && Files.isRegularFile(f))
                    .mapToLong(Census::sizeOrZero).sum();
        }
    }

    private static long sizeOrZero(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return 0; // removed while walking (a running node's log or table files)
        }
    }
}
