package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.RealTools;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * head-under-load.sh at a tiny size against real nodes of the server jar this build made: two
 * nodes (AFTER_JAR, and BEFORE_JAR with BEFORE_ARGS: two event loops) each take HEADs on their own and while one client downloads and
 * one uploads an 8 MiB blob. Its table must have a row per node whose HEADs all answered 200 (the
 * script fails on any other status) and whose busy phase really moved blobs, both ways; nginx is
 * left out, as the script does whenever clients upload. Skipped with the reason where hey or curl
 * is missing; in CI (which installs them) it fails instead.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class HeadUnderLoadTest {
    /** A row of the script's table: target, then seven "median (min–max)" cells. */
    private static final Pattern ROW = Pattern.compile(
            "^\\| (\\w+) \\| ([0-9.]+) \\([^)]*\\) \\| ([0-9.]+) \\([^)]*\\) \\| ([0-9.]+) \\([^)]*\\) \\| ([0-9.]+) "
                    + "\\([^)]*\\) \\| ([0-9.]+) \\([^)]*\\) \\| ([0-9.]+) \\([^)]*\\) \\| ([0-9.]+) \\([^)]*\\) \\|$",
            Pattern.MULTILINE);

    @TempDir
    Path work;

    @Test
    void measuresEveryNodeQuietAndWhileBlobsMoveBothWays() throws Exception {
        for (String tool : List.of("bash", "hey", "curl", "sha256sum")) {
            RealTools.require(tool, "head-under-load.sh needs it: apt-get install hey curl");
        }
        Path script = Path.of("head-under-load.sh").toAbsolutePath();
        assertTrue(Files.exists(script), "run from the loadtest module: " + script);
        Path jar = Path.of("../server/target/layercache-server.jar").toAbsolutePath().normalize();
        assertTrue(Files.exists(jar), jar + " is missing: the server module's package phase makes it"
                + " (./mvnw -B verify from the top level)");

        ProcessBuilder run = new ProcessBuilder("bash", script.toString()).redirectErrorStream(false);
        run.environment().putAll(java.util.Map.of("AFTER_JAR", jar.toString(), "BEFORE_JAR", jar.toString(),
                "ROUNDS", "1", "DURATION", "1", "CONNS", "2", "DOWNLOADERS", "1", "UPLOADERS", "1",
                "BLOB_MIB", "8", "WORK_PARENT", work.toString(), "BEFORE_ARGS", "--event-loops 2"));
        run.redirectError(work.resolve("stderr.log").toFile());
        Process p = run.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(150, TimeUnit.SECONDS), out);
        String log = Files.readString(work.resolve("stderr.log"));
        assertEquals(0, p.exitValue(), out + log);

        Matcher rows = ROW.matcher(out);
        int seen = 0;
        while (rows.find()) {
            String target = rows.group(1);
            assertTrue(List.of("layercache", "before").contains(target), "nginx takes no uploads: " + out);
            assertTrue(Double.parseDouble(rows.group(2)) > 0, target + " answered HEADs when quiet: " + out);
            assertTrue(Double.parseDouble(rows.group(4)) > 0, target + " answered HEADs while blobs moved: " + out);
            assertTrue(Double.parseDouble(rows.group(7)) > 0, target + " sent blobs meanwhile: " + out);
            assertTrue(Double.parseDouble(rows.group(8)) > 0, target + " took uploads meanwhile: " + out);
            seen++;
        }
        assertEquals(2, seen, "a row per node: " + out);
        assertTrue(log.contains("round 1, layercache:") && log.contains("round 1, before:"), log);
        assertTrue(log.contains(jar + " --event-loops 2)"), "the second node took its own flags: " + log);
        assertTrue(out.contains("(1 clients downloading, 1 uploading a 8 MiB blob, again and again)"), out);
        try (var leftovers = Files.list(work)) {
            assertEquals(List.of("stderr.log"), leftovers.map(f -> f.getFileName().toString()).sorted().toList(),
                    "the script removes its folder on exit");
        }
    }
}
