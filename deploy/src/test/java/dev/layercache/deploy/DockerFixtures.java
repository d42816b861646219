package dev.layercache.deploy;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.exception.NotFoundException;
import dev.layercache.server.testing.RealTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.testcontainers.DockerClientFactory;

/**
 * What the image tests need from this machine: a Docker daemon Testcontainers can use, images in
 * it, the server's packaged jar. Each missing piece skips the test with the reason, or fails it
 * when {@code layercache.requireRealClients} is true (see {@link RealTools}).
 */
final class DockerFixtures {
    /**
     * The environment Testcontainers needs with the dockerd of shared/REAL-CLIENTS.md (it ignores
     * system properties for these): the socket; no Ryuk (its image cannot be pulled: without this
     * the first container hangs for minutes); and localhost as the containers' host (no bridge).
     */
    static final String TESTCONTAINERS_ENV = "DOCKER_HOST=unix:///tmp/dockerd.sock TESTCONTAINERS_RYUK_DISABLED=true"
            + " TESTCONTAINERS_HOST_OVERRIDE=localhost";

    private DockerFixtures() {
    }

    /** Skips or fails unless the environment is set for Testcontainers and a daemon answers. */
    static void requireDocker() {
        List<String> missing = new ArrayList<>();
        String dockerHost = System.getenv("DOCKER_HOST");
        if (dockerHost == null || dockerHost.isBlank()) {
            missing.add("DOCKER_HOST");
        }
        if (!"true".equalsIgnoreCase(System.getenv("TESTCONTAINERS_RYUK_DISABLED"))) {
            missing.add("TESTCONTAINERS_RYUK_DISABLED=true");
        }
        if (System.getenv("TESTCONTAINERS_HOST_OVERRIDE") == null) {
            missing.add("TESTCONTAINERS_HOST_OVERRIDE");
        }
        RealTools.requireThat(missing.isEmpty(), "Testcontainers is not set up: " + missing
                + " missing from the environment (export " + TESTCONTAINERS_ENV + ", with dockerd started as .ci/run does)");
        RealTools.requireThat(DockerClientFactory.instance().isDockerAvailable(),
                "no Docker daemon answers at DOCKER_HOST=" + dockerHost + " (start dockerd as .ci/run does)");
    }

    /** Skips or fails unless {@code image} is in the daemon already (nothing can be pulled here). */
    static void requireImage(String image, String why) {
        boolean present;
        try {
            docker().inspectImageCmd(image).exec();
            present = true;
        } catch (NotFoundException e) {
            present = false;
        }
        RealTools.requireThat(present, "the image " + image + " is not in the Docker daemon: " + why);
    }

    static DockerClient docker() {
        return DockerClientFactory.instance().client();
    }

    /** The repository's root (the surefire configuration says; else the first folder up holding deploy/). */
    static Path repoRoot() {
        String configured = System.getProperty("layercache.repoRoot");
        if (configured != null) {
            return Path.of(configured).toAbsolutePath().normalize();
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("deploy/Dockerfile")) && Files.isRegularFile(dir.resolve("README.md"))) {
                return dir;
            }
        }
        throw new IllegalStateException("no folder at or above " + Path.of("").toAbsolutePath() + " holds deploy/Dockerfile");
    }

    /** The server's shaded jar, which {@code ./mvnw package} (or verify) makes before this module's tests. */
    static Path serverJar() {
        Path jar = Path.of(System.getProperty("layercache.serverJar",
                repoRoot().resolve("server/target/layercache-server.jar").toString())).toAbsolutePath().normalize();
        RealTools.requireThat(Files.isRegularFile(jar), jar + " does not exist: package the server first"
                + " (./mvnw -B package -DskipTests, or run the deploy module's tests through ./mvnw verify)");
        return jar;
    }
}
