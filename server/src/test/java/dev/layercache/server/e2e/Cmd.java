package dev.layercache.server.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs one external command (a real client: buildah, skopeo, docker...) with a timeout, stdin
 * closed, stdout and stderr merged and captured. A command past its timeout is killed with all its
 * descendants; nothing waits forever.
 */
final class Cmd {
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(120);
    /** The most output quoted in an assertion message (the end of it is kept). */
    private static final int QUOTE_LIMIT = 24_000;

    private final List<String> command;
    private final Map<String, String> env = new LinkedHashMap<>();
    private Path dir;
    private Duration timeout = DEFAULT_TIMEOUT;

    private Cmd(List<String> command) {
        this.command = List.copyOf(command);
    }

    static Cmd of(Object... parts) {
        List<String> c = new ArrayList<>();
        for (Object p : parts) {
            if (p instanceof List<?> l) {
                l.forEach(x -> c.add(String.valueOf(x)));
            } else {
                c.add(String.valueOf(p));
            }
        }
        return new Cmd(c);
    }

    Cmd dir(Path d) {
        this.dir = d;
        return this;
    }

    Cmd env(Map<String, String> vars) {
        env.putAll(vars);
        return this;
    }

    Cmd env(String name, String value) {
        env.put(name, value);
        return this;
    }

    Cmd timeout(Duration t) {
        this.timeout = t;
        return this;
    }

    /** Runs and returns whatever happened. */
    Result run() {
        Path log = null;
        long t0 = System.nanoTime();
        try {
            log = Files.createTempFile("layercache-e2e-cmd", ".log");
            ProcessBuilder pb = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            if (dir != null) {
                pb.directory(dir.toFile());
            }
            pb.environment().putAll(env);
            Process p = pb.start();
            boolean finished;
            try {
                finished = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                kill(p);
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted while running " + String.join(" ", command), e);
            }
            if (!finished) {
                kill(p);
            }
            String out = new String(Files.readAllBytes(log), StandardCharsets.UTF_8);
            Result r = new Result(command, finished ? p.exitValue() : -1, out, !finished,
                    Duration.ofNanos(System.nanoTime() - t0));
            System.out.printf("[e2e] $ %s -> %s in %.1fs%n", String.join(" ", command),
                    r.timedOut ? "TIMED OUT" : "exit " + r.exitCode, r.took.toMillis() / 1000.0);
            return r;
        } catch (IOException e) {
            throw new AssertionError("cannot run " + String.join(" ", command) + ": " + e, e);
        } finally {
            if (log != null) {
                try {
                    Files.deleteIfExists(log);
                } catch (IOException ignored) {
                    // a temp file left behind is harmless
                }
            }
        }
    }

    /** Runs and asserts exit status 0, quoting the output otherwise. */
    Result ok() {
        Result r = run();
        r.assertOk();
        return r;
    }

    private static void kill(Process p) {
        List<ProcessHandle> children = p.descendants().toList();
        p.destroyForcibly();
        children.forEach(ProcessHandle::destroyForcibly);
        try {
            p.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    record Result(List<String> command, int exitCode, String output, boolean timedOut, Duration took) {
        void assertOk() {
            assertEquals(0, exitCode, () -> "command failed: " + describe());
        }

        /** The command, how it ended and its output (the end of it, if long). */
        String describe() {
            String out = output.length() > QUOTE_LIMIT
                    ? "[... " + (output.length() - QUOTE_LIMIT) + " chars cut ...]\n"
                            + output.substring(output.length() - QUOTE_LIMIT)
                    : output;
            return "\n$ " + String.join(" ", command) + "\n"
                    + (timedOut ? "TIMED OUT after " + took.toSeconds() + "s (killed)" : "exit " + exitCode)
                    + "\n----- output -----\n" + out + "\n------------------";
        }

        /** The last non-blank line of the output, trimmed. */
        String lastLine() {
            String[] lines = output.strip().split("\n");
            return lines[lines.length - 1].trim();
        }
    }
}
