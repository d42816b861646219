package dev.layercache.server.tools;

import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ConfigLoader;
import dev.layercache.server.config.ServerConfig;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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
 *
 * <p>This class is the simulation's loop: hours, days, the node's stops and starts. Around it, in
 * this package: {@link FleetOptions} (what to simulate, the command line), {@link SimulatedClock},
 * {@link FleetTraffic} (the builds and the cleanup job), {@link FleetDocuments} (what they push),
 * {@link Census} (the count at the end of a day) and {@link FleetDay} (a day's figures, the report).
 */
public final class FleetWeek {
    private static final long HOUR = SimulatedClock.HOUR;
    private static final Pattern EVICTIONS =
            Pattern.compile("(?m)^layercache_evictions_total\\{kind=\"(\\w+)\"[^}]*}\\s+(\\S+)$");

    private final FleetOptions options;
    private final SimulatedClock clock = new SimulatedClock();
    private final FleetTraffic traffic;
    /** Evictions counted by the node's earlier runs (its counters start at 0 with every start). */
    private final Map<String, Long> evictedBefore = new HashMap<>();
    /** Real time the hourly lifecycle runs took (waiting for a run of the node's own included). */
    private final AtomicLong lifecycleNanos = new AtomicLong();
    private ServerConfig config;
    private LayerCacheServer server;

    private FleetWeek(FleetOptions options) {
        this.options = options;
        this.traffic = new FleetTraffic(options);
    }

    public static void main(String[] args) throws Exception {
        // The node logs every collection at INFO; the script sends its log to a file instead.
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null
                && System.getProperty("org.slf4j.simpleLogger.logFile") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        FleetOptions options;
        try {
            options = FleetOptions.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.err.println(FleetOptions.USAGE);
            System.exit(2);
            return;
        }
        List<FleetDay> days = run(options, System.out);
        System.out.println();
        System.out.println(FleetDay.markdown(days));
    }

    /** Runs the simulation; a line per day goes to {@code out}. The node is stopped at the end. */
    public static List<FleetDay> run(FleetOptions options, PrintStream out) throws Exception {
        return new FleetWeek(options).simulate(out);
    }

    private List<FleetDay> simulate(PrintStream out) throws Exception {
        config = nodeConfig();
        out.println("fleet week: " + options.describe());
        List<FleetDay> days = new ArrayList<>();
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
                            traffic.build(number);
                            // Time moves with the work done: the hour is over when its builds are.
                            clock.advanceTo(hourStart + done.incrementAndGet() * HOUR / options.buildsPerHour());
                        }));
                    }
                    FleetTraffic.await(running);
                    traffic.cleanupHourBefore(pool, new SplittableRandom(options.seed() * 31 + day * 24L + h));
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
                    census = Census.census(config.dataDir(), clock.millis());
                    startupMillis = start();
                    // The check runs in the background once the node is ready: its time is its own.
                    checkMillis = server.lifecycle().status().awaitStartupCheck(java.time.Duration.ofMinutes(30))
                            .millis();
                } else {
                    census = Census.bytesOnly(config.dataDir());
                }
                FleetTraffic.Totals t = traffic.totals();
                FleetDay d = new FleetDay(day, t.builds(), t.stepTags(), t.hits(), t.exports(), t.deletions(),
                        evicted.getOrDefault("tag", 0L), evicted.getOrDefault("manifest", 0L), census.records(),
                        census.untagged(), census.oldestUntaggedHours(), census.maxTombstonesPerRepository(),
                        census.oldestTombstoneHours(), census.metadataBytes(), census.walBytes(), census.blobBytes(),
                        startupMillis, checkMillis, census.openMillis(), (System.nanoTime() - dayStarted) / 1e9,
                        lifecycleNanos.getAndSet(0) / 1e9, t.repushes(), t.errors());
                days.add(d);
                out.println(d.line());
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
        traffic.target(server.httpPort());
        return millis;
    }

    /** Roots evicted since the simulation began, by kind: the earlier runs' and the running node's counters. */
    private Map<String, Long> evictions() {
        Map<String, Long> total = new HashMap<>(evictedBefore);
        Matcher m = EVICTIONS.matcher(server.metrics().scrape("text/plain"));
        while (m.find()) {
            total.merge(m.group(1), (long) Double.parseDouble(m.group(2)), Long::sum);
        }
        return total;
    }
}
