package dev.layercache.loadtest;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.layercache.client.CacheKey;
import dev.layercache.client.Digest;
import dev.layercache.client.Step;
import dev.layercache.client.StepInput;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The simulated projects: each a Dockerfile of {@code --steps} steps with one input file per
 * step, at a commit. A commit changes each step's input with the probability
 * {@link FleetConfig#changeProbability(int)} gives; a changed input changes that step's key and,
 * through the parent chain ({@link CacheKey}), the key of every step after it, exactly as in a
 * real build.
 *
 * <p>Keys and layers depend on the seed, the project, the step and its input's version, never on
 * the run id or the protocol: the same seed gives the same keys and the same layer bytes in every
 * run, and the namespaces ({@link FleetConfig#namespace}) keep runs apart.
 */
final class FleetWorkload {
    /** Instructions of a typical Dockerfile; only their step's input changes a key, the text is for people. */
    private static final String[] INSTRUCTIONS = {
        "FROM registry.example/base:1",
        "COPY deps.lock /app/",
        "RUN install-dependencies",
        "COPY src/ /app/src/",
        "RUN build",
        "RUN test",
        "COPY assets/ /app/assets/",
        "RUN package",
    };

    private final FleetConfig config;
    private final Project[] projects;
    /** One layer per key, shared by the builders: its digest is computed once per run. */
    private final ConcurrentHashMap<CacheKey, SyntheticLayer> layers = new ConcurrentHashMap<>();

    FleetWorkload(FleetConfig config) {
        this.config = config;
        this.projects = new Project[config.projects];
        for (int i = 0; i < projects.length; i++) {
            projects[i] = new Project(config.steps);
        }
    }

    /**
     * The plan of a build of {@code project}: with {@code commit}, first a new commit of it
     * (drawing which steps change with {@code random}), else its current commit again (a second
     * CI job or a retry of the same sources).
     */
    BuildPlan plan(int project, boolean commit, SplittableRandom random) {
        Project p = projects[project];
        synchronized (p) {
            if (commit) {
                p.commit++;
                for (int i = 0; i < config.steps; i++) {
                    if (random.nextDouble() < config.changeProbability(i)) {
                        p.versions[i]++;
                    }
                }
            }
            return planOf(project, p);
        }
    }

    /** A new commit of {@code project} that changes exactly the inputs of {@code changedSteps} (from 0). */
    BuildPlan commitChanging(int project, Collection<Integer> changedSteps) {
        Project p = projects[project];
        synchronized (p) {
            p.commit++;
            changedSteps.forEach(i -> p.versions[i]++);
            return planOf(project, p);
        }
    }

    /** The layer that the step with {@code key} produces. */
    SyntheticLayer layer(CacheKey key) {
        return layers.computeIfAbsent(key, k -> {
            long layerSeed = Long.parseUnsignedLong(k.digest().hex().substring(0, 16), 16);
            return new SyntheticLayer(layerSeed, config.sizeMix.sample(new SplittableRandom(~layerSeed)));
        });
    }

    static String projectName(int project) {
        return "p" + project;
    }

    private BuildPlan planOf(int project, Project p) {
        List<PlannedStep> steps = new ArrayList<>(config.steps);
        Optional<CacheKey> parent = Optional.empty();
        for (int i = 0; i < config.steps; i++) {
            String instruction = INSTRUCTIONS[i % INSTRUCTIONS.length]
                    + (i < INSTRUCTIONS.length ? "" : " #" + (i / INSTRUCTIONS.length + 1));
            String input = "context/step-" + (i + 1) + "/input";
            Digest content = Digest.sha256((config.seed + "\n" + project + "\n" + i + "\n" + p.versions[i])
                    .getBytes(UTF_8));
            Step step = Step.builder(projectName(project) + ":Dockerfile#" + (i + 1))
                    .parent(parent)
                    .instruction(instruction)
                    .input(StepInput.of(input, 0644, content))
                    .build();
            steps.add(new PlannedStep(i, step, layer(step.key())));
            parent = Optional.of(step.key());
        }
        return new BuildPlan(project, p.commit, List.copyOf(steps));
    }

    /** A project's sources: a commit number and the version of each step's input. */
    private static final class Project {
        int commit;
        final int[] versions;

        Project(int steps) {
            this.versions = new int[steps];
        }
    }

    /**
     * One build to run.
     *
     * @param project the project's index
     * @param commit the commit built
     * @param steps the steps in build order
     */
    record BuildPlan(int project, int commit, List<PlannedStep> steps) {
    }

    /**
     * One step of a build.
     *
     * @param index its index in the build, from 0
     * @param step its identity and key
     * @param layer the layer it produces when it runs
     */
    record PlannedStep(int index, Step step, SyntheticLayer layer) {
        CacheKey key() {
            return step.key();
        }
    }
}
