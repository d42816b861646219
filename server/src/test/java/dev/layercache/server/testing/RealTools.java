package dev.layercache.server.testing;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Finds the real clients that end-to-end tests drive (buildah, skopeo, dockerd...). Where one is
 * missing the test is skipped with a reason, except when the system property
 * {@code layercache.requireRealClients} is true (as {@code .ci/run} sets it): then it fails, so CI
 * never passes by skipping.
 */
public final class RealTools {
    private RealTools() {
    }

    public static boolean required() {
        return Boolean.getBoolean("layercache.requireRealClients")
                || "true".equalsIgnoreCase(System.getenv("LAYERCACHE_REQUIRE_REAL_CLIENTS"));
    }

    /** The absolute path of {@code tool} (searched on PATH unless absolute), or skip/fail. */
    public static Path require(String tool, String why) {
        Path found = find(tool);
        if (found == null) {
            String message = tool + " is not installed (" + why + "); install it with apt-get, as .ci/run does";
            if (required()) {
                fail(message + " [layercache.requireRealClients=true]");
            }
            assumeTrue(false, message);
        }
        return found;
    }

    /** Skips (or, when required, fails) unless {@code condition}. */
    public static void requireThat(boolean condition, String message) {
        if (!condition) {
            if (required()) {
                fail(message + " [layercache.requireRealClients=true]");
            }
            assumeTrue(false, message);
        }
    }

    public static Path find(String tool) {
        if (tool.startsWith("/")) {
            Path p = Path.of(tool);
            return Files.isExecutable(p) ? p : null;
        }
        String path = System.getenv().getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
        for (String dir : (path + ":/usr/sbin:/sbin").split(":")) {
            Path p = Path.of(dir, tool);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }
}
