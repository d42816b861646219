package dev.layercache.server.lifecycle;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.layercache.api.v1.Entry;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.Root;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.retention.AccessTracker;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.ToLongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the metadata that only grows bounded: every record below is written as a side effect of
 * normal traffic and nothing else ever removes it, so without this a node that evicts and
 * deletes for months grows its metadata (and its start-up time) without end.
 * <ul>
 *   <li><b>Tombstones</b> (names a repository held and lost): older than {@code history-max-age}
 *       go; past {@code history-max-records} per repository, the oldest go. A miss on a name
 *       forgotten this way is counted as an ordinary miss rather than a capacity miss.
 *   <li><b>Step publications</b> (the last publication of each step identity, which explains a
 *       miss of the native API): the same bounds, by the publication's time. A step forgotten
 *       this way is explained as a new step.
 *   <li><b>Last uses of roots that are gone</b> (a tag or manifest deleted through the API, an
 *       entry replaced): nothing reads them any more.
 *   <li><b>Cached layer analyses</b> of manifests no repository holds any more, and of older
 *       rules versions.
 * </ul>
 * Deletions go in batches of {@value #BATCH}, not fsynced: a crash can only bring back records
 * the next pass removes again.
 */
public final class MetadataPruner {
    private static final Logger log = LoggerFactory.getLogger(MetadataPruner.class);
    private static final int BATCH = 10_000;

    /** What one pass removed. */
    public record Report(long tombstones, long steps, long accessRecords, long analyses) {
        static final Report NONE = new Report(0, 0, 0, 0);

        long total() {
            return tombstones + steps + accessRecords + analyses;
        }
    }

    private final ServerConfig.History bounds;
    private final KeyValueStore kv;
    private final Clock clock;
    private final String analysisKeyPrefix;

    /**
     * @param analysisKeyPrefix the key prefix of analyses made by the current rules
     *                          ({@code v<version>\0}); analyses under any other prefix are stale
     */
    public MetadataPruner(ServerConfig.History bounds, KeyValueStore kv, String analysisKeyPrefix, Clock clock) {
        this.bounds = bounds;
        this.kv = kv;
        this.analysisKeyPrefix = analysisKeyPrefix;
        this.clock = clock;
    }

    /** One pass over the history tables; {@code full}: the tables checked against the roots too. */
    public Report prune(boolean full) {
        if (!full) {
            return Report.NONE;
        }
        long cutoff = bounds.maxAge().isZero() ? Long.MIN_VALUE : clock.millis() - bounds.maxAge().toMillis();
        Report report = new Report(
                boundPerRepository(Table.TOMBSTONES, MetadataPruner::tombstoneMillis, cutoff),
                boundPerRepository(Table.STEPS, MetadataPruner::publicationMillis, cutoff),
                accessRecordsOfRootsGone(),
                analysesOfManifestsGone());
        if (report.total() > 0) {
            log.info("metadata pruned: {} tombstones, {} step publications, {} last uses of roots gone,"
                    + " {} cached analyses", report.tombstones(), report.steps(), report.accessRecords(),
                    report.analyses());
        }
        return report;
    }

    /**
     * Removes the records of {@code table} (keys {@code repository \0 name}) older than
     * {@code cutoff}, then the oldest of each repository past the count bound. Keys sort by
     * repository, so one repository's records are in memory at a time.
     */
    private long boundPerRepository(Table table, ToLongFunction<byte[]> millisOf, long cutoff) {
        Deletions out = new Deletions(table);
        List<Record> group = new ArrayList<>();
        String[] repository = {null};
        kv.forEach(table, e -> {
            String repo = repositoryOf(e.key());
            if (!repo.equals(repository[0])) {
                trim(group, out);
                repository[0] = repo;
            }
            long at = millisOf.applyAsLong(e.value());
            if (at < cutoff) {
                out.delete(e.key());
            } else {
                group.add(new Record(e.key(), at));
            }
        });
        trim(group, out);
        return out.finish();
    }

    private record Record(byte[] key, long millis) {
    }

    /** Deletes the oldest records of one repository past the count bound; empties {@code group}. */
    private void trim(List<Record> group, Deletions out) {
        int max = bounds.maxPerRepository();
        if (max > 0 && group.size() > max) {
            group.sort(Comparator.comparingLong(Record::millis));
            for (Record r : group.subList(0, group.size() - max)) {
                out.delete(r.key());
            }
        }
        group.clear();
    }

    /** Last uses whose root no longer exists. */
    private long accessRecordsOfRootsGone() {
        Deletions out = new Deletions(Table.ACCESS);
        kv.forEach(Table.ACCESS, e -> {
            Root root = AccessTracker.rootOf(e.key());
            if (root == null || !exists(root)) {
                out.delete(e.key());
            }
        });
        return out.finish();
    }

    private boolean exists(Root root) {
        byte[] key = Keys.of(root.repository(), root.name());
        return switch (root.kind()) {
            case TAG -> kv.get(Table.TAGS, key) != null;
            case MANIFEST -> kv.get(Table.MANIFESTS, key) != null;
            case ENTRY -> kv.get(Table.ENTRIES, key) != null;
        };
    }

    /** Analyses of other rules versions, and of manifests no repository holds. */
    private long analysesOfManifestsGone() {
        if (!kv.anyWithPrefix(Table.ANALYSES, new byte[0])) {
            return 0;
        }
        Set<String> stored = new HashSet<>();
        kv.forEach(Table.MANIFESTS, e -> stored.add(Keys.lastPart(e.key())));
        Deletions out = new Deletions(Table.ANALYSES);
        kv.forEach(Table.ANALYSES, e -> {
            String key = Keys.string(e.key());
            if (!key.startsWith(analysisKeyPrefix) || !stored.contains(key.substring(analysisKeyPrefix.length()))) {
                out.delete(e.key());
            }
        });
        return out.finish();
    }

    private static String repositoryOf(byte[] key) {
        String s = Keys.string(key);
        int nul = s.indexOf('\0');
        return nul < 0 ? s : s.substring(0, nul);
    }

    /** A tombstone's value is when the name was lost (epoch millis). */
    static long tombstoneMillis(byte[] value) {
        return value.length == 8 ? ByteBuffer.wrap(value).getLong(0) : 0;
    }

    /** A step publication is an entry without layers: its creation time. Unreadable: as old as can be. */
    static long publicationMillis(byte[] value) {
        try {
            var created = Entry.parseFrom(value).getCreatedAt();
            return created.getSeconds() * 1000 + created.getNanos() / 1_000_000;
        } catch (InvalidProtocolBufferException corrupt) {
            return 0;
        }
    }

    /** Deletions of one table, committed every {@value #BATCH}. */
    private final class Deletions {
        private final Table table;
        private KeyValueStore.Batch batch;
        private int pending;
        private long total;

        Deletions(Table table) {
            this.table = table;
        }

        void delete(byte[] key) {
            if (batch == null) {
                batch = kv.batch();
            }
            batch.delete(table, key);
            total++;
            if (++pending == BATCH) {
                batch.commit(false);
                batch = null;
                pending = 0;
            }
        }

        long finish() {
            if (batch != null) {
                batch.commit(false);
                batch = null;
                pending = 0;
            }
            return total;
        }
    }
}
