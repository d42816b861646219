package dev.layercache.server.builds;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.builds.BuildRecord.Warning;
import dev.layercache.server.builds.PushReader.Export;
import dev.layercache.server.builds.PushReader.Push;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.Reference;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.core.manifest.BuildKitCache;
import dev.layercache.server.core.manifest.CacheConfig;
import dev.layercache.server.core.manifest.ImageManifest;
import dev.layercache.server.core.manifest.Manifest;
import dev.layercache.server.core.manifest.ManifestParser;
import dev.layercache.server.metadata.BuildIndex;
import dev.layercache.server.metadata.ExportIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.RepositoryIndex;
import dev.layercache.server.registry.BlobService;
import java.io.IOException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the builds of stock builders reused and rebuilt, told from what they push and ask
 * (docs/builds.md): the one object the HTTP surface tells of pushed manifests and of lookups of
 * step-key tags, and asks for build records.
 *
 * <ul>
 *   <li><b>BuildKit.</b> A pushed registry cache (either shape, {@link BuildKitCache}) or an image
 *       whose config carries an inline cache, pushed under a tag, is compared with the previous
 *       export of the same repository and tag ({@link ExportComparison}); the export is then kept
 *       ({@link ExportIndex}) for the next comparison.</li>
 *   <li><b>buildah.</b> Lookups and pushes of step-key tags are grouped into builds
 *       ({@link BuildahBuilds}); the instruction of a pushed step comes from its image config's
 *       history.</li>
 *   <li><b>Hygiene.</b> At push time: a cache config over {@link #MAX_IMPORTABLE_CONFIG_BYTES}
 *       (BuildKit's importers refuse those), a cache config naming layers the repository does not
 *       hold, and one uncompressed layer (diff ID) under two compressions in one export. Said in
 *       the push's answer ({@link #pushed} returns them), in the build record and in a metric.</li>
 * </ul>
 *
 * <p><b>Never in the way of a push.</b> Nothing here fails a push: a cache that cannot be read is
 * a build record with status {@code unparsable} and a warning. What the push's answer carries is
 * worked out before it is sent, but only for a config blob of at most
 * {@link #MAX_IMPORTABLE_CONFIG_BYTES} (reading and parsing that much takes milliseconds); larger
 * configs, the comparison and the writes run on one thread of their own, behind a queue of
 * {@link #QUEUE} tasks: when it is full (a flood of pushes), analyses are dropped and counted
 * ({@link #dropped()}), never queued without bound. Configs over {@link #MAX_CONFIG_READ_BYTES}
 * are not read at all (unparsable). Parsing is bounded by the readers ({@code CacheConfigReader}:
 * 100,000 records, no loops) and comparing is linear ({@link ExportComparison}).
 */
public final class BuildInsight implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BuildInsight.class);

    /** BuildKit refuses to import a cache config larger than this (moby/buildkit#4916, #3719). */
    public static final long MAX_IMPORTABLE_CONFIG_BYTES = 1 << 20;
    /** A config blob larger than this is not read: its build is unparsable. */
    public static final long MAX_CONFIG_READ_BYTES = 16L << 20;
    /**
     * Analyses waiting at most; more are dropped. Each holds its pushed manifest (at most
     * {@code max-manifest-size}), so this bounds what a flood of pushes can hold in memory.
     */
    static final int QUEUE = 16;
    /**
     * buildah builds open at once at most (each holds at most {@link BuildRecord#MAX_STEPS_LISTED}
     * step keys): anyone who may read can ask for step-key tags from many addresses.
     */
    static final int BUILDAH_OPEN = 256;
    /**
     * Closed buildah builds waiting to be written at most: every open build may close in one tick,
     * several times over while the store is slow.
     */
    static final int RECORDS_QUEUE = 4 * BUILDAH_OPEN;
    /** Build records kept in memory for the stats page, across repositories. */
    static final int RECENT = 50;
    /** The most builds {@link #builds} lists. */
    public static final int MAX_LISTED = 100;

    /**
     * Closes idle buildah builds, for every instance in the JVM: one sleeping thread, however many
     * nodes (or tests) run in it.
     */
    private static final ScheduledExecutorService TICKER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "layercache-builds-tick");
        t.setDaemon(true);
        return t;
    });

    private final KeyValueStore kv;
    private final PushReader reader;
    private final ManifestParser parser;
    private final ObjectMapper json;
    private final Clock clock;
    private final Consumer<BuildRecord> told;
    private final BuildIndex builds;
    private final ExportIndex exports;
    private final BuildahBuilds buildah;
    /** Analyses of pushed manifests: heavy, few queued. */
    private final ThreadPoolExecutor worker;
    /** Writes of closed buildah builds: light (a record each), and many may close in one tick. */
    private final ThreadPoolExecutor recorder;
    private final ScheduledFuture<?> tick;
    private final AtomicLong dropped = new AtomicLong();
    private final ArrayDeque<BuildRecord> recent = new ArrayDeque<>();
    private final Map<String, AtomicLong[]> stepTotals = Map.of(
            "buildkit", new AtomicLong[] {new AtomicLong(), new AtomicLong()},
            BuildahBuilds.BUILDER, new AtomicLong[] {new AtomicLong(), new AtomicLong()});

    /**
     * @param kv    where build records and exports are kept (the served store: shared in a cluster)
     * @param blobs where config blobs are read
     * @param told  told of every build recorded (the metrics), on the worker thread
     */
    public BuildInsight(KeyValueStore kv, BlobService blobs, ObjectMapper json, Clock clock,
                        Consumer<BuildRecord> told) {
        this.kv = kv;
        this.json = json;
        this.parser = new ManifestParser(json);
        this.reader = new PushReader(blobs, parser);
        this.clock = clock;
        this.told = told;
        this.builds = new BuildIndex(kv);
        this.exports = new ExportIndex(kv);
        this.worker = singleThread("layercache-builds", QUEUE);
        this.recorder = singleThread("layercache-build-records", RECORDS_QUEUE);
        RepositoryIndex repositories = new RepositoryIndex(kv);
        // Only builds in repositories that exist are written: anyone who may ask may ask for any
        // name, and a miss in a repository nobody pushed to is no build of this cache.
        this.buildah = new BuildahBuilds(BuildahBuilds.DEFAULT_GAP, BUILDAH_OPEN, BuildRecord.MAX_STEPS_LISTED,
                b -> submit(recorder, () -> {
                    if (RepositoryName.isValid(b.repository())
                            && repositories.exists(RepositoryName.parse(b.repository()))) {
                        store(BuildRecords.of(b));
                    }
                }));

        this.tick = TICKER.scheduleWithFixedDelay(() -> buildah.closeIdle(clock.instant()), 15, 15, TimeUnit.SECONDS);
    }

    // ------------------------------------------------------------------ what the surfaces tell

    /**
     * A manifest was stored: works out the hygiene warnings to answer with and queues the rest.
     *
     * @param who the identity name, or the client's address for an anonymous client
     * @return the warnings, in words, for the push's answer (empty for a manifest that is no cache)
     */
    public List<String> pushed(RepositoryName repo, Reference reference, Digest digest, Manifest manifest, String who) {
        try {
            Push push = new Push(repo, reference, digest, manifest, who, clock.instant());
            Optional<BuildKitCache> cache = BuildKitCache.of(manifest);
            if (cache.isPresent()) {
                return registryCache(push, cache.get());
            }
            if (manifest instanceof ImageManifest image && image.config() != null) {
                return image(push, image);
            }
        } catch (RuntimeException e) {
            log.warn("build insight: cannot look at manifest {} of {}: {}", digest, repo, e.toString());
        }
        return List.of();
    }

    /** A lookup of a tag answered (hit) or not (miss): buildah asks one step-key tag per step. */
    public void looked(String repository, String who, String tag, boolean hit) {
        if (!BuildahBuilds.isStepKey(tag)) {
            return;
        }
        Instant at = clock.instant();
        buildah.accept(hit ? BuildahBuilds.StepEvent.hit(at, repository, who, tag)
                : BuildahBuilds.StepEvent.miss(at, repository, who, tag));
    }

    // ------------------------------------------------------------------ what is asked

    /** The newest builds recorded in {@code repo}, newest first, at most {@code limit} (and {@link #MAX_LISTED}). */
    public List<BuildRecord> builds(RepositoryName repo, int limit) {
        List<BuildRecord> out = new ArrayList<>();
        for (byte[] value : builds.newest(repo.toString(), Math.max(1, Math.min(limit, MAX_LISTED)))) {
            try {
                out.add(BuildRecord.fromJson(json.readTree(value)));
            } catch (IOException | RuntimeException e) {
                log.debug("build insight: an unreadable build record in {}: {}", repo, e.toString());
            }
        }
        return out;
    }

    /** The newest builds this node recorded, newest first, in repositories {@code readable} accepts. */
    public List<BuildRecord> recent(Predicate<String> readable, int limit) {
        List<BuildRecord> out = new ArrayList<>();
        synchronized (recent) {
            for (BuildRecord r : recent) {
                if (out.size() >= limit) {
                    break;
                }
                if (readable.test(r.repository())) {
                    out.add(r);
                }
            }
        }
        return out;
    }

    /** Steps reused and rebuilt since start, by builder: {@code [reused, rebuilt]}. */
    public Map<String, long[]> stepTotals() {
        return Map.of("buildkit", totals("buildkit"), BuildahBuilds.BUILDER, totals(BuildahBuilds.BUILDER));
    }

    private long[] totals(String builder) {
        AtomicLong[] t = stepTotals.get(builder);
        return new long[] {t[0].get(), t[1].get()};
    }

    /** Analyses (and closed buildah builds) dropped because their queue was full. */
    public long dropped() {
        return dropped.get();
    }

    /** Closes the open buildah builds, finishes the queued work (a few seconds at most) and stops. */
    @Override
    public void close() {
        tick.cancel(false);
        buildah.closeAll();
        for (ThreadPoolExecutor executor : List.of(worker, recorder)) {
            executor.shutdown();
            try {
                if (!executor.awaitTermination(5, TimeUnit.SECONDS)) {
                    executor.shutdownNow();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                executor.shutdownNow();
            }
        }
    }

    private static ThreadPoolExecutor singleThread(String name, int queue) {
        ThreadPoolExecutor executor = new ThreadPoolExecutor(1, 1, 30, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(queue), r -> {
                    Thread t = new Thread(r, name);
                    t.setDaemon(true);
                    return t;
                }, new ThreadPoolExecutor.AbortPolicy());
        executor.allowCoreThreadTimeOut(true);
        return executor;
    }

    // ------------------------------------------------------------------ BuildKit's registry cache

    private List<String> registryCache(Push push, BuildKitCache cache) {
        // The queued task reads the config again rather than hold the parsed one: a parsed config
        // is ten times its JSON, and the queue bounds how many pushes wait, not their size.
        submit(() -> compareAndStore(reader.registryCache(push, cache)));
        if (cache.config().size() <= MAX_IMPORTABLE_CONFIG_BYTES) {
            return messages(reader.registryCache(push, cache).warnings());
        }
        return messages(List.of(PushReader.tooLarge(cache.config().size())));
    }

    // ------------------------------------------------------------------ images: inline cache, buildah

    private List<String> image(Push push, ImageManifest image) {
        long size = image.config().size();
        if (size <= MAX_IMPORTABLE_CONFIG_BYTES) {
            Optional<Export> export = readImage(push, image);
            // Read again when its turn comes, as for a registry cache (and never twice for a buildah step: no export).
            export.ifPresent(e -> submit(() -> readImage(push, image).ifPresent(this::compareAndStore)));
            return export.map(e -> messages(e.warnings())).orElse(List.of());
        }
        submit(() -> readImage(push, image).ifPresent(this::compareAndStore));
        return List.of();
    }

    /** The inline cache of a pushed image, if it has one; tells the buildah grouper of a step pushed. */
    private Optional<Export> readImage(Push push, ImageManifest image) {
        byte[] config;
        try {
            config = reader.config(push.repo(), image.config().digest(), image.config().size());
        } catch (IOException | RegistryException e) {
            return Optional.empty(); // not a config this server can read: nothing to tell
        }
        String tag = push.tag();
        if (tag != null && BuildahBuilds.isStepKey(tag)) {
            buildah.accept(BuildahBuilds.StepEvent.pushed(push.at(), push.repo().toString(), push.who(), tag,
                    BuildRecord.clip(reader.stepInstruction(config))));
            return Optional.empty();
        }
        return reader.inlineCache(push, image, config); // an inline cache is compared by tag: see docs/builds.md
    }

    // ------------------------------------------------------------------ compare, keep, tell

    private void compareAndStore(Export export) {
        Push push = export.push();
        String reference = push.reference().toString();
        BuildRecord record;
        if (export.config() == null) {
            record = BuildRecords.unparsable(push.repo().toString(), reference, push.at(), push.who(),
                    push.digest().toString(), export.shape(), export.warnings());
            store(record);
            return;
        }
        CacheConfig previous = null;
        ExportIndex.StoredExport stored = exports.get(push.repo().toString(), reference);
        if (stored != null) {
            try {
                previous = parser.parseCacheConfig(stored.cacheConfig());
            } catch (RegistryException e) {
                log.warn("build insight: the kept export of {}:{} cannot be read; comparing as a first export",
                        push.repo(), reference);
            }
        }
        ExportComparison comparison = ExportComparison.compare(previous, export.config(), export.descriptions());
        record = BuildRecords.of(comparison, push.repo().toString(), reference, push.at(), push.who(),
                push.digest().toString(), export.shape(), export.warnings());
        KeyValueStore.Batch batch = kv.batch();
        exports.put(batch, push.repo().toString(), reference, push.at().toEpochMilli(),
                CacheConfigJson.write(json, export.config(), export.descriptions()));
        builds.put(batch, push.repo().toString(), record.at().toEpochMilli(), bytes(record));
        batch.commit(false);
        remember(record);
    }

    private void store(BuildRecord record) {
        KeyValueStore.Batch batch = kv.batch();
        builds.put(batch, record.repository(), record.at().toEpochMilli(), bytes(record));
        batch.commit(false);
        remember(record);
    }

    private void remember(BuildRecord record) {
        synchronized (recent) {
            recent.addFirst(record);
            while (recent.size() > RECENT) {
                recent.removeLast();
            }
        }
        AtomicLong[] totals = stepTotals.get(record.builder());
        if (totals != null) {
            totals[0].addAndGet(record.reused());
            totals[1].addAndGet(record.rebuilt());
        }
        told.accept(record);
    }

    private byte[] bytes(BuildRecord record) {
        try {
            return json.writeValueAsBytes(record.toJson(json));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Runs {@code task} on the worker; drops it (counted) when the queue is full or the worker stopped. */
    private void submit(Runnable task) {
        submit(worker, task);
    }

    private void submit(ThreadPoolExecutor executor, Runnable task) {
        try {
            executor.execute(() -> {
                try {
                    task.run();
                } catch (RuntimeException e) {
                    log.warn("build insight: an analysis failed: {}", e.toString());
                }
            });
        } catch (RejectedExecutionException e) {
            if (dropped.getAndIncrement() % 100 == 0) {
                log.warn("build insight: analyses are coming faster than they are done; {} dropped so far",
                        dropped.get());
            }
        }
    }

    // ------------------------------------------------------------------ reading and warning

    private static List<String> messages(List<Warning> warnings) {
        return warnings.stream().map(Warning::message).toList();
    }

    /** For tests: waits (10 s at most) until the analyses and records queued so far are done. */
    public void awaitIdle() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        for (ThreadPoolExecutor executor : List.of(worker, recorder)) {
            java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
            while (true) {
                try {
                    executor.execute(done::countDown);
                    break;
                } catch (RejectedExecutionException full) {
                    if (System.nanoTime() > deadline) {
                        return;
                    }
                    Thread.sleep(10);
                }
            }
            done.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        }
    }

    /** For tests: closes the buildah builds idle at {@code now}. */
    public void closeIdle(Instant now) {
        buildah.closeIdle(now);
    }
}
