package dev.layercache.client;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs external tools (skopeo, umoci, openssl) for tests: stdin closed, output captured, a timeout. */
final class Commands {
    private Commands() {
    }

    /** Runs {@code command}; returns its output, or fails the test with it. */
    static String run(Object... command) throws Exception {
        List<String> c = new ArrayList<>();
        for (Object o : command) {
            c.add(o.toString());
        }
        Path log = Files.createTempFile("layercache-cmd", ".log");
        try {
            Process p = new ProcessBuilder(c).redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            if (!p.waitFor(90, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("timed out: " + c + "\n" + Files.readString(log));
            }
            String out = Files.readString(log);
            if (p.exitValue() != 0) {
                throw new AssertionError("exit " + p.exitValue() + ": " + c + "\n" + out);
            }
            return out;
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
