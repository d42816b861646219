package dev.layercache.server.e2e;

import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.TestServer;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The dockerd of REAL-CLIENTS.md on {@code unix:///tmp/dockerd.sock} for end-to-end tests of its
 * BuildKit: an already running one (as {@code .ci/run} starts it) or, when that socket does not
 * answer, one started here with the same flags and stopped by {@link #close}. A test that needs
 * daemon flags of its own ({@code --registry-mirror}) starts a private one instead
 * ({@link #startPrivate}), with its own socket, data root and exec root, beside any other. Commands
 * run with the Docker 20.10 client ({@code /usr/bin/docker}, which has BuildKit) and a docker
 * config folder of their own, so no credentials of the machine are used.
 */
final class Dockerd implements AutoCloseable {
    static final String DOCKER = "/usr/bin/docker";
    static final String SOCKET = "/tmp/dockerd.sock";
    static final String DOCKER_HOST = "unix://" + SOCKET;
    static final Path LOG = Path.of("/tmp/dockerd.log");

    /** The dockerd started here, or null when a running one was reused. */
    private Process own;
    private final Path config;
    /** {@code unix://...} of the daemon's socket. */
    private final String host;
    /** The daemon's exec root (its containerd's socket lies under it). */
    private final Path execRoot;
    /** The folder of a private daemon (removed by {@link #close}), or null. */
    private Path privateDir;

    private Dockerd(Path config, String host, Path execRoot) {
        this.config = config;
        this.host = host;
        this.execRoot = execRoot;
    }

    /** Reuses or starts dockerd; skips (fails when real clients are required) where it cannot run. */
    static Dockerd startOrReuse() throws Exception {
        RealTools.require(DOCKER, "the Docker 20.10 client of package docker.io");
        Dockerd d = new Dockerd(Files.createTempDirectory("layercache-e2e-docker-config"), DOCKER_HOST,
                Path.of("/tmp/dockerd-exec"));
        if (d.answers()) {
            return d;
        }
        // exactly the flags of REAL-CLIENTS.md
        return d.launch(List.of("--host", DOCKER_HOST, "--data-root", "/tmp/dockerd-data",
                "--exec-root", "/tmp/dockerd-exec", "--pidfile", "/tmp/dockerd.pid"), LOG);
    }

    /**
     * Starts a dockerd of this test's own, never a running one: the flags of REAL-CLIENTS.md plus
     * {@code extraFlags}, with its socket, data root, exec root, pid file and log in a new folder
     * under {@code /tmp} (short, because containerd's socket under the exec root must fit in a
     * unix socket path). {@link #close} stops it and removes the folder.
     */
    static Dockerd startPrivate(List<String> extraFlags) throws Exception {
        RealTools.require(DOCKER, "the Docker 20.10 client of package docker.io");
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "lcd");
        Dockerd d = new Dockerd(Files.createTempDirectory("layercache-e2e-docker-config"),
                "unix://" + dir.resolve("docker.sock"), dir.resolve("exec"));
        d.privateDir = dir;
        List<String> flags = new ArrayList<>(List.of("--host", d.host, "--data-root",
                dir.resolve("data").toString(), "--exec-root", d.execRoot.toString(), "--pidfile",
                dir.resolve("dockerd.pid").toString()));
        flags.addAll(extraFlags);
        return d.launch(flags, dir.resolve("dockerd.log"));
    }

    private Dockerd launch(List<String> flags, Path log) throws Exception {
        Path dockerd = RealTools.require("dockerd", "Docker end-to-end tests (package docker.io)");
        List<String> command = new ArrayList<>(List.of(dockerd.toString(), "--iptables=false",
                "--bridge=none", "--storage-driver=vfs"));
        command.addAll(flags);
        ProcessBuilder pb = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        try {
            own = pb.start();
        } catch (IOException e) {
            close();
            RealTools.requireThat(false, "cannot start dockerd: " + e);
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline && own.isAlive()) {
            if (answers()) {
                return this;
            }
            Thread.sleep(500);
        }
        String text = Files.exists(log) ? Files.readString(log) : "(no log)";
        close();
        RealTools.requireThat(false, "dockerd did not answer on " + host + " within 60 s (needs root);"
                + " its log:\n" + (text.length() <= 4000 ? text : text.substring(text.length() - 4000)));
        throw new IllegalStateException("unreachable");
    }

    /** The socket of the containerd this dockerd runs (for {@code ctr --address}). */
    Path containerdSocket() {
        return execRoot.resolve("containerd/containerd.sock");
    }

    /** A docker command against this dockerd, with BuildKit on. */
    Cmd docker(Object... args) {
        return dockerWithConfig(config, args);
    }

    /** A docker command against this dockerd with the docker config folder {@code dockerConfig} (its logins). */
    Cmd dockerWithConfig(Path dockerConfig, Object... args) {
        return Cmd.of(DOCKER, List.of(args)).env("DOCKER_HOST", host).env("DOCKER_BUILDKIT", "1")
                .env("DOCKER_CONFIG", dockerConfig.toString());
    }

    private boolean answers() {
        if (!Files.exists(Path.of(host.substring("unix://".length())))) {
            return false;
        }
        return docker("info", "--format", "{{.ServerVersion}}").timeout(Duration.ofSeconds(15)).run().exitCode() == 0;
    }

    /**
     * Stops the dockerd started here (a reused one keeps running) and removes the config folder,
     * and a private daemon's folder.
     */
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
        if (privateDir != null) {
            try {
                TestServer.deleteRecursively(privateDir);
            } catch (UncheckedIOException e) {
                // something the daemon left mounted: the folder under /tmp stays, harmlessly
                System.out.println("[e2e] could not remove " + privateDir + ": " + e);
            }
            privateDir = null;
        }
    }
}
