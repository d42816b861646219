package dev.layercache.loadtest;

import dev.layercache.client.MissReason;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;

/**
 * The figures of one phase of a fleet run (the warm-up or the measurement), added to by every
 * builder at once. Each step's lookup is classified twice:
 *
 * <ul>
 *   <li>by the <b>workload</b>: the first lookup of a key in the run must miss (its own input or
 *       an earlier step's changed, or it is the first build of the project), every later one
 *       could hit; {@code hit_rate_expected} is that share, what a cache that stored every result
 *       the moment it was built would give;</li>
 *   <li>by the <b>model of the cache</b> ({@link PublishedKeys}, {@link OverwrittenValue}),
 *       which explains each later lookup that missed: another builder was still building the
 *       key (a concurrent build), BuildKit's ref was overwritten by a build without the key, or
 *       a publication of the key overlapped the lookup. What the model cannot explain is
 *       counted as unexpected, and is a fault of the cache (or an eviction).</li>
 * </ul>
 *
 * <p>Against a cache that evicts ({@link FleetConfig#evicting}), a miss of a published key is a
 * capacity miss: legal when the server says {@code EVICTED} (gRPC) or, in OCI, which gives no
 * reason, counted in {@link #capacityMissLookups} for the soak to check against the node's own
 * count of misses on names it evicted. A hit the model rules out is a fault either way.
 */
final class FleetStats {
    private static final int MAX_SAMPLES = 10;

    final LongAdder builds = new LongAdder();
    final LongAdder lookups = new LongAdder();
    final LongAdder hits = new LongAdder();
    final LongAdder firstLookups = new LongAdder();
    final LongAdder missesNewKey = new LongAdder();
    final LongAdder missesConcurrentBuild = new LongAdder();
    final LongAdder missesRefOverwritten = new LongAdder();
    final LongAdder missesEvicted = new LongAdder();
    final LongAdder racingLookups = new LongAdder();
    final LongAdder unexpectedHits = new LongAdder();
    final LongAdder unexpectedMisses = new LongAdder();
    final LongAdder bytesUploaded = new LongAdder();
    final LongAdder bytesDownloaded = new LongAdder();
    final LongAdder bytesSaved = new LongAdder();
    final LongAdder blobsUploaded = new LongAdder();
    final LongAdder blobsAlreadyPresent = new LongAdder();
    final LongAdder reasonMismatches = new LongAdder();
    final LongAdder errors = new LongAdder();
    /**
     * Lookup requests whose answer the node must have counted as a capacity miss: gRPC lookups
     * the server said {@code EVICTED} of; OCI tag requests (buildah's manifest, BuildKit's ref)
     * answered 404 where the model expected the tag to be there.
     */
    final LongAdder capacityMissLookups = new LongAdder();
    final Histogram lookupMicros = new ConcurrentHistogram(3);
    final Histogram buildMicros = new ConcurrentHistogram(3);
    /** Each layer's upload, from its first request to the answer of its last. */
    final Histogram uploadMicros = new ConcurrentHistogram(3);
    /** Each layer's download, hashed as it arrives, from the request to the last byte. */
    final Histogram downloadMicros = new ConcurrentHistogram(3);
    private final boolean evicting;
    private final Map<MissReason, LongAdder> missReasons = new ConcurrentHashMap<>();
    private final Set<String> errorSamples = ConcurrentHashMap.newKeySet();
    private final Set<String> anomalySamples = ConcurrentHashMap.newKeySet();

    /** Figures of a run against a cache that keeps what it is given. */
    FleetStats() {
        this(false);
    }

    /** Figures of a run; with {@code evicting}, a miss of a published key may be a capacity miss. */
    FleetStats(boolean evicting) {
        this.evicting = evicting;
    }

    /**
     * What one step's lookup found, against what was expected of it.
     *
     * @param description the step and namespace, for a person reading an anomaly
     * @param layerBytes the size of the step's layer (saved on a hit)
     * @param firstLookup whether no builder had looked the key up before in this run
     * @param expected what the model of the cache expected
     * @param publishedBefore whether the key had ever been published before (a BuildKit ref may have lost it since)
     * @param hit what the cache answered
     * @param reason why it missed, when the cache said (gRPC)
     */
    record StepLookup(String description, long layerBytes, boolean firstLookup, Expectation expected,
                      boolean publishedBefore, boolean hit, Optional<MissReason> reason) {
    }

    void step(StepLookup s) {
        lookups.increment();
        if (s.firstLookup()) {
            firstLookups.increment();
        }
        if (s.expected() == Expectation.EITHER) {
            racingLookups.increment();
        }
        s.reason().ifPresent(r -> missReasons.computeIfAbsent(r, k -> new LongAdder()).increment());
        if (s.hit()) {
            hits.increment();
            bytesSaved.add(s.layerBytes());
            if (s.expected() == Expectation.MISS) {
                unexpectedHits.increment();
                anomaly("unexpected hit: " + s.description());
            }
            return;
        }
        switch (s.expected()) {
            case HIT -> {
                if (s.reason().orElse(null) == MissReason.EVICTED) {
                    missesEvicted.increment();
                } else if (evicting && s.reason().isEmpty()) {
                    // OCI says nothing of why; the soak checks these against the node's count.
                    missesEvicted.increment();
                } else {
                    unexpectedMisses.increment();
                    anomaly("unexpected miss: " + s.description());
                }
            }
            case MISS -> {
                if (s.firstLookup()) {
                    missesNewKey.increment();
                } else if (s.publishedBefore()) {
                    missesRefOverwritten.increment();
                } else {
                    missesConcurrentBuild.increment();
                }
            }
            case EITHER -> {
                // Counted in racingLookups: a publication of the key overlapped the lookup.
            }
        }
    }

    /** The server's reason for a miss disagreed with the one the model expected. */
    void reasonMismatch(String description) {
        reasonMismatches.increment();
        anomaly("miss reason: " + description);
    }

    void buildDone(long micros) {
        builds.increment();
        buildMicros.recordValue(micros);
    }

    /** A build stopped at an error: every error fails its build, so errors count failed builds. */
    void buildFailed(Throwable error) {
        errors.increment();
        if (errorSamples.size() < MAX_SAMPLES) {
            errorSamples.add(describe(error));
        }
    }

    long misses() {
        return lookups.sum() - hits.sum();
    }

    /** Observed hits over lookups, in percent. */
    double hitRateObserved() {
        return percent(hits.sum(), lookups.sum());
    }

    /** Lookups that were not the first of their key, over lookups, in percent. */
    double hitRateExpected() {
        return percent(lookups.sum() - firstLookups.sum(), lookups.sum());
    }

    /** Lookups whose answer the model of the cache cannot explain. */
    long unexpected() {
        return unexpectedHits.sum() + unexpectedMisses.sum() + reasonMismatches.sum();
    }

    Map<String, Long> missReasons() {
        Map<String, Long> out = new TreeMap<>();
        missReasons.forEach((k, v) -> out.put(k.name(), v.sum()));
        return out;
    }

    List<String> errorSamples() {
        return new ArrayList<>(errorSamples);
    }

    List<String> anomalySamples() {
        return new ArrayList<>(anomalySamples);
    }

    private void anomaly(String text) {
        if (anomalySamples.size() < MAX_SAMPLES) {
            anomalySamples.add(text);
        }
    }

    static double percent(long part, long whole) {
        return whole == 0 ? 0 : 100.0 * part / whole;
    }

    private static String describe(Throwable error) {
        StringBuilder sb = new StringBuilder(error.toString());
        for (Throwable c = error.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            sb.append(" <- ").append(c);
        }
        return sb.length() > 400 ? sb.substring(0, 400) + "..." : sb.toString();
    }
}
