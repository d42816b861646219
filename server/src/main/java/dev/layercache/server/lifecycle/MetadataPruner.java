package dev.layercache.server.lifecycle;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.core.Root;
import dev.layercache.server.metadata.AccessIndex;
import dev.layercache.server.metadata.AnalysisIndex;
import dev.layercache.server.metadata.BuildIndex;
import dev.layercache.server.metadata.Deletions;
import dev.layercache.server.metadata.EntryIndex;
import dev.layercache.server.metadata.ExportIndex;
import dev.layercache.server.metadata.HistoryIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.ManifestIndex;
import dev.layercache.server.metadata.StepIndex;
import dev.layercache.server.metadata.TagIndex;
import dev.layercache.server.metadata.TombstoneIndex;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
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
 *   <li><b>Build records</b> of stock builders' builds and the <b>last cache export</b> of each
 *       reference: the same bounds as tombstones, by the build's or the push's time.
 * </ul>
 * Deletions go in batches, not fsynced (see {@link Deletions}): a crash can only bring back
 * records the next pass removes again.
 */
public final class MetadataPruner {
    private static final Logger log = LoggerFactory.getLogger(MetadataPruner.class);

    /** What one pass removed. */
    public record Report(long tombstones, long steps, long accessRecords, long analyses, long builds) {
        static final Report NONE = new Report(0, 0, 0, 0, 0);

        long total() {
            return tombstones + steps + accessRecords + analyses + builds;
        }
    }

    private final ServerConfig.History bounds;
    private final KeyValueStore kv;
    private final Clock clock;
    private final int analysisRules;
    private final TombstoneIndex tombstones;
    private final StepIndex steps;
    private final AccessIndex uses;
    private final AnalysisIndex analyses;
    private final TagIndex tags;
    private final ManifestIndex manifests;
    private final EntryIndex entries;
    private final BuildIndex builds;
    private final ExportIndex exports;

    /**
     * @param analysisRules the version of the current analysis rules; analyses made by any other
     *                      are stale
     */
    public MetadataPruner(ServerConfig.History bounds, KeyValueStore kv, int analysisRules, Clock clock) {
        this.bounds = bounds;
        this.kv = kv;
        this.analysisRules = analysisRules;
        this.clock = clock;
        this.tombstones = new TombstoneIndex(kv);
        this.steps = new StepIndex(kv);
        this.uses = new AccessIndex(kv);
        this.analyses = new AnalysisIndex(kv);
        this.tags = new TagIndex(kv);
        this.manifests = new ManifestIndex(kv);
        this.entries = new EntryIndex(kv);
        this.builds = new BuildIndex(kv);
        this.exports = new ExportIndex(kv);
    }

    /** One pass over the history tables; {@code full}: the tables checked against the roots too. */
    public Report prune(boolean full) {
        if (!full) {
            return Report.NONE;
        }
        long cutoff = bounds.maxAge().isZero() ? Long.MIN_VALUE : clock.millis() - bounds.maxAge().toMillis();
        Report report = new Report(
                boundPerRepository(tombstones, cutoff),
                boundPerRepository(steps, cutoff),
                accessRecordsOfRootsGone(),
                analysesOfManifestsGone(),
                boundPerRepository(builds, cutoff, buildsKept()) + boundPerRepository(exports, cutoff, buildsKept()));
        if (report.total() > 0) {
            log.info("metadata pruned: {} tombstones, {} step publications, {} last uses of roots gone,"
                    + " {} cached analyses, {} build records and cache exports", report.tombstones(), report.steps(),
                    report.accessRecords(), report.analyses(), report.builds());
        }
        return report;
    }

    /**
     * Removes the records of {@code table} older than {@code cutoff}, then the oldest of each
     * repository past the count bound. Records come by repository, so one repository's records
     * are in memory at a time.
     */
    private long boundPerRepository(HistoryIndex table, long cutoff) {
        return boundPerRepository(table, cutoff, bounds.maxPerRepository());
    }

    /**
     * Build records per repository at most: the history bound, but never more than
     * {@link BuildIndex#MAX_PER_REPOSITORY}, since a build record is a few kilobytes where a
     * tombstone is a few bytes.
     */
    private int buildsKept() {
        int max = bounds.maxPerRepository();
        return max > 0 ? Math.min(max, BuildIndex.MAX_PER_REPOSITORY) : BuildIndex.MAX_PER_REPOSITORY;
    }

    private long boundPerRepository(HistoryIndex table, long cutoff, int max) {
        Deletions out = new Deletions(kv);
        List<Record> group = new ArrayList<>();
        String[] repository = {null};
        table.forEach((repo, name, at) -> {
            if (!repo.equals(repository[0])) {
                trim(table, group, out, max);
                repository[0] = repo;
            }
            if (at < cutoff) {
                out.add(b -> table.delete(b, repo, name));
            } else {
                group.add(new Record(repo, name, at));
            }
        });
        trim(table, group, out, max);
        return out.finish();
    }

    private record Record(String repository, String name, long millis) {
    }

    /** Deletes the oldest records of one repository past the count bound; empties {@code group}. */
    private void trim(HistoryIndex table, List<Record> group, Deletions out, int max) {
        if (max > 0 && group.size() > max) {
            group.sort(Comparator.comparingLong(Record::millis));
            for (Record r : group.subList(0, group.size() - max)) {
                out.add(b -> table.delete(b, r.repository(), r.name()));
            }
        }
        group.clear();
    }

    /** Last uses whose root no longer exists. */
    private long accessRecordsOfRootsGone() {
        return uses.removeIf(root -> !exists(root));
    }

    private boolean exists(Root root) {
        if (!RepositoryName.isValid(root.repository())) {
            return false;
        }
        RepositoryName repo = RepositoryName.parse(root.repository());
        return switch (root.kind()) {
            case TAG -> tags.exists(repo, root.name());
            case MANIFEST -> Digest.isValid(root.name()) && manifests.exists(repo, Digest.parse(root.name()));
            case ENTRY -> Digest.isValid(root.name()) && entries.exists(repo, Digest.parse(root.name()));
        };
    }

    /** Analyses of other rules versions, and of manifests no repository holds. */
    private long analysesOfManifestsGone() {
        if (analyses.isEmpty()) {
            return 0;
        }
        Set<String> stored = new HashSet<>();
        manifests.forEach((repo, m) -> stored.add(m.digest().toString()));
        return analyses.removeIf((rules, manifest) -> rules != analysisRules || !stored.contains(manifest));
    }
}
