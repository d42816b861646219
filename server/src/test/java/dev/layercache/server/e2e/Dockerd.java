package dev.layercache.server.e2e;

import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.TestServer;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The dockerd of REAL-CLIENTS.md on {@code unix:///tmp/dockerd.sock} for end-to-end tests of its
 * BuildKit: an already running one (as {@code .ci/run} starts it) or, when that socket does not
 * answer, one started here with the same flags and stopped by {@link #close}. Commands run with
 * the Docker 20.10 client ({@code /usr/bin/docker}, which has BuildKit) and a docker config folder
 * of their own, so no credentials of the machine are used.
 */
final class Dockerd implements AutoCloseable {
    static final String DOCKER = "/usr/bin/docker";
    static final String SOCKET = "/tmp/dockerd.sock";
    static final String DOCKER_HOST = "unix://" + SOCKET;
    static final Path LOG = Path.of("/tmp/dockerd.log");

    /** The dockerd started here, or null when a running one was reused. */
    private Process own;
    private final Path config;

    private Dockerd(Path config) {
        this.config = config;
    }

    /** Reuses or starts dockerd; skips (fails when real clients are required) where it cannot run. */
    static Dockerd startOrReuse() throws Exception {
        RealTools.require(DOCKER, "the Docker 20.10 client of package docker.io");
        Dockerd d = new Dockerd(Files.createTempDirectory("layercache-e2e-docker-config"));
        if (d.answers()) {
            return d;
        }
        Path dockerd = RealTools.require("dockerd", "BuildKit end-to-end tests (package docker.io)");
        // exactly the flags of REAL-CLIENTS.md
        ProcessBuilder pb = new ProcessBuilder(dockerd.toString(), "--iptables=false", "--bridge=none",
                "--storage-driver=vfs", "--host", DOCKER_HOST, "--data-root", "/tmp/dockerd-data",
                "--exec-root", "/tmp/dockerd-exec", "--pidfile", "/tmp/dockerd.pid")
                .redirectErrorStream(true)
                .redirectOutput(LOG.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        try {
            d.own = pb.start();
        } catch (IOException e) {
            d.close();
            RealTools.requireThat(false, "cannot start dockerd: " + e);
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline && d.own.isAlive()) {
            if (d.answers()) {
                return d;
            }
            Thread.sleep(500);
        }
        String log = Files.exists(LOG) ? Files.readString(LOG) : "(no log)";
        d.close();
        RealTools.requireThat(false, "dockerd did not answer on " + SOCKET + " within 60 s (needs root);"
                + " its log:\n" + (log.length() <= 4000 ? log : log.substring(log.length() - 4000)));
        throw new IllegalStateException("unreachable");
    }

    /** A docker command against this dockerd, with BuildKit on. */
    Cmd docker(Object... args) {
        return dockerWithConfig(config, args);
    }

    /** A docker command against this dockerd with the docker config folder {@code dockerConfig} (its logins). */
    Cmd dockerWithConfig(Path dockerConfig, Object... args) {
        return Cmd.of(DOCKER, List.of(args)).env("DOCKER_HOST", DOCKER_HOST).env("DOCKER_BUILDKIT", "1")
                .env("DOCKER_CONFIG", dockerConfig.toString());
    }

    private boolean answers() {
        if (!Files.exists(Path.of(SOCKET))) {
            return false;
        }
        return docker("info", "--format", "{{.ServerVersion}}").timeout(Duration.ofSeconds(15)).run().exitCode() == 0;
    }

    /** Stops the dockerd started here (a reused one keeps running) and removes the config folder. */
    @Override
    public void close() {
        if (own != null) {
            own.destroy(); // SIGTERM: dockerd stops its containerd and removes its socket
            try {
                if (!own.waitFor(30, TimeUnit.SECONDS)) {
                    own.descendants().forEach(ProcessHandle::destroyForcibly);
                    own.destroyForcibly();
                    own.waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            own = null;
        }
        TestServer.deleteRecursively(config);
    }
}
