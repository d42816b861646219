package dev.layercache.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.client.cli.Main;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The builder loop of client/README.md on two "machines" (two clients, each with its own build
 * context and layer directory): the second gets every step from the cache; after one input of
 * step 3 of 6 changes, the misses are one root cause at step 3 (INPUTS_CHANGED) and cascades at
 * steps 4 to 6 (PARENT_CHANGED), as the library and the {@code explain} command report.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class BuilderLoopTest {
    static final String NAMESPACE = "team/app";

    @TempDir
    static Path work;

    static Node node;

    @BeforeAll
    static void start() throws Exception {
        node = Node.start(Files.createDirectories(work.resolve("server")));
    }

    @AfterAll
    static void stop() {
        node.close();
    }

    /** One step of the example build: an instruction and the context paths it reads. */
    record BuildStep(String instruction, List<String> inputs) {
    }

    static final List<BuildStep> DOCKERFILE = List.of(
            new BuildStep("FROM scratch", List.of()),
            new BuildStep("COPY base/ /base/", List.of("base")),
            new BuildStep("COPY package.json /app/", List.of("package.json")),
            new BuildStep("RUN npm install", List.of()),
            new BuildStep("COPY src/ /app/src/", List.of("src")),
            new BuildStep("RUN npm run build", List.of()));

    /** A machine: its own build context, its own layer directory, its own client. */
    record Machine(Path context, Path layers, Path scratch, LayerCacheClient client, List<String> ran) {
        static Machine create(Path root) throws IOException {
            Path context = Files.createDirectories(root.resolve("context"));
            Files.createDirectories(context.resolve("base"));
            Files.writeString(context.resolve("base/os-release"), "ID=example\n");
            Files.writeString(context.resolve("package.json"), "{\"name\":\"app\",\"version\":\"1.0.0\"}\n");
            Files.createDirectories(context.resolve("src/lib"));
            Files.writeString(context.resolve("src/index.js"), "console.log('hi')\n");
            Files.writeString(context.resolve("src/lib/util.js"), "exports.x = 1\n");
            return new Machine(context, root.resolve("layers"), Files.createDirectories(root.resolve("scratch")),
                    node.client(), new ArrayList<>());
        }
    }

    /** The steps of the build in {@code m}'s context: each key chained to the one before. */
    static List<Step> steps(Machine m) throws IOException {
        List<Step> steps = new ArrayList<>();
        Optional<CacheKey> parent = Optional.empty();
        for (int i = 0; i < DOCKERFILE.size(); i++) {
            BuildStep s = DOCKERFILE.get(i);
            Step step = Step.builder(NAMESPACE + ":Dockerfile#" + (i + 1))
                    .parent(parent)
                    .instruction(s.instruction())
                    .inputs(StepInput.fromPaths(m.context(), s.inputs().stream().map(Path::of).toList()))
                    .build();
            steps.add(step);
            parent = Optional.of(step.key());
        }
        return steps;
    }

    /** The loop of the README: look up, fetch on a hit, run and publish on a miss. */
    static List<StepOutcome> build(Machine m) throws IOException {
        BuildCache cache = BuildCache.builder(m.client(), NAMESPACE).layerDirectory(m.layers()).build();
        List<StepOutcome> outcomes = new ArrayList<>();
        for (Step step : steps(m)) {
            outcomes.add(cache.run(step, s -> {
                // "Running" the step: its layer is a file derived from the step's key.
                m.ran().add(s.stepId());
                Path layer = m.scratch().resolve(s.key().digest().hex() + ".tar.gz");
                Files.writeString(layer, ("layer of " + s.instruction() + " " + s.key() + "\n").repeat(1000));
                return new StepResult(List.of(LayerFile.of(layer)), java.util.Map.of("created_by", s.instruction()));
            }));
        }
        lastReport = cache.report();
        return outcomes;
    }

    static BuildExplanation lastReport;

    static final String README_REPORT = """
            #  STEP                   RESULT  REASON          INSTRUCTION              CHANGES
            1  team/app:Dockerfile#1  hit                     FROM scratch
            2  team/app:Dockerfile#2  hit                     COPY base/ /base/
            3  team/app:Dockerfile#3  miss    INPUTS_CHANGED  COPY package.json /app/  package.json modified   <-- root cause
            4  team/app:Dockerfile#4  miss    PARENT_CHANGED  RUN npm install          an earlier step changed
            5  team/app:Dockerfile#5  miss    PARENT_CHANGED  COPY src/ /app/src/      an earlier step changed
            6  team/app:Dockerfile#6  miss    PARENT_CHANGED  RUN npm run build        an earlier step changed

            2 of 6 steps hit; root cause: step 3 (team/app:Dockerfile#3)
            step 3 (COPY package.json /app/) missed: INPUTS_CHANGED: package.json modified; \
            3 later steps missed because of it
            """;

    static String[] cli(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out), new PrintWriter(err), args);
        return new String[] {Integer.toString(code), out.toString(), err.toString()};
    }

    @Test
    void secondMachineHitsEveryStepThenOneChangedInputIsTheRootCause() throws Exception {
        Machine a = Machine.create(work.resolve("a"));
        Machine b = Machine.create(work.resolve("b"));
        try {
            // Machine A builds from nothing: every step is new, runs, and is published.
            List<StepOutcome> first = build(a);
            assertEquals(6, a.ran().size());
            for (StepOutcome o : first) {
                assertFalse(o.isHit());
                assertEquals(MissReason.NEW_STEP, o.lookup().miss().orElseThrow().reason());
            }

            // Machine B: the same sources elsewhere; every step comes from the cache, layers fetched.
            List<StepOutcome> second = build(b);
            assertEquals(List.of(), b.ran(), "nothing runs on the second machine");
            for (int i = 0; i < 6; i++) {
                StepOutcome o = second.get(i);
                assertTrue(o.isHit(), "step " + (i + 1));
                assertEquals(first.get(i).step().key(), o.step().key());
                assertEquals("created_by", o.entry().attributes().keySet().iterator().next());
                Path fetched = o.layerFiles().get(0);
                assertTrue(fetched.startsWith(b.layers()), fetched.toString());
                assertArrayEquals(Files.readAllBytes(first.get(i).layerFiles().get(0)), Files.readAllBytes(fetched));
            }
            assertTrue(lastReport.rootCauseIndex().isEmpty());
            assertEquals(6, lastReport.hits());

            // One input of step 3 changes on machine B.
            Files.writeString(b.context().resolve("package.json"), "{\"name\":\"app\",\"version\":\"1.0.1\"}\n");
            List<Step> changed = steps(b);

            // Before building: the server says what will miss, and why.
            BuildExplanation before = BuildCache.builder(b.client(), NAMESPACE).build().explain(changed);
            assertExplained(before);
            assertEquals(changed.get(2).inputs().get(0).digest(),
                    before.steps().get(2).miss().orElseThrow().inputChanges().get(0).digest().orElseThrow());

            // The explain command says the same from a build record...
            Path record = work.resolve("build.txtpb");
            BuildRecord.ofSteps(NAMESPACE, changed).write(record);
            String[] r = cli("explain", "--plaintext", "--target", node.target(), "--lookups", record.toString());
            assertEquals("1", r[0], "exit code 1: steps missed\n" + r[1] + r[2]);
            assertTable(r[1]);
            // ...and from STEP_ID=KEY pairs.
            List<String> args = new ArrayList<>(List.of("explain", "--plaintext", "--target", node.target(),
                    "-n", NAMESPACE));
            changed.forEach(s -> args.add(s.stepId() + "=" + s.key()));
            String[] pairs = cli(args.toArray(String[]::new));
            assertEquals("1", pairs[0], pairs[1] + pairs[2]);
            assertTrue(pairs[1].contains("INPUTS_CHANGED") && pairs[1].contains("root cause"), pairs[1]);
            assertFalse(pairs[1].contains("removed"), "no input changes invented for bare steps:\n" + pairs[1]);
            assertTrue(pairs[1].contains("2 of 6 steps hit; root cause: step 3"), pairs[1]);

            // Building: steps 1 and 2 hit, 3 to 6 run; the lookups classified the misses the same way.
            List<StepOutcome> third = build(b);
            assertEquals(List.of(NAMESPACE + ":Dockerfile#3", NAMESPACE + ":Dockerfile#4",
                    NAMESPACE + ":Dockerfile#5", NAMESPACE + ":Dockerfile#6"), b.ran());
            assertTrue(third.get(0).isHit() && third.get(1).isHit());
            assertExplained(lastReport);
            assertTrue(lastReport.summary().startsWith("step 3 (COPY package.json /app/) missed: INPUTS_CHANGED"),
                    lastReport.summary());
            assertTable(lastReport.render());
            assertEquals(README_REPORT, lastReport.render(), "the report client/README.md shows");

            // And machine A, after B published, hits the new build: the cache serves both machines.
            Files.writeString(a.context().resolve("package.json"), "{\"name\":\"app\",\"version\":\"1.0.1\"}\n");
            a.ran().clear();
            build(a);
            assertEquals(List.of(), a.ran());
        } finally {
            a.client().close();
            b.client().close();
        }
    }

    static void assertExplained(BuildExplanation x) {
        assertEquals(6, x.steps().size());
        assertTrue(x.steps().get(0).hit() && x.steps().get(1).hit(), x.render());
        MissExplanation root = x.steps().get(2).miss().orElseThrow();
        assertEquals(MissReason.INPUTS_CHANGED, root.reason(), x.render());
        assertEquals(1, root.inputChanges().size(), x.render());
        assertEquals(InputChange.Kind.MODIFIED, root.inputChanges().get(0).kind());
        assertEquals("package.json", root.inputChanges().get(0).path());
        assertFalse(root.instructionChanged());
        for (int i = 3; i < 6; i++) {
            assertEquals(MissReason.PARENT_CHANGED, x.steps().get(i).miss().orElseThrow().reason(), x.render());
        }
        assertEquals(2, x.rootCauseIndex().getAsInt());
        assertEquals(NAMESPACE + ":Dockerfile#3", x.rootCause().orElseThrow().stepId());
    }

    static void assertTable(String table) {
        String[] lines = table.split("\n");
        assertTrue(lines[0].startsWith("#") && lines[0].contains("RESULT") && lines[0].contains("REASON"), table);
        assertTrue(lines[1].contains("Dockerfile#1") && lines[1].contains("hit"), table);
        assertTrue(lines[3].contains("Dockerfile#3") && lines[3].contains("INPUTS_CHANGED")
                && lines[3].contains("package.json modified") && lines[3].contains("root cause"), table);
        for (int i = 4; i <= 6; i++) {
            assertTrue(lines[i].contains("miss") && lines[i].contains("PARENT_CHANGED"), table);
        }
        assertTrue(table.contains("2 of 6 steps hit; root cause: step 3"), table);
    }
}
