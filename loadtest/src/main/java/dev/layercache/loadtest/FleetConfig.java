package dev.layercache.loadtest;

import static java.util.Objects.requireNonNull;

import java.net.URI;
import java.time.Duration;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * What a fleet run simulates and against what: validated once, when built. The picocli command
 * ({@link FleetCommand}) and the tests build it; the defaults are those of the command line.
 */
final class FleetConfig {
    private static final Pattern NAME_COMPONENT = Pattern.compile("[a-z0-9]+(?:[._-][a-z0-9]+)*");

    /** How the probability that a commit changes a step's inputs varies along the build. */
    enum ChangeProfile {
        /**
         * Later steps change more often, as in a real Dockerfile (base image and dependency
         * manifests rarely, sources nearly every commit): step {@code i} of {@code n} (from 1)
         * changes with probability {@code min(1, 2 r i / (n + 1))}, whose mean over the steps is
         * the change rate {@code r}.
         */
        RAMP,
        /** Every step changes with the change rate. */
        UNIFORM
    }

    final int builders;
    final int projects;
    final int steps;
    final Duration duration;
    final Duration warmup;
    final long maxBuilds;
    final long seed;
    final SizeMix sizeMix;
    final double changeRate;
    final ChangeProfile changeProfile;
    final double commitProbability;
    final boolean referenceOnly;
    final String namespacePrefix;
    final String runId;
    final String grpcTarget;
    final URI registry;
    final boolean evicting;
    final boolean recordPublications;
    final Duration pause;

    private FleetConfig(Builder b) {
        this.builders = b.builders;
        this.projects = b.projects;
        this.steps = b.steps;
        this.duration = b.duration;
        this.warmup = b.warmup;
        this.maxBuilds = b.maxBuilds;
        this.seed = b.seed;
        this.sizeMix = b.sizeMix.capped(b.maxLayerBytes);
        this.changeRate = b.changeRate;
        this.changeProfile = b.changeProfile;
        this.commitProbability = b.commitProbability;
        this.referenceOnly = b.referenceOnly;
        this.namespacePrefix = b.namespacePrefix;
        this.runId = b.runId;
        this.grpcTarget = b.grpcTarget;
        this.registry = b.registry;
        this.evicting = b.evicting;
        this.recordPublications = b.recordPublications;
        this.pause = b.pause;
    }

    static Builder builder() {
        return new Builder();
    }

    /**
     * The probability that a commit changes the inputs of step {@code index} (from 0), as the
     * {@link ChangeProfile} says.
     */
    double changeProbability(int index) {
        return switch (changeProfile) {
            case UNIFORM -> changeRate;
            case RAMP -> Math.min(1.0, 2.0 * changeRate * (index + 1) / (steps + 1));
        };
    }

    /**
     * The namespace (an OCI repository name) of a project in a run of {@code protocol}: each run
     * and each protocol has its own, so that a run starts on an empty cache, which is what the
     * simulator's expectations assume.
     */
    String namespace(Protocol protocol, int project) {
        return namespacePrefix + "/" + runId + "/" + protocol.cliName() + "/p" + project;
    }

    /** Builds a {@link FleetConfig}; every setting has the command line's default. */
    static final class Builder {
        private int builders = 8;
        private int projects = 4;
        private int steps = 6;
        private Duration duration = Duration.ofSeconds(30);
        private Duration warmup = Duration.ofSeconds(5);
        private long maxBuilds;
        private long seed = 1;
        private SizeMix sizeMix = SizeMix.parse(SizeMix.DEFAULT);
        private long maxLayerBytes = 256L << 20;
        private double changeRate = 0.1;
        private ChangeProfile changeProfile = ChangeProfile.RAMP;
        private double commitProbability = 0.5;
        private boolean referenceOnly;
        private String namespacePrefix = "fleet";
        private String runId = Long.toString(System.currentTimeMillis() / 1000 % 1_000_000_000L, 36);
        private String grpcTarget = "127.0.0.1:9092";
        private URI registry = URI.create("http://127.0.0.1:5000");
        private boolean evicting;
        private boolean recordPublications = true;
        private Duration pause = Duration.ZERO;

        Builder builders(int n) {
            this.builders = n;
            return this;
        }

        Builder projects(int n) {
            this.projects = n;
            return this;
        }

        Builder steps(int n) {
            this.steps = n;
            return this;
        }

        /** When builders stop starting builds (those running finish), counted from the start of the run. */
        Builder duration(Duration d) {
            this.duration = requireNonNull(d, "duration");
            return this;
        }

        /** How long builds run before measuring starts (the JIT compiles, the cache fills). */
        Builder warmup(Duration d) {
            this.warmup = requireNonNull(d, "warmup");
            return this;
        }

        /** At most this many builds in all, warm-up included; 0 for no limit but the duration. */
        Builder maxBuilds(long n) {
            this.maxBuilds = n;
            return this;
        }

        Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        Builder sizeMix(SizeMix mix) {
            this.sizeMix = requireNonNull(mix, "mix");
            return this;
        }

        Builder maxLayerBytes(long bytes) {
            this.maxLayerBytes = bytes;
            return this;
        }

        Builder changeRate(double rate) {
            this.changeRate = rate;
            return this;
        }

        Builder changeProfile(ChangeProfile profile) {
            this.changeProfile = requireNonNull(profile, "profile");
            return this;
        }

        Builder commitProbability(double p) {
            this.commitProbability = p;
            return this;
        }

        Builder referenceOnly(boolean referenceOnly) {
            this.referenceOnly = referenceOnly;
            return this;
        }

        Builder namespacePrefix(String prefix) {
            this.namespacePrefix = requireNonNull(prefix, "prefix");
            return this;
        }

        Builder runId(String runId) {
            this.runId = requireNonNull(runId, "runId");
            return this;
        }

        Builder grpcTarget(String target) {
            this.grpcTarget = requireNonNull(target, "target");
            return this;
        }

        Builder registry(URI registry) {
            this.registry = requireNonNull(registry, "registry");
            return this;
        }

        /**
         * Whether the cache may evict what the fleet published (a node with a small budget): a
         * lookup that misses a published key is then a capacity miss, not a fault, provided the
         * cache can say so (gRPC: the server's reason must be {@code EVICTED}; OCI gives no reason,
         * and the soak checks those misses against the node's capacity-miss counter). A hit the
         * model rules out, and content that does not verify, stay faults.
         */
        Builder evicting(boolean evicting) {
            this.evicting = evicting;
            return this;
        }

        /**
         * Whether the run keeps every publication for tests to check on the server afterwards
         * (the default); a long run (the soak) turns this off so the simulator's memory stays flat.
         */
        Builder recordPublications(boolean record) {
            this.recordPublications = record;
            return this;
        }

        /** How long each builder waits after a build before it starts the next (0: none). */
        Builder pause(Duration d) {
            this.pause = requireNonNull(d, "pause");
            return this;
        }

        /**
         * The configuration.
         *
         * @throws IllegalArgumentException naming the first setting out of range
         */
        FleetConfig build() {
            check(builders >= 1, "--builders must be at least 1");
            check(projects >= 1, "--projects must be at least 1");
            check(steps >= 1 && steps <= 1000, "--steps must be within 1 and 1000");
            check(!duration.isNegative() && !duration.isZero(), "--duration must be positive");
            check(!warmup.isNegative() && warmup.compareTo(duration) < 0, "--warmup must be shorter than --duration");
            check(maxBuilds >= 0, "--builds must not be negative");
            check(!pause.isNegative(), "--pause must not be negative");
            check(maxLayerBytes >= 1, "--max-layer-mib must be positive");
            check(changeRate >= 0 && changeRate <= 1, "--change-rate must be within 0 and 1");
            check(commitProbability >= 0 && commitProbability <= 1, "--commit-probability must be within 0 and 1");
            for (String part : (namespacePrefix + "/" + runId).split("/", -1)) {
                check(NAME_COMPONENT.matcher(part).matches(), "--namespace and --run-id must be lower-case "
                        + "repository name components ([a-z0-9] with . _ - between), not \"" + part + "\"");
            }
            String scheme = registry.getScheme() == null ? "" : registry.getScheme().toLowerCase(Locale.ROOT);
            check((scheme.equals("http") || scheme.equals("https")) && registry.getHost() != null,
                    "--registry must be an http:// or https:// URL");
            return new FleetConfig(this);
        }

        private static void check(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException(message);
            }
        }
    }
}
