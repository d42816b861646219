package dev.layercache.server.lifecycle;

import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.metadata.EntryIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.LinkIndex;
import dev.layercache.server.metadata.ManifestIndex;
import dev.layercache.server.metadata.ReleaseIndex;
import dev.layercache.server.registry.ManifestService;
import dev.layercache.server.retention.AccessTracker;
import dev.layercache.server.retention.ReferenceGuard;
import dev.layercache.server.storage.BlobBackend;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Garbage collection of blobs: mark what every remaining manifest and entry references, then
 * sweep the blobs nothing marked, except those stored or asked for within the grace period
 * (builders push blobs first and the manifest last) and not released since (see
 * {@link #verdict}). Runs beside requests: the mark reads the
 * tables page by page, and each blob is removed under its own lock ({@link ReferenceGuard}),
 * records first and file second, so no request ever sees a blob whose bytes are gone.
 *
 * <p>The mark set holds the first 64 bits of each referenced digest, sorted: 8 bytes per blob,
 * and a collision (two digests sharing 64 bits) can only keep a garbage blob one round longer.
 */
public final class Collector {
    private static final Logger log = LoggerFactory.getLogger(Collector.class);
    /** Blobs listed in a report at most. */
    static final int LISTED = 1000;

    /** What one collection did (or, dry, would do). */
    public record Report(Instant at, boolean dryRun, long blobsScanned, long referenced, long keptInGrace,
                         long collected, long collectedBytes, long millis, List<String> digests) {
    }

    private final KeyValueStore kv;
    private final BlobBackend backend;
    private final ManifestService manifests;
    private final ReferenceGuard guard;
    private final AccessTracker access;
    private final BlobIndex blobs;
    private final LinkIndex links;
    private final ManifestIndex manifestIndex;
    private final EntryIndex entries;
    private final ReleaseIndex releases;
    private final Clock clock;

    public Collector(KeyValueStore kv, BlobBackend backend, ManifestService manifests, ReferenceGuard guard,
                     AccessTracker access, Clock clock) {
        this.kv = kv;
        this.backend = backend;
        this.manifests = manifests;
        this.guard = guard;
        this.access = access;
        this.blobs = new BlobIndex(kv);
        this.links = new LinkIndex(kv);
        this.manifestIndex = new ManifestIndex(kv);
        this.entries = new EntryIndex(kv);
        this.releases = new ReleaseIndex(kv);
        this.clock = clock;
    }

    /** A collection with the grace period {@code grace} (and its asked grace, see {@link #verdict}). */
    public Report collect(Duration grace, boolean dryRun) {
        return collect(grace, ServerConfig.Lifecycle.askedGrace(grace), dryRun);
    }

    /** A collection keeping blobs clients asked about for {@code askedGrace} (zero: not at all). */
    public Report collect(Duration grace, Duration askedGrace, boolean dryRun) {
        long started = System.nanoTime();
        guard.beginMark();
        try {
            long[] marked = mark();
            long graceStart = clock.millis() - grace.toMillis();
            long askedStart = askedGrace.isZero() ? Long.MAX_VALUE : clock.millis() - askedGrace.toMillis();
            long[] scannedAndYoung = new long[2];
            List<Digest> garbage = new ArrayList<>();
            List<Digest> ifUnlinked = new ArrayList<>();
            Map<Digest, Long> sizes = new HashMap<>();
            blobs.forEach((d, blob) -> {
                scannedAndYoung[0]++;
                if (Arrays.binarySearch(marked, prefix(d)) >= 0) {
                    return;
                }
                switch (verdict(d, blob.createdAtMillis(), graceStart, askedStart)) {
                    case YOUNG -> scannedAndYoung[1]++;
                    case GARBAGE_IF_UNLINKED -> {
                        ifUnlinked.add(d);
                        sizes.put(d, blob.size());
                    }
                    case GARBAGE -> {
                        garbage.add(d);
                        sizes.put(d, blob.size());
                    }
                }
            });
            long scanned = scannedAndYoung[0];
            long young = scannedAndYoung[1];
            long collected = 0;
            long bytes = 0;
            List<String> listed = new ArrayList<>();
            if (!garbage.isEmpty() || !ifUnlinked.isEmpty()) {
                List<Digest> all = new ArrayList<>(garbage);
                all.addAll(ifUnlinked);
                Map<Digest, List<RepositoryName>> linked = linksOf(all);
                for (Digest d : ifUnlinked) {
                    if (linked.containsKey(d)) {
                        young++; // dropped by one repository, still linked by another: in grace there
                    } else {
                        garbage.add(d);
                    }
                }
                for (Digest d : garbage) {
                    boolean gone = dryRun || guard.removeIfUnreferenced(d, () -> stillGarbage(d, graceStart, askedStart)
                            && remove(d, linked.get(d)));
                    if (gone) {
                        collected++;
                        bytes += sizes.get(d);
                        if (listed.size() < LISTED) {
                            listed.add(d.toString());
                        }
                    }
                }
            }
            if (!dryRun) {
                access.forgetBlobsSeenBefore(graceStart);
                pruneReleases(graceStart);
            }
            Report report = new Report(clock.instant(), dryRun, scanned, marked.length, young, collected, bytes,
                    (System.nanoTime() - started) / 1_000_000, listed);
            if (collected > 0 || !dryRun) {
                log.info("{}collection: {} blobs scanned, {} referenced, {} kept in grace, {} collected ({} bytes) in {} ms",
                        dryRun ? "dry-run " : "", scanned, marked.length, young, collected, bytes, report.millis());
            }
            return report;
        } finally {
            guard.endCollection();
        }
    }

    /** What becomes of a blob no root references. */
    private enum Verdict { YOUNG, GARBAGE_IF_UNLINKED, GARBAGE }

    /**
     * The grace period protects a blob no root has claimed yet: builders push blobs first and
     * their manifest last. A blob a client was told exists (it is about to name it in a manifest
     * or entry) is kept for the shorter {@link ServerConfig.Lifecycle#askedGrace asked grace}. A
     * release lifts the first protection when it comes after the upload (the root that claimed the
     * blob went: an eviction must free bytes), the second only when an operator deleted through the
     * API after the client asked. A blob released by a repository's deletion goes only once no
     * repository links it.
     */
    private Verdict verdict(Digest d, long storedAtMillis, long graceStart, long askedStart) {
        long asked = access.blobSeenAt(d);
        boolean askedRecently = asked >= askedStart;
        boolean storedRecently = storedAtMillis >= graceStart;
        if (!askedRecently && !storedRecently) {
            return Verdict.GARBAGE;
        }
        ReleaseIndex.Release release = releases.get(d);
        if (release == null) {
            return Verdict.YOUNG;
        }
        boolean byOperator = release.scope() != ReleaseIndex.Scope.ROOT;
        if (askedRecently && !(byOperator && release.atMillis() >= asked)) {
            return Verdict.YOUNG;
        }
        if (storedRecently && release.atMillis() < storedAtMillis) {
            return Verdict.YOUNG;
        }
        return release.scope() == ReleaseIndex.Scope.UNLINKED ? Verdict.GARBAGE_IF_UNLINKED : Verdict.GARBAGE;
    }

    /**
     * The verdict again, just before the removal and under the blob's lock: a client may have been
     * told the blob exists, or sent it again, since the scan (see {@link ReferenceGuard#asking}).
     */
    private boolean stillGarbage(Digest d, long graceStart, long askedStart) {
        BlobIndex.Record record = blobs.get(d);
        return record != null && verdict(d, record.createdAtMillis(), graceStart, askedStart) != Verdict.YOUNG;
    }

    /**
     * Drops releases that can no longer change a verdict: older than the grace period (the blob's
     * grace is over by then unless it was used since, which outranks the release) or of a blob that
     * is gone. Keeps the table as small as the recent deletions.
     */
    private void pruneReleases(long graceStart) {
        releases.removeIf((digest, r) -> r.atMillis() < graceStart || blobs.size(digest) < 0);
    }

    /** The 64-bit prefixes of every digest a manifest or entry references, sorted. */
    private long[] mark() {
        LongList marks = new LongList();
        manifestIndex.forEach((repo, m) -> {
            for (Digest d : manifests.references(m)) {
                marks.add(prefix(d));
            }
        });
        entries.forEach((namespace, key, entry) -> {
            if (entry == null) {
                log.warn("unreadable entry record {}/{}", namespace, key);
                return;
            }
            for (LayerDescriptor layer : entry.getLayersList()) {
                if (Digest.isValid(layer.getDigest())) {
                    marks.add(prefix(Digest.parse(layer.getDigest())));
                }
            }
        });
        return marks.sorted();
    }

    /** The repositories linking each of {@code digests}: one pass over the table. */
    private Map<Digest, List<RepositoryName>> linksOf(List<Digest> digests) {
        Map<Digest, List<RepositoryName>> out = new HashMap<>();
        java.util.Set<Digest> wanted = new java.util.HashSet<>(digests);
        links.forEach((repo, d, size) -> {
            if (wanted.contains(d)) {
                out.computeIfAbsent(d, k -> new ArrayList<>()).add(repo);
            }
        });
        return out;
    }

    /** Records first (from then on every request misses it), then the bytes; true. */
    private boolean remove(Digest d, List<RepositoryName> linkedFrom) {
        KeyValueStore.Batch batch = kv.batch();
        blobs.delete(batch, d);
        backend.deleteInline(batch, d); // a small blob's bytes go with its record
        releases.delete(batch, d);
        if (linkedFrom != null) {
            for (RepositoryName repo : linkedFrom) {
                links.delete(batch, repo, d);
            }
        }
        // Not fsynced per blob (that made a sweep of 200,000 blobs take minutes): should the
        // machine lose the last deletions, their records outlive their files, and the start-up
        // check forgets such records; no request sees the bytes as present meanwhile either way.
        batch.commit(false);
        try {
            backend.delete(d);
        } catch (IOException e) {
            // The records are gone: the file is an orphan the start-up pass removes.
            throw new UncheckedIOException(e);
        }
        return true;
    }


    static long prefix(Digest d) {
        return Long.parseUnsignedLong(d.hex().substring(0, 16), 16);
    }

    /** A growable array of longs: 8 bytes per mark, not an object each. */
    private static final class LongList {
        private long[] values = new long[1024];
        private int size;

        void add(long v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = v;
        }

        long[] sorted() {
            long[] out = Arrays.copyOf(values, size);
            Arrays.sort(out);
            return out;
        }
    }
}
