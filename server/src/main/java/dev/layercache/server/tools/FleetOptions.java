package dev.layercache.server.tools;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * What {@link FleetWeek} simulates, from its command line or from a {@link Builder}.
 *
 * @param buildkitProjects how many of the {@code projects} build with BuildKit and export their cache
 * @param changeRate       the share of builds that change one step's inputs (the step is uniform)
 * @param buildsPerHour    builds of the whole fleet per simulated hour (projects chosen uniformly)
 * @param deleteShare      the share of the step tags pushed in an hour that the cleanup job deletes the hour after
 * @param restartDaily     stop, count and start the node at the end of every day; false: only at the end
 *                         of the run (the other days only measure the metadata folder while it runs)
 * @param serverFlags      flags for the node, as on its command line
 */
public record FleetOptions(Path dataDir, int days, int projects, int buildkitProjects, int steps, double changeRate,
                           int buildsPerHour, double deleteShare, int threads, int layerMinBytes, int layerMaxBytes,
                           long seed, boolean restartDaily, List<String> serverFlags) {
    static final String USAGE = "usage: FleetWeek DATA-DIR [--days N] [--projects N] [--buildkit-projects N]"
            + " [--steps N] [--change-rate P] [--builds-per-hour N] [--delete-share P] [--threads N]"
            + " [--layer-bytes MIN-MAX]"
            + " [--seed N] [--restart-daily true|false] [-- server flags]";

    public FleetOptions {
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

        public FleetOptions build() {
            return new FleetOptions(dataDir, days, projects, buildkitProjects, steps, changeRate, buildsPerHour,
                    deleteShare, threads, layerMinBytes, layerMaxBytes, seed, restartDaily, serverFlags);
        }
    }

    /**
     * The tool's command line: {@code DATA-DIR [options] [-- server flags]} (see {@link #USAGE}).
     *
     * @throws IllegalArgumentException for a missing folder or value, an unknown option, a bad number
     *                                  or inconsistent values: the tool prints it with {@link #USAGE}
     */
    static FleetOptions parse(String[] args) {
        if (args.length < 1 || args[0].startsWith("-")) {
            throw new IllegalArgumentException("a data folder is needed");
        }
        Builder o = builder(Path.of(args[0]));
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

    /** The first line of the tool's output. */
    String describe() {
        return String.format(Locale.ROOT, "%d days, %d projects (%d BuildKit), %d steps, change rate %.2f,"
                        + " %d builds/h, %.0f%% of each hour's step tags deleted, %d threads, layers %d-%d bytes,"
                        + " %s; node flags: %s", days, projects, buildkitProjects, steps, changeRate, buildsPerHour,
                deleteShare * 100, threads, layerMinBytes, layerMaxBytes,
                restartDaily ? "a restart every day" : "one restart at the end", String.join(" ", serverFlags));
    }
}
