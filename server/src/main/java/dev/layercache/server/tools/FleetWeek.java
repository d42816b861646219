package dev.layercache.server.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ConfigLoader;
import dev.layercache.server.config.ServerConfig;
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
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A simulated week of a CI fleet against a real node, to see whether its metadata and its start-up
 * time stay flat while tags come and go by the hundred thousand. The node runs in this process on
 * {@code DATA-DIR}, telling time by a clock this tool moves forward (a simulated week passes in
 * minutes); every request goes through its real HTTP API, from several threads:
 * <ul>
 *   <li><b>buildah-style builds</b>: each step asks for the manifest tagged with its 64-hex step
 *       key and, on a miss, pushes its layer and config (monolithic uploads) and a manifest tagged
 *       with the key. A build changes one step's inputs with probability {@code change-rate}; that
 *       step and every later one then miss (a cascade), so new per-step tags arrive all the time.
 *   <li><b>BuildKit-style exports</b>: some projects build with BuildKit and rewrite their
 *       {@code buildcache} tag with a new OCI index (a cache config blob and the layers) at the end
 *       of every build; the index it replaces is left untagged (what {@code untagged-max-age} is for).
 *   <li><b>a cleanup job</b> deletes a share of the step tags pushed the hour before through the API,
 *       and the disk budget ({@code --max-disk-size}, chosen small) evicts continuously.
 * </ul>
 * The lifecycle runs every simulated hour beside the traffic (and on its own, on its schedule and at
 * the watermark). At the end of every simulated day the node stops; the tool counts the records of
 * every table in its metadata folder, measures the folder's and the blobs' bytes, and times the next
 * start (which replays RocksDB's write-ahead log, runs the start-up consistency check, and opens the
 * ports).
 *
 * <pre>java -cp layercache-server.jar dev.layercache.server.tools.FleetWeek DATA-DIR [options] [-- server flags]</pre>
 *
 * Server flags go to the node as they would on its command line ({@code --max-disk-size 48MiB
 * --untagged-max-age 3h ...}); the tool adds the data folder, 127.0.0.1 and free ports.
 */
public final class FleetWeek {
    private static final long HOUR = Duration.ofHours(1).toMillis();
    private static final String BUILDCACHE = "buildcache";
    private static final String LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";
    private static final String CONFIG_TYPE = "application/vnd.oci.image.config.v1+json";
    private static final Pattern EVICTIONS =
            Pattern.compile("(?m)^layercache_evictions_total\\{kind=\"(\\w+)\"[^}]*}\\s+(\\S+)$");
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * What to simulate.
     *
     * @param buildkitProjects how many of the {@code projects} build with BuildKit and export their cache
     * @param changeRate       the share of builds that change one step's inputs (the step is uniform)
     * @param buildsPerHour    builds of the whole fleet per simulated hour (projects chosen uniformly)
     * @param deleteShare      the share of the step tags pushed in an hour that the cleanup job deletes the hour after
     * @param restartDaily     stop, count and start the node at the end of every day; false: only at the end
     *                         of the run (the other days only measure the metadata folder while it runs)
     * @param serverFlags      flags for the node, as on its command line
     */
    public record Options(Path dataDir, int days, int projects, int buildkitProjects, int steps, double changeRate,
                          int buildsPerHour, double deleteShare, int threads, int layerMinBytes, int layerMaxBytes,
                          long seed, boolean restartDaily, List<String> serverFlags) {
        public Options {
            serverFlags = List.copyOf(serverFlags);
            if (buildkitProjects > projects || projects < 1 || steps < 1 || layerMinBytes < 1
                    || layerMaxBytes < layerMinBytes || threads < 1 || days < 1 || buildsPerHour < 1) {
                throw new IllegalArgumentException("inconsistent options: " + days + " days, " + projects
                        + " projects (" + buildkitProjects + " BuildKit), " + steps + " steps, " + buildsPerHour
                        + " builds/h, " + threads + " threads, layers " + layerMinBytes + "-" + layerMaxBytes);
            }
        }

        /** The defaults: a week of 40 projects, 10 of them BuildKit, 8 steps, 440 builds an hour, 16 threads. */
        public static Builder builder(Path dataDir) {
            return new Builder(dataDir);
        }

        /** Options one at a time; the fields start at the defaults. */
        public static final class Builder {
            private final Path dataDir;
            public int days = 7;
            public int projects = 40;
            public int buildkitProjects = 10;
            public int steps = 8;
            public double changeRate = 0.9;
            public int buildsPerHour = 440;
            public double deleteShare = 0.05;
            public int threads = 16;
            public int layerMinBytes = 1024;
            public int layerMaxBytes = 4096;
            public long seed = 1;
            public boolean restartDaily = true;
            private List<String> serverFlags = List.of();

            private Builder(Path dataDir) {
                this.dataDir = dataDir;
            }

            public Builder serverFlags(List<String> flags) {
                this.serverFlags = List.copyOf(flags);
                return this;
            }

            public Options build() {
                return new Options(dataDir, days, projects, buildkitProjects, steps, changeRate, buildsPerHour,
                        deleteShare, threads, layerMinBytes, layerMaxBytes, seed, restartDaily, serverFlags);
            }
        }

        String describe() {
            return String.format(Locale.ROOT, "%d days, %d projects (%d BuildKit), %d steps, change rate %.2f,"
                            + " %d builds/h, %.0f%% of each hour's step tags deleted, %d threads, layers %d-%d bytes,"
                            + " %s; node flags: %s", days, projects, buildkitProjects, steps, changeRate, buildsPerHour,
                    deleteShare * 100, threads, layerMinBytes, layerMaxBytes,
                    restartDaily ? "a restart every day" : "one restart at the end", String.join(" ", serverFlags));
        }
    }

    /**
     * The figures of one simulated day, counted after the node stopped (the totals are since the start).
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
    public record Day(int day, long builds, long stepTags, long hits, long exports, long deletions, long evictedTags,
                      long evictedManifests, Map<Table, Long> records, long untagged, double oldestUntaggedHours,
                      long maxTombstonesPerRepository, double oldestTombstoneHours, long metadataBytes,
                      long walBytes, long blobBytes, long startupMillis, long startupCheckMillis,
                      long metadataOpenMillis, double realSeconds, double lifecycleSeconds, long repushes,
                      long errors) {
        public long records(Table t) {
            return records.getOrDefault(t, 0L);
        }
    }

    /** The system clock plus an offset that only grows: the simulation moves it forward. */
    static final class SimulatedClock extends Clock {
        private final AtomicLong offsetMillis = new AtomicLong();

        /** Moves the time to at least {@code millis}; never back, so last uses stay in order. */
        void advanceTo(long millis) {
            offsetMillis.accumulateAndGet(millis - System.currentTimeMillis(), Math::max);
        }

        @Override
        public long millis() {
            return System.currentTimeMillis() + offsetMillis.get();
        }

        @Override
        public Instant instant() {
            return Instant.ofEpochMilli(millis());
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }
    }

    /** A project: its repository, and the version of each step's inputs (a change bumps one). */
    private static final class Project {
        final String repository;
        final boolean buildkit;
        private final long[] versions;

        Project(String repository, boolean buildkit, int steps) {
            this.repository = repository;
            this.buildkit = buildkit;
            this.versions = new long[steps];
        }

        synchronized long[] nextBuild(SplittableRandom random, double changeRate) {
            if (random.nextDouble() < changeRate) {
                versions[random.nextInt(versions.length)]++;
            }
            return versions.clone();
        }
    }

    /** A step's layer: bytes drawn from its key, so the same key always gives the same blob. */
    private record Layer(String key, byte[] content, String digest) {
        static Layer of(String key, int min, int max) {
            SplittableRandom r = new SplittableRandom(Long.parseUnsignedLong(key.substring(0, 16), 16));
            byte[] content = new byte[min + r.nextInt(max - min + 1)];
            r.nextBytes(content);
            return new Layer(key, content, sha256(content));
        }
    }

    private final Options options;
    private final SimulatedClock clock = new SimulatedClock();
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private final List<Project> projects = new ArrayList<>();
    private final LongAdder builds = new LongAdder();
    private final LongAdder stepTags = new LongAdder();
    private final LongAdder hits = new LongAdder();
    private final LongAdder exports = new LongAdder();
    private final LongAdder deletions = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private final LongAdder repushes = new LongAdder();
    /** Evictions counted by the node's earlier runs (its counters start at 0 with every start). */
    private final Map<String, Long> evictedBefore = new HashMap<>();
    /** Step tags pushed this hour: what the cleanup job picks from an hour later. */
    private ConcurrentLinkedQueue<String[]> pushedThisHour = new ConcurrentLinkedQueue<>();
    private volatile String base;
    /** Real time the hourly lifecycle runs took (waiting for a run of the node's own included). */
    private final AtomicLong lifecycleNanos = new AtomicLong();
    private ServerConfig config;
    private LayerCacheServer server;

    private FleetWeek(Options options) {
        this.options = options;
        for (int i = 0; i < options.projects(); i++) {
            boolean buildkit = i < options.buildkitProjects();
            projects.add(new Project(String.format(Locale.ROOT, "fleet/%s-%02d", buildkit ? "buildkit" : "buildah", i),
                    buildkit, options.steps()));
        }
    }

    public static void main(String[] args) throws Exception {
        // The node logs every collection at INFO; the script sends its log to a file instead.
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null
                && System.getProperty("org.slf4j.simpleLogger.logFile") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        Options options;
        try {
            options = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.err.println("usage: FleetWeek DATA-DIR [--days N] [--projects N] [--buildkit-projects N] [--steps N]"
                    + " [--change-rate P] [--builds-per-hour N] [--delete-share P] [--threads N]"
                    + " [--layer-bytes MIN-MAX]"
                    + " [--seed N] [--restart-daily true|false] [-- server flags]");
            System.exit(2);
            return;
        }
        List<Day> days = run(options, System.out);
        System.out.println();
        System.out.println(markdown(days));
    }

    static Options parse(String[] args) {
        if (args.length < 1 || args[0].startsWith("-")) {
            throw new IllegalArgumentException("a data folder is needed");
        }
        Options.Builder o = Options.builder(Path.of(args[0]));
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("--")) {
                o.serverFlags(List.of(args).subList(i + 1, args.length));
                break;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("no value for " + args[i]);
            }
            String option = args[i];
            String v = args[++i];
            switch (option) {
                case "--days" -> o.days = Integer.parseInt(v);
                case "--projects" -> o.projects = Integer.parseInt(v);
                case "--buildkit-projects" -> o.buildkitProjects = Integer.parseInt(v);
                case "--steps" -> o.steps = Integer.parseInt(v);
                case "--change-rate" -> o.changeRate = Double.parseDouble(v);
                case "--builds-per-hour" -> o.buildsPerHour = Integer.parseInt(v);
                case "--delete-share" -> o.deleteShare = Double.parseDouble(v);
                case "--threads" -> o.threads = Integer.parseInt(v);
                case "--layer-bytes" -> {
                    String[] range = v.split("-", 2);
                    o.layerMinBytes = Integer.parseInt(range[0]);
                    o.layerMaxBytes = Integer.parseInt(range[range.length - 1]);
                }
                case "--seed" -> o.seed = Long.parseLong(v);
                case "--restart-daily" -> o.restartDaily = Boolean.parseBoolean(v);
                default -> throw new IllegalArgumentException("unknown option " + option);
            }
        }
        return o.build();
    }

    /** Runs the simulation; a line per day goes to {@code out}. The node is stopped at the end. */
    public static List<Day> run(Options options, java.io.PrintStream out) throws Exception {
        return new FleetWeek(options).simulate(out);
    }

    private List<Day> simulate(java.io.PrintStream out) throws Exception {
        config = nodeConfig();
        out.println("fleet week: " + options.describe());
        List<Day> days = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(options.threads(), r -> {
            Thread t = new Thread(r, "fleet-builder");
            t.setDaemon(true);
            return t;
        });
        ExecutorService lifecycleThread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fleet-hourly-lifecycle");
            t.setDaemon(true);
            return t;
        });
        Future<?> hourlyRun = null;
        long origin = clock.millis();
        start();
        try {
            long buildNumber = 0;
            ConcurrentLinkedQueue<String[]> pushedHourBefore = new ConcurrentLinkedQueue<>();
            for (int day = 1; day <= options.days(); day++) {
                long dayStarted = System.nanoTime();
                for (int h = 0; h < 24; h++) {
                    long hourStart = origin + ((day - 1) * 24L + h) * HOUR;
                    clock.advanceTo(hourStart);
                    AtomicLong done = new AtomicLong();
                    List<Future<?>> running = new ArrayList<>(options.buildsPerHour());
                    for (int b = 0; b < options.buildsPerHour(); b++) {
                        long number = buildNumber++;
                        running.add(pool.submit(() -> {
                            build(number);
                            // Time moves with the work done: the hour is over when its builds are.
                            clock.advanceTo(hourStart + done.incrementAndGet() * HOUR / options.buildsPerHour());
                        }));
                    }
                    await(running);
                    cleanup(pushedHourBefore, pool, new SplittableRandom(options.seed() * 31 + day * 24L + h));
                    pushedHourBefore = pushedThisHour;
                    pushedThisHour = new ConcurrentLinkedQueue<>();
                    clock.advanceTo(hourStart + HOUR);
                    // The fleet goes on while the lifecycle runs, as it would; one hourly run at a time.
                    if (hourlyRun != null) {
                        hourlyRun.get();
                    }
                    LayerCacheServer node = server;
                    hourlyRun = lifecycleThread.submit(() -> {
                        long runStarted = System.nanoTime();
                        node.lifecycle().run();
                        lifecycleNanos.addAndGet(System.nanoTime() - runStarted);
                    });
                }
                hourlyRun.get();
                Map<String, Long> evicted = evictions();
                Census census;
                long startupMillis = -1;
                long checkMillis = -1;
                if (options.restartDaily() || day == options.days()) {
                    server.close();
                    server = null;
                    evictedBefore.clear();
                    evictedBefore.putAll(evicted);
                    census = census(config.dataDir(), clock.millis());
                    startupMillis = start();
                    checkMillis = server.lifecycle().status().startupCheck().millis();
                } else {
                    census = Census.bytesOnly(config.dataDir());
                }
                Day d = new Day(day, builds.sum(), stepTags.sum(), hits.sum(), exports.sum(), deletions.sum(),
                        evicted.getOrDefault("tag", 0L), evicted.getOrDefault("manifest", 0L), census.records,
                        census.untagged, census.oldestUntaggedHours, census.maxTombstonesPerRepository,
                        census.oldestTombstoneHours, census.metadataBytes, census.walBytes, census.blobBytes,
                        startupMillis, checkMillis, census.openMillis, (System.nanoTime() - dayStarted) / 1e9,
                        lifecycleNanos.getAndSet(0) / 1e9, repushes.sum(), errors.sum());
                days.add(d);
                out.println(line(d));
            }
        } finally {
            pool.shutdownNow();
            lifecycleThread.shutdownNow();
            if (server != null) {
                server.close();
            }
        }
        return days;
    }

    private ServerConfig nodeConfig() throws Exception {
        List<String> flags = new ArrayList<>(List.of("--data-dir", options.dataDir().toString()));
        // The tool's own defaults, unless the caller gave them: this machine only, free ports, and no
        // background scrubbing (it re-reads blobs; nothing here corrupts them).
        Map<String, String> defaults = Map.of("--bind-address", "127.0.0.1", "--http-port", "0", "--grpc-port", "0",
                "--scrub-rate", "0");
        defaults.forEach((flag, value) -> {
            if (options.serverFlags().stream().noneMatch(f -> f.equals(flag) || f.startsWith(flag + "="))) {
                flags.add(flag);
                flags.add(value);
            }
        });
        flags.addAll(options.serverFlags());
        return ConfigLoader.load(flags.toArray(String[]::new), Map.of());
    }

    /** Starts the node; returns how long the start took, in milliseconds. */
    private long start() throws Exception {
        long started = System.nanoTime();
        server = LayerCacheServer.start(config, clock);
        long millis = (System.nanoTime() - started) / 1_000_000;
        base = "http://127.0.0.1:" + server.httpPort();
        return millis;
    }

    private static void await(List<Future<?>> futures) throws Exception {
        for (Future<?> f : futures) {
            f.get();
        }
    }

    private void build(long number) {
        SplittableRandom random = new SplittableRandom(options.seed() * 1_000_003 + number);
        Project project = projects.get(random.nextInt(projects.size()));
        long[] versions = project.nextBuild(random, options.changeRate());
        List<Layer> chain = new ArrayList<>(versions.length);
        String parent = project.repository;
        for (int i = 0; i < versions.length; i++) {
            String key = sha256(utf8(parent + "\n" + i + "\n" + versions[i])).substring("sha256:".length());
            chain.add(Layer.of(key, options.layerMinBytes(), options.layerMaxBytes()));
            parent = key;
        }
        try {
            if (project.buildkit) {
                buildkit(project, chain);
            } else {
                buildah(project, chain);
            }
            builds.increment();
        } catch (IOException e) {
            fail(project.repository + " build " + number + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * buildah's per-step cache: look the step key up as a tag; on a miss push the step's layer,
     * its config and its image (every layer so far), tagged with the key.
     */
    private void buildah(Project p, List<Layer> chain) throws IOException, InterruptedException {
        for (int i = 0; i < chain.size(); i++) {
            Layer step = chain.get(i);
            int status = send(request("/v2/" + p.repository + "/manifests/" + step.key()).GET()
                    .header("Accept", MediaTypes.OCI_MANIFEST)).statusCode();
            if (status == 200) {
                hits.increment();
                continue;
            }
            expect(status, 404, "GET step manifest");
            pushBlob(p.repository, step.content(), step.digest());
            byte[] config = imageConfig(chain.subList(0, i + 1));
            String configDigest = sha256(config);
            pushBlob(p.repository, config, configDigest);
            byte[] manifest = imageManifest(configDigest, config.length, chain.subList(0, i + 1));
            HttpResponse<byte[]> put = putManifest(p.repository, step.key(), MediaTypes.OCI_MANIFEST, manifest);
            if (blobsCollectedMeanwhile(put)) {
                // An earlier step's tag was evicted (and its layer collected) since this build
                // found it: push the layers again, as buildah would on its next build.
                for (Layer l : chain.subList(0, i)) {
                    pushBlob(p.repository, l.content(), l.digest());
                }
                put = putManifest(p.repository, step.key(), MediaTypes.OCI_MANIFEST, manifest);
            }
            expect(put.statusCode(), 201, "PUT step manifest");
            stepTags.increment();
            pushedThisHour.add(new String[] {p.repository, step.key()});
        }
    }

    /**
     * BuildKit with {@code --export-cache type=registry,ref=...:buildcache,mode=max}: import the
     * previous export (index and cache config), rebuild from the first step it does not hold,
     * then export every layer with a new cache config under the same tag.
     */
    private void buildkit(Project p, List<Layer> chain) throws IOException, InterruptedException {
        HttpResponse<byte[]> previous = send(request("/v2/" + p.repository + "/manifests/" + BUILDCACHE).GET()
                .header("Accept", MediaTypes.OCI_INDEX));
        Set<String> exported = new HashSet<>();
        if (previous.statusCode() == 200) {
            for (JsonNode child : JSON.readTree(previous.body()).path("manifests")) {
                exported.add(child.path("digest").asText());
                if (MediaTypes.BUILDKIT_CACHE_CONFIG.equals(child.path("mediaType").asText())) {
                    int status = send(request("/v2/" + p.repository + "/blobs/" + child.path("digest").asText())
                            .GET()).statusCode();
                    expect(status, 200, "GET cache config");
                }
            }
        } else {
            expect(previous.statusCode(), 404, "GET buildcache");
        }
        boolean cascade = false;
        for (Layer step : chain) {
            cascade |= !exported.contains(step.digest());
            if (cascade) {
                pushBlob(p.repository, step.content(), step.digest());
            } else {
                hits.increment();
                // The exporter checks each layer before it names it; a collected one goes up again.
                int status = send(request("/v2/" + p.repository + "/blobs/" + step.digest())
                        .method("HEAD", HttpRequest.BodyPublishers.noBody())).statusCode();
                if (status == 404) {
                    pushBlob(p.repository, step.content(), step.digest());
                } else {
                    expect(status, 200, "HEAD layer");
                }
            }
        }
        byte[] cacheConfig = cacheConfig(chain);
        String cacheConfigDigest = sha256(cacheConfig);
        pushBlob(p.repository, cacheConfig, cacheConfigDigest);
        byte[] index = cacheIndex(chain, cacheConfigDigest, cacheConfig.length);
        HttpResponse<byte[]> put = putManifest(p.repository, BUILDCACHE, MediaTypes.OCI_INDEX, index);
        if (blobsCollectedMeanwhile(put)) {
            // The previous export was evicted after its layers were checked, and they went with it.
            for (Layer l : chain) {
                pushBlob(p.repository, l.content(), l.digest());
            }
            put = putManifest(p.repository, BUILDCACHE, MediaTypes.OCI_INDEX, index);
        }
        expect(put.statusCode(), 201, "PUT buildcache");
        exports.increment();
    }

    /** The cleanup job: deletes a share of the step tags pushed the hour before (some are evicted already). */
    private void cleanup(ConcurrentLinkedQueue<String[]> candidates, ExecutorService pool, SplittableRandom random)
            throws Exception {
        List<String[]> all = new ArrayList<>(candidates);
        Collections.shuffle(all, new java.util.Random(random.nextLong()));
        List<Future<?>> running = new ArrayList<>();
        for (String[] tag : all.subList(0, (int) Math.round(all.size() * options.deleteShare()))) {
            running.add(pool.submit(() -> {
                try {
                    int status = send(request("/v2/" + tag[0] + "/manifests/" + tag[1]).DELETE()).statusCode();
                    if (status == 202) {
                        deletions.increment();
                    } else {
                        expect(status, 404, "DELETE tag");
                    }
                } catch (IOException e) {
                    fail("DELETE " + tag[0] + ":" + tag[1] + ": " + e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
        }
        await(running);
    }

    // ------------------------------------------------------------------ documents

    private static byte[] imageConfig(List<Layer> layers) {
        StringBuilder sb = new StringBuilder("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{")
                .append("\"io.buildah.step\":\"").append(layers.get(layers.size() - 1).key())
                .append("\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
        for (int i = 0; i < layers.size(); i++) {
            sb.append(i > 0 ? "," : "").append('"').append(layers.get(i).digest()).append('"');
        }
        sb.append("]},\"history\":[");
        for (int i = 0; i < layers.size(); i++) {
            sb.append(i > 0 ? "," : "").append("{\"created_by\":\"/bin/sh -c step ").append(i).append("\"}");
        }
        return utf8(sb.append("]}").toString());
    }

    private static byte[] imageManifest(String configDigest, int configSize, List<Layer> layers) {
        StringBuilder sb = new StringBuilder("{\"schemaVersion\":2,\"mediaType\":\"").append(MediaTypes.OCI_MANIFEST)
                .append("\",\"config\":{\"mediaType\":\"").append(CONFIG_TYPE).append("\",\"digest\":\"")
                .append(configDigest).append("\",\"size\":").append(configSize).append("},\"layers\":[");
        for (int i = 0; i < layers.size(); i++) {
            sb.append(i > 0 ? "," : "").append(descriptor(LAYER_TYPE, layers.get(i).digest(),
                    layers.get(i).content().length));
        }
        return utf8(sb.append("]}").toString());
    }

    /** A cache config in BuildKit's shape: each record (a step key) with the layer chain that holds it. */
    private static byte[] cacheConfig(List<Layer> layers) {
        StringBuilder sb = new StringBuilder("{\"layers\":[");
        for (int i = 0; i < layers.size(); i++) {
            sb.append(i > 0 ? "," : "").append("{\"blob\":\"").append(layers.get(i).digest()).append('"')
                    .append(i > 0 ? ",\"parent\":" + (i - 1) : "").append('}');
        }
        sb.append("],\"records\":[");
        for (int i = 0; i < layers.size(); i++) {
            sb.append(i > 0 ? "," : "").append("{\"digest\":\"sha256:").append(layers.get(i).key())
                    .append("\",\"results\":[{\"layer\":").append(i).append("}]")
                    .append(i > 0 ? ",\"inputs\":[[{\"selector\":\"\",\"link\":" + (i - 1) + "}]]" : "").append('}');
        }
        return utf8(sb.append("]}").toString());
    }

    private static byte[] cacheIndex(List<Layer> layers, String configDigest, int configSize) {
        StringBuilder sb = new StringBuilder("{\"schemaVersion\":2,\"mediaType\":\"").append(MediaTypes.OCI_INDEX)
                .append("\",\"manifests\":[");
        for (Layer l : layers) {
            sb.append(descriptor(LAYER_TYPE, l.digest(), l.content().length)).append(',');
        }
        sb.append(descriptor(MediaTypes.BUILDKIT_CACHE_CONFIG, configDigest, configSize));
        return utf8(sb.append("]}").toString());
    }

    private static String descriptor(String mediaType, String digest, long size) {
        return "{\"mediaType\":\"" + mediaType + "\",\"digest\":\"" + digest + "\",\"size\":" + size + "}";
    }

    // ------------------------------------------------------------------ HTTP

    private HttpRequest.Builder request(String path) {
        return HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60));
    }

    private HttpResponse<byte[]> send(HttpRequest.Builder request) throws IOException, InterruptedException {
        return http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    private void pushBlob(String repository, byte[] content, String digest) throws IOException, InterruptedException {
        int status = send(request("/v2/" + repository + "/blobs/uploads/?digest=" + digest)
                .POST(HttpRequest.BodyPublishers.ofByteArray(content))
                .header("Content-Type", "application/octet-stream")).statusCode();
        expect(status, 201, "POST blob");
    }

    private HttpResponse<byte[]> putManifest(String repository, String reference, String mediaType, byte[] body)
            throws IOException, InterruptedException {
        return send(request("/v2/" + repository + "/manifests/" + reference)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(body)).header("Content-Type", mediaType));
    }

    /**
     * True when a manifest was refused because blobs it names are gone: the root that held them was
     * evicted after the build saw them, and a release outranks the grace a read gave them. Counted,
     * and the build pushes the blobs again.
     */
    private boolean blobsCollectedMeanwhile(HttpResponse<byte[]> put) {
        boolean gone = put.statusCode() == 400 && utf8(put.body()).contains("MANIFEST_BLOB_UNKNOWN");
        if (gone) {
            repushes.increment();
        }
        return gone;
    }

    private void expect(int status, int wanted, String what) {
        if (status != wanted) {
            fail(what + ": HTTP " + status);
        }
    }

    private void fail(String what) {
        errors.increment();
        if (errors.sum() <= 20) {
            System.err.println("fleet week: unexpected answer: " + what);
        }
    }

    // ------------------------------------------------------------------ counting

    /** Roots evicted since the simulation began, by kind: the earlier runs' and the running node's counters. */
    private Map<String, Long> evictions() {
        Map<String, Long> total = new HashMap<>(evictedBefore);
        Matcher m = EVICTIONS.matcher(server.metrics().scrape("text/plain"));
        while (m.find()) {
            total.merge(m.group(1), (long) Double.parseDouble(m.group(2)), Long::sum);
        }
        return total;
    }

    /** What a stopped node's data folder holds. */
    record Census(Map<Table, Long> records, long untagged, double oldestUntaggedHours,
                  long maxTombstonesPerRepository, double oldestTombstoneHours, long metadataBytes, long walBytes,
                  long blobBytes, long openMillis) {
        /** The folders' sizes only, of a node that is running. */
        static Census bytesOnly(Path dataDir) throws IOException {
            DataLayout layout = new DataLayout(dataDir);
            return new Census(Map.of(), -1, -1, -1, -1, bytesUnder(layout.metadata(), ""),
                    bytesUnder(layout.metadata(), ".log"), bytesUnder(layout.blobs(), ""), -1);
        }
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
            for (Path f : (Iterable<Path>) files.sorted(java.util.Comparator.reverseOrder())::iterator) {
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
                    .mapToLong(FleetWeek::sizeOrZero).sum();
        }
    }

    private static long sizeOrZero(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return 0; // removed while walking (a running node's log or table files)
        }
    }

    // ------------------------------------------------------------------ reporting

    /** The tables reported in columns: the ones traffic of this kind writes. */
    private static final List<Table> COLUMNS = List.of(Table.BLOBS, Table.LINKS, Table.MANIFESTS, Table.TAGS,
            Table.TOMBSTONES, Table.ACCESS, Table.RELEASES);

    static String line(Day d) {
        String counts = String.format(Locale.ROOT, "day %d: %,d builds, %,d step hits, %,d step tags, %,d exports,"
                        + " %,d deletions, evicted %,d tags and %,d untagged manifests; ", d.day(), d.builds(),
                d.hits(), d.stepTags(), d.exports(), d.deletions(), d.evictedTags(), d.evictedManifests());
        String bytes = String.format(Locale.ROOT, "metadata %.1f MB (write-ahead log %.1f MB), blobs %.1f MB",
                d.metadataBytes() / 1e6, d.walBytes() / 1e6, d.blobBytes() / 1e6);
        String time = String.format(Locale.ROOT, "%.0f s real (hourly lifecycle runs %.1f s), %d manifest pushes"
                        + " repeated after their blobs were collected, %d errors", d.realSeconds(), d.lifecycleSeconds(),
                d.repushes(), d.errors());
        if (d.records().isEmpty()) {
            return counts + bytes + ", measured running; " + time;
        }
        StringBuilder tables = new StringBuilder();
        d.records().forEach((t, n) -> tables.append(tables.length() > 0 ? " " : "").append(t.columnFamily())
                .append('=').append(n));
        return counts + "records: " + tables + String.format(Locale.ROOT, "; untagged %,d (oldest %.1f h),"
                        + " tombstones <= %,d per repository (oldest %.1f h); ", d.untagged(), d.oldestUntaggedHours(),
                d.maxTombstonesPerRepository(), d.oldestTombstoneHours())
                + bytes + String.format(Locale.ROOT, "; start-up %,d ms (check %,d ms; opening the metadata alone"
                + " %,d ms); ", d.startupMillis(), d.startupCheckMillis(), d.metadataOpenMillis()) + time;
    }

    /** The days as a markdown table; tables that stayed empty all week are named below it. */
    public static String markdown(List<Day> days) {
        StringBuilder sb = new StringBuilder("| day | step tags | exports | deletions | evicted tags / manifests |");
        for (Table t : COLUMNS) {
            sb.append(' ').append(t.name()).append(" |");
        }
        sb.append(" untagged | metadata MB (WAL) | blobs MB | start-up ms |\n|---|---|---|---|---|");
        sb.append("---|".repeat(COLUMNS.size())).append("---|---|---|---|\n");
        for (Day d : days) {
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

    // ------------------------------------------------------------------ small things

    private static String sha256(byte[] bytes) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
