package dev.layercache.deploy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.command.HealthState;
import com.github.dockerjava.api.command.InspectImageResponse;
import com.github.dockerjava.api.model.Bind;
import com.github.dockerjava.api.model.ExposedPort;
import com.github.dockerjava.api.model.Volume;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.S3Server;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.testcontainers.containers.Container;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.images.builder.ImageFromDockerfile;
import org.testcontainers.utility.DockerImageName;

/**
 * The image users deploy, built from {@code deploy/Dockerfile} on the offline Debian JRE base of
 * shared/REAL-CLIENTS.md ({@code --build-arg BASE_IMAGE=local/debian-jre:17}, made by
 * {@code .ci/run}) with the jar {@code ./mvnw package} just made, and run by Testcontainers: it
 * serves the OCI API, runs as uid 10001, turns healthy through its own HEALTHCHECK, keeps its data
 * in a volume across containers, and two containers of it form a cluster on one bucket.
 *
 * <p>The daemon here has no bridge network ({@code dockerd --bridge=none}), so containers use the
 * host network with ports this test picks, passed as {@code LAYERCACHE_HTTP_PORT} and
 * {@code LAYERCACHE_GRPC_PORT} (which is also how the health check finds the port), bound to
 * 127.0.0.1. Testcontainers needs {@code DOCKER_HOST}, {@code TESTCONTAINERS_RYUK_DISABLED=true}
 * and {@code TESTCONTAINERS_HOST_OVERRIDE=localhost} in the environment ({@code .ci/run} exports
 * them). Without dockerd, the base image or the jar the test skips with the reason, and fails
 * when {@code layercache.requireRealClients} is true.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ServerImageTest {
    /** The base; another JRE image with {@code -Dlayercache.imageBase=...} (it must be in the daemon already). */
    static final String BASE_IMAGE = System.getProperty("layercache.imageBase", "local/debian-jre:17");
    static final Duration HEALTHY_WITHIN = Duration.ofSeconds(60);
    static final String UID = "10001";

    static String image;

    // withDockerfilePath is deprecated for withDockerfile(Path), which would make deploy/ the
    // context and try to pull the FROM images first: here the base is a build argument, and local.
    @SuppressWarnings("deprecation")
    @BeforeAll
    static void buildImage() {
        DockerFixtures.requireDocker();
        DockerFixtures.requireImage(BASE_IMAGE, "the image's base (.ci/run builds local/debian-jre:17 with debootstrap"
                + " and docker import, as shared/REAL-CLIENTS.md shows)");
        Path jar = DockerFixtures.serverJar();
        Path root = DockerFixtures.repoRoot();
        String tag = "localhost/layercache-image-test:" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        long start = System.nanoTime();
        // The context holds what the repository root's .dockerignore lets in, at the same paths,
        // so this is `docker build -f deploy/Dockerfile --build-arg BASE_IMAGE=... .` from the root.
        // RUN steps get no network (the daemon here has no bridge; the build needs none); a failed
        // step leaves no container behind on this shared daemon.
        image = new ImageFromDockerfile(tag, false)
                .withFileFromPath("deploy/Dockerfile", root.resolve("deploy/Dockerfile"))
                .withFileFromPath("server/target/layercache-server.jar", jar)
                .withDockerfilePath("deploy/Dockerfile")
                .withBuildArg("BASE_IMAGE", BASE_IMAGE)
                .withBuildImageCmdModifier(cmd -> cmd.withNetworkMode("none").withForcerm(true))
                .get();
        System.out.printf("[image] built %s on %s in %.1f s%n", image, BASE_IMAGE, (System.nanoTime() - start) / 1e9);
    }

    /**
     * Removes the image and with it its final stage's steps (Testcontainers' delete-on-exit left it
     * behind here, with Ryuk disabled). The layout stage stays as the daemon's build cache: it does
     * not depend on the jar, so the next build reuses it rather than adding another copy.
     */
    @AfterAll
    static void removeImage() {
        if (image != null) {
            DockerFixtures.docker().removeImageCmd(image).withForce(true).exec();
        }
    }

    @Test
    void theImageIsConfiguredForOperators() {
        InspectImageResponse inspect = DockerFixtures.docker().inspectImageCmd(image).exec();
        var config = inspect.getConfig();
        assertNotNull(config);
        assertEquals(UID + ":" + UID, config.getUser(), "runs as the fixed non-root uid:gid");
        assertTrue(Arrays.asList(config.getExposedPorts()).containsAll(List.of(ExposedPort.tcp(5000), ExposedPort.tcp(9092))),
                "exposes the HTTP and gRPC ports: " + Arrays.toString(config.getExposedPorts()));
        assertTrue(config.getVolumes() != null && config.getVolumes().containsKey("/data"), "VOLUME /data");
        List<String> env = Arrays.asList(config.getEnv());
        assertTrue(env.containsAll(List.of("LAYERCACHE_DATA_DIR=/data", "LAYERCACHE_BIND_ADDRESS=0.0.0.0",
                "LAYERCACHE_HTTP_PORT=5000", "LAYERCACHE_GRPC_PORT=9092")), env.toString());
        assertEquals(List.of("java", "-XX:MaxRAMPercentage=50", "-XX:+ExitOnOutOfMemoryError", "-jar",
                "/app/layercache-server.jar"), Arrays.asList(config.getEntrypoint()));
        assertTrue(String.join(" ", config.getHealthcheck().getTest()).contains("dev.layercache.server.HealthCheck"),
                "HEALTHCHECK runs the server's own check: " + config.getHealthcheck().getTest());
    }

    @Test
    void servesTheOciApiAsUid10001AndTurnsHealthy() throws Exception {
        Ports ports = Ports.pick();
        try (GenericContainer<?> node = node(ports, Map.of())) {
            node.start();
            Registry registry = new Registry(ports.http());
            assertEquals(200, registry.get("/v2/").statusCode(), node.getLogs());

            byte[] blob = random(3 << 20, 1);
            assertEquals(201, registry.pushBlob("image/test", blob), node.getLogs());
            var got = registry.get("/v2/image/test/blobs/" + Registry.sha256(blob));
            assertEquals(200, got.statusCode());
            assertArrayEquals(blob, got.body(), "the blob comes back byte for byte");

            Container.ExecResult id = node.execInContainer("id", "-u");
            assertEquals(UID, id.getStdout().trim(), "the image's user: " + id);
            // The server itself (PID 1: java is the entrypoint, no shell in between) is not root.
            Container.ExecResult status = node.execInContainer("cat", "/proc/1/status");
            String uids = status.getStdout().lines().filter(l -> l.startsWith("Uid:")).findFirst().orElse("");
            assertEquals(List.of("Uid:", UID, UID, UID, UID), Arrays.asList(uids.trim().split("\\s+")),
                    "real, effective, saved and file-system uid of the server process");
            String cmdline = node.execInContainer("cat", "/proc/1/cmdline").getStdout();
            assertTrue(cmdline.startsWith("java\0"), "PID 1 is java (receives SIGTERM itself): " + cmdline.replace('\0', ' '));

            long start = System.nanoTime();
            HealthState health = awaitHealthy(node);
            System.out.printf("[image] healthy %.1f s after the node was ready%n", (System.nanoTime() - start) / 1e9);
            var last = health.getLog().get(health.getLog().size() - 1);
            assertEquals(0, last.getExitCodeLong(), last.getOutput());
            assertTrue(last.getOutput().contains("127.0.0.1:" + ports.http() + "/readyz answered 200"), last.getOutput());
        }
    }

    @Test
    void dataSurvivesANewContainerOnTheSameVolume() throws Exception {
        DockerClient docker = DockerFixtures.docker();
        String volume = "layercache-image-test-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        docker.createVolumeCmd().withName(volume).exec();
        try {
            byte[] layer = random(2 << 20, 2);
            byte[] config = "{\"architecture\":\"amd64\",\"os\":\"linux\"}".getBytes(StandardCharsets.UTF_8);
            String manifest = Registry.imageManifest(config, layer);
            Ports first = Ports.pick();
            // A named volume starts as a copy of the image's /data, owned by 10001: writable as is.
            try (GenericContainer<?> node = node(first, Map.of()).withCreateContainerCmdModifier(
                    cmd -> cmd.getHostConfig().withBinds(new Bind(volume, new Volume("/data"))))) {
                node.start();
                Registry registry = new Registry(first.http());
                assertEquals(201, registry.pushBlob("image/kept", layer), node.getLogs());
                assertEquals(201, registry.pushBlob("image/kept", config));
                assertEquals(201, registry.pushManifest("image/kept", "v1", "application/vnd.oci.image.manifest.v1+json",
                        manifest));
            } // docker stop (SIGTERM: a graceful shutdown) and rm

            Ports second = Ports.pick();
            try (GenericContainer<?> node = node(second, Map.of()).withCreateContainerCmdModifier(
                    cmd -> cmd.getHostConfig().withBinds(new Bind(volume, new Volume("/data"))))) {
                node.start();
                Registry registry = new Registry(second.http());
                var m = registry.get("/v2/image/kept/manifests/v1");
                assertEquals(200, m.statusCode(), "the tag pushed to the first container: " + node.getLogs());
                assertEquals(manifest, new String(m.body(), StandardCharsets.UTF_8));
                var blob = registry.get("/v2/image/kept/blobs/" + Registry.sha256(layer));
                assertEquals(200, blob.statusCode());
                assertArrayEquals(layer, blob.body());
            }
        } finally {
            docker.removeVolumeCmd(volume).exec();
        }
    }

    @Test
    void twoContainersShareOneBucket() throws Exception {
        try (S3Server s3 = new S3Server()) {
            s3.start();
            Map<String, String> cluster = new HashMap<>(s3.environment());
            cluster.putAll(Map.of(
                    "LAYERCACHE_S3_BUCKET", S3Server.BUCKET,
                    "LAYERCACHE_S3_ENDPOINT", s3.endpoint().toString(),
                    "LAYERCACHE_S3_REGION", S3Server.REGION,
                    "LAYERCACHE_S3_PATH_STYLE", "true"));
            Ports p1 = Ports.pick();
            Ports p2 = Ports.pick();
            // As deploy/kubernetes/ runs them: a read-only root file system, writable /data and /tmp.
            try (GenericContainer<?> one = readOnlyRoot(node(p1, cluster));
                    GenericContainer<?> two = readOnlyRoot(node(p2, cluster))) {
                CompletableFuture.allOf(CompletableFuture.runAsync(one::start), CompletableFuture.runAsync(two::start))
                        .get(3, TimeUnit.MINUTES);
                byte[] layer = random(4 << 20, 3);
                byte[] config = "{\"architecture\":\"arm64\",\"os\":\"linux\"}".getBytes(StandardCharsets.UTF_8);
                String manifest = Registry.imageManifest(config, layer);
                Registry through1 = new Registry(p1.http());
                Registry through2 = new Registry(p2.http());
                assertEquals(201, through1.pushBlob("team/shared", layer), one.getLogs());
                assertEquals(201, through1.pushBlob("team/shared", config));
                assertEquals(201, through1.pushManifest("team/shared", "v1", "application/vnd.oci.image.manifest.v1+json",
                        manifest));

                var m = through2.get("/v2/team/shared/manifests/v1");
                assertEquals(200, m.statusCode(), "container 2 resolves the tag pushed through container 1: "
                        + two.getLogs());
                assertEquals(manifest, new String(m.body(), StandardCharsets.UTF_8));
                var blob = through2.get("/v2/team/shared/blobs/" + Registry.sha256(layer));
                assertEquals(200, blob.statusCode(), two.getLogs());
                assertArrayEquals(layer, blob.body(), "container 2 serves the layer from the bucket");
                try (var files = Files.walk(s3.dataDir())) {
                    assertTrue(files.anyMatch(Files::isRegularFile), "the objects are in the bucket's folder");
                }
            }
        }
    }

    // ------------------------------------------------------------------------ helpers

    /** A node of the image on the host network at {@code ports}, started when /readyz answers 200. */
    static GenericContainer<?> node(Ports ports, Map<String, String> env) {
        return new GenericContainer<>(DockerImageName.parse(image))
                .withNetworkMode("host")
                .withEnv("LAYERCACHE_HTTP_PORT", Integer.toString(ports.http()))
                .withEnv("LAYERCACHE_GRPC_PORT", Integer.toString(ports.grpc()))
                .withEnv("LAYERCACHE_BIND_ADDRESS", "127.0.0.1")
                .withEnv(env)
                .waitingFor(new ReadyzWaitStrategy(ports.http()).withStartupTimeout(Duration.ofSeconds(120)));
    }

    /**
     * {@code docker run --read-only --tmpfs /tmp:exec}: the server writes only to /data (a volume)
     * and /tmp, where RocksDB and Netty unpack their native libraries, which must be executable
     * there (Docker mounts a tmpfs noexec unless told otherwise).
     */
    static GenericContainer<?> readOnlyRoot(GenericContainer<?> node) {
        return node.withTmpFs(Map.of("/tmp", "rw,exec,nosuid,size=256m"))
                .withCreateContainerCmdModifier(cmd -> cmd.getHostConfig().withReadonlyRootfs(true));
    }

    /** Waits for Docker's own verdict of the image's HEALTHCHECK. */
    static HealthState awaitHealthy(GenericContainer<?> node) throws InterruptedException {
        long deadline = System.nanoTime() + HEALTHY_WITHIN.toNanos();
        HealthState health = null;
        while (System.nanoTime() < deadline) {
            health = node.getCurrentContainerInfo().getState().getHealth();
            if (health != null && "healthy".equals(health.getStatus())) {
                return health;
            }
            Thread.sleep(500);
        }
        throw new AssertionError("Docker did not report the container healthy within " + HEALTHY_WITHIN + ": "
                + (health == null ? "no health state (no HEALTHCHECK?)" : health.getStatus() + " " + describe(health))
                + "\n" + node.getLogs());
    }

    private static String describe(HealthState health) {
        StringBuilder sb = new StringBuilder();
        if (health.getLog() != null) {
            health.getLog().forEach(l -> sb.append("\n  exit ").append(l.getExitCodeLong()).append(": ").append(l.getOutput()));
        }
        return sb.toString();
    }

    static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Two free ports on 127.0.0.1 for one node (host network: the test picks them). */
    record Ports(int http, int grpc) {
        static Ports pick() throws Exception {
            try (ServerSocket a = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                    ServerSocket b = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                return new Ports(a.getLocalPort(), b.getLocalPort());
            }
        }
    }
}
