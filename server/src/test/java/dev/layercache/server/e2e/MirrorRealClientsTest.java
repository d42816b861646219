package dev.layercache.server.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.mirror.UpstreamSettings;
import dev.layercache.server.testing.PrometheusText;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.LazyUpstream;
import dev.layercache.server.testing.ReferenceRegistry;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real clients pulling base images through a node that mirrors {@code docker.io}, each the way it
 * is configured in practice (docs/mirror.md, "How clients ask"): skopeo by path prefix, buildah
 * with a {@code registries.conf} mirror, dockerd with {@code --registry-mirror}, containerd's
 * {@code ctr} with a {@code hosts.toml} mirror ({@code ?ns=docker.io}).
 *
 * <p>The upstream is a real CNCF Distribution configured in the node under the name
 * {@code docker.io}, seeded by skopeo with a busybox image made here (no public registry is
 * reachable). The clients are never told its address: their own configuration sends
 * {@code docker.io} to the real Docker Hub, which cannot be reached from these machines, so a pull
 * that succeeds was served by the node. Each client pulls a repository of its own, so each test
 * also sees, in the upstream's access log, the node fetch that client's manifest exactly once, and
 * the node's served bytes grow by at least the layer; every client's result is checked against the
 * upstream's digests (manifest, config, layer).
 */
@Tag("e2e")
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class MirrorRealClientsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String DOCKER_HUB = "docker.io";
    private static final String TAG = "1";
    private static final String OCI = "application/vnd.oci.image.manifest.v1+json";
    private static final LazyUpstream REGISTRY = new LazyUpstream("layercache-e2e-upstream");
    /** The upstream's request counts once each repository was seeded ({@link #sinceSeeded}). */
    private static final java.util.Map<String, Long> SEEDING = new java.util.concurrent.ConcurrentHashMap<>();
    private static Dockerd dockerd;
    /** The image every repository of the upstream holds (same bytes, pushed to each). */
    private static BaseImage base;

    @RegisterExtension
    static final TestServer server = new TestServer(config -> config.withMirror(new ServerConfig.Mirror(List.of(
            new UpstreamSettings(DOCKER_HUB, upstream().url(), UpstreamSettings.Credentials.NONE,
                    Duration.ofMinutes(5))))));

    @TempDir
    Path work;

    /** The static busybox image: its gzip layer, its config and the manifest Distribution holds. */
    private record BaseImage(byte[] layer, String diffId, byte[] config) {
        String layerDigest() {
            return Registry.sha256(layer);
        }

        String configDigest() {
            return Registry.sha256(config);
        }
    }

    /** Started before the node, which needs its address in its configuration. */
    private static ReferenceRegistry upstream() {
        return REGISTRY.get();
    }

    @BeforeAll
    static void makeBaseImage() throws Exception {
        base = busyboxImage();
    }

    @AfterAll
    static void stopOthers() throws Exception {
        if (dockerd != null) {
            dockerd.close();
            dockerd = null;
        }
        REGISTRY.close();
    }

    // ------------------------------------------------------------------ skopeo

    @Test
    void skopeoPullsByPathPrefix() throws Exception {
        Path skopeo = RealTools.require("skopeo", "skopeo pulling through the mirror");
        ReferenceRegistry.Image image = seed("library/busybase-skopeo");
        String ref = "docker://" + server.hostPort() + "/docker.io/library/busybase-skopeo:" + TAG;

        Cmd.Result inspect = Cmd.of(skopeo, "inspect", "--tls-verify=false", ref).ok();
        JsonNode info = JSON.readTree(inspect.output());
        assertEquals(image.manifestDigest(), info.path("Digest").asText(), inspect.describe());
        assertEquals(List.of(base.layerDigest()), texts(info.path("Layers")), inspect.describe());

        Path layout = work.resolve("pulled");
        Cmd.of(skopeo, "copy", "--src-tls-verify=false", ref, "oci:" + layout + ":" + TAG).ok();
        JsonNode index = JSON.readTree(layout.resolve("index.json").toFile());
        String manifestDigest = index.path("manifests").get(0).path("digest").asText();
        assertEquals(image.manifestDigest(), manifestDigest);
        assertArrayEquals(image.manifest(), blob(layout, manifestDigest), "the upstream's manifest, byte for byte");
        assertArrayEquals(base.config(), blob(layout, base.configDigest()));
        assertArrayEquals(base.layer(), blob(layout, base.layerDigest()));

        // skopeo asked twice (inspect, copy); the upstream once for each part.
        assertEquals(1, sinceSeeded("GET", "/v2/library/busybase-skopeo/manifests/"), upstream().logText());
        assertEquals(1, askedOnce("library/busybase-skopeo", base.layerDigest()));
        assertEquals(1, askedOnce("library/busybase-skopeo", base.configDigest()));
    }

    @Test
    void aPushToAMirroredNameIsRefusedAndStoresNothing() throws Exception {
        Path skopeo = RealTools.require("skopeo", "skopeo pushing to a mirrored name");
        seed("library/busybase-push");
        Path layout = work.resolve("layout");
        Cmd.of(skopeo, "copy", "--src-tls-verify=false",
                "docker://" + server.hostPort() + "/docker.io/library/busybase-push:" + TAG, "oci:" + layout + ":" + TAG)
                .ok();

        Cmd.Result push = Cmd.of(skopeo, "copy", "--dest-tls-verify=false", "oci:" + layout + ":" + TAG,
                "docker://" + server.hostPort() + "/docker.io/library/x:" + TAG).run();
        assertNotEquals(0, push.exitCode(), "a push to a mirrored name must fail" + push.describe());
        // skopeo quotes the error of the refused upload (405 UNSUPPORTED), before sending any bytes
        assertTrue(push.output().contains("initiating layer upload") && push.output().contains("unsupported")
                && push.output().contains("read-only"), "refused as unsupported, read-only" + push.describe());
        assertFalse(catalog().contains("docker.io/library/x"), "nothing stored: " + catalog());
        assertEquals(0, upstream().requests("POST", "/v2/library/x/"), "nor passed on: " + upstream().logText());
        assertEquals(0, upstream().requests("PUT", "/v2/library/x/"));
    }

    // ------------------------------------------------------------------ buildah

    @Test
    void buildahBuildsFromABaseItsRegistriesConfMirrors() throws Exception {
        Path buildah = RealTools.require("buildah", "buildah pulling its FROM image through a registries.conf mirror");
        ReferenceRegistry.Image image = seed("library/busybase-buildah");
        // docker.io stays docker.io (the real Docker Hub, unreachable here); the node is its mirror.
        Path conf = Files.writeString(work.resolve("registries.conf"), String.join("\n",
                "unqualified-search-registries = []",
                "[[registry]]",
                "prefix = \"docker.io\"",
                "location = \"docker.io\"",
                "[[registry.mirror]]",
                "location = \"" + server.hostPort() + "/docker.io\"",
                "insecure = true",
                ""));
        Path confDir = Files.createDirectories(work.resolve("registries.conf.d"));
        Path ctx = Files.createDirectories(work.resolve("ctx"));
        // The RUN's output differs from its command line, so seeing it shows the pulled base ran.
        Files.writeString(ctx.resolve("Containerfile"), "FROM docker.io/library/busybase-buildah:" + TAG + "\n"
                + "RUN echo built-on-$(echo mirrored)-base\n");
        double served = servedBytes();

        List<Object> buildah0 = List.of(buildah, "--registries-conf", conf, "--registries-conf-dir", confDir,
                "--root", work.resolve("root"), "--runroot", work.resolve("run"), "--storage-driver", "vfs");
        Cmd.Result build = Cmd.of(buildah0, "build", "--isolation", "chroot", "-f", ctx.resolve("Containerfile"),
                "-t", "localhost/on-mirrored-base", ctx).dir(work).ok();
        assertTrue(build.output().lines().anyMatch(l -> l.strip().equals("built-on-mirrored-base")),
                "the RUN step ran on the pulled base" + build.describe());

        Cmd.Result inspect = Cmd.of(buildah0, "inspect", "--type", "image",
                "docker.io/library/busybase-buildah:" + TAG).ok();
        JsonNode pulled = JSON.readTree(inspect.output());
        assertEquals(image.manifestDigest(), pulled.path("FromImageDigest").asText(), inspect.describe());
        assertEquals(base.configDigest(), "sha256:" + pulled.path("FromImageID").asText(), inspect.describe());

        assertServedThroughTheNode("library/busybase-buildah", served);
    }

    // ------------------------------------------------------------------ dockerd

    @Test
    void dockerdPullsAnUnqualifiedNameThroughItsRegistryMirror() throws Exception {
        ReferenceRegistry.Image image = seed("library/busybase");
        Dockerd docker = dockerd();
        double served = servedBytes();

        Cmd.Result pull = docker.docker("pull", "busybase:" + TAG).ok();
        assertTrue(pull.output().contains(image.manifestDigest()), "docker prints the manifest digest" + pull.describe());
        Cmd.Result inspect = docker.docker("image", "inspect", "busybase:" + TAG).ok();
        JsonNode pulled = JSON.readTree(inspect.output()).get(0);
        assertEquals(base.configDigest(), pulled.path("Id").asText(), "the image ID is the config's digest");
        assertEquals(List.of("busybase@" + image.manifestDigest()), texts(pulled.path("RepoDigests")),
                inspect.describe());
        assertEquals(List.of(base.diffId()), texts(pulled.path("RootFS").path("Layers")));

        Cmd.Result run = docker.docker("run", "--rm", "--network", "none", "busybase:" + TAG, "sh", "-c", "echo ok")
                .ok();
        assertEquals("ok", run.lastLine(), run.describe());

        assertServedThroughTheNode("library/busybase", served);
    }

    // ------------------------------------------------------------------ containerd

    @Test
    void ctrPullsThroughAHostsTomlMirror() throws Exception {
        Path ctr = RealTools.require("ctr", "containerd's ctr pulling through a hosts.toml mirror (package containerd,"
                + " a dependency of docker.io)");
        ReferenceRegistry.Image image = seed("library/busybase-ctr");
        Dockerd docker = dockerd(); // its containerd is the one ctr talks to
        Path socket = docker.containerdSocket();
        RealTools.requireThat(Files.exists(socket), "dockerd runs no containerd at " + socket);
        Path hosts = Files.createDirectories(work.resolve("certs.d/docker.io"));
        Files.writeString(hosts.resolve("hosts.toml"), String.join("\n",
                "server = \"https://registry-1.docker.io\"",
                "",
                "[host.\"http://" + server.hostPort() + "\"]",
                "  capabilities = [\"pull\", \"resolve\"]",
                ""));
        double served = servedBytes();

        String ref = "docker.io/library/busybase-ctr:" + TAG;
        List<Object> ctr0 = List.of(ctr, "--address", socket, "--namespace", "mirror-test");
        // the native snapshotter: unpacking must not depend on overlayfs working here
        Cmd.Result pull = Cmd.of(ctr, "--debug", "--address", socket, "--namespace", "mirror-test", "images", "pull",
                "--hosts-dir", work.resolve("certs.d"), "--plain-http", "--snapshotter", "native", ref).ok();
        // its debug log ("do request ... url=...") shows how it asked: the mirror, with ?ns=
        assertTrue(pull.output().contains("http://" + server.hostPort() + "/v2/library/busybase-ctr/manifests/"
                + TAG + "?ns=docker.io"), "containerd asks a hosts.toml mirror with ?ns=docker.io" + pull.describe());
        Cmd.Result list = Cmd.of(ctr0, "images", "ls").ok();
        // REF TYPE DIGEST SIZE PLATFORMS LABELS
        String[] row = list.output().lines().map(l -> l.trim().split("\\s+")).filter(r -> r[0].equals(ref))
                .findFirst().orElseThrow(() -> new AssertionError(ref + " not listed" + list.describe()));
        assertEquals(image.manifestDigest(), row[2], "the upstream's manifest digest" + list.describe());
        Cmd.Result content = Cmd.of(ctr0, "content", "ls", "--quiet").ok();
        for (String digest : List.of(image.manifestDigest(), base.configDigest(), base.layerDigest())) {
            assertTrue(content.output().lines().anyMatch(digest::equals), digest + " in containerd's content store"
                    + content.describe());
        }

        assertServedThroughTheNode("library/busybase-ctr", served);
    }

    // ------------------------------------------------------------------ helpers

    /**
     * What shows that a client's pull of {@code remote} went through the node: the node holds the
     * copy, asked the upstream for its manifest exactly once, and served at least the layer's bytes.
     */
    private static void assertServedThroughTheNode(String remote, double servedBefore) throws Exception {
        assertTrue(catalog().contains("docker.io/" + remote), "the node holds the copy: " + catalog());
        assertEquals(1, sinceSeeded("GET", "/v2/" + remote + "/manifests/"), upstream().logText());
        assertEquals(1, askedOnce(remote, base.layerDigest()), upstream().logText());
        double served = servedBytes() - servedBefore;
        assertTrue(served >= base.layer().length, "the node served the layer: " + served + " bytes");
    }

    /**
     * How many times the node asked the upstream about a blob of {@code remote}: fetched (GET), or,
     * when another repository's pull already brought the same bytes (every repository here holds
     * the same busybox image), confirmed with a HEAD and linked.
     */
    private static long askedOnce(String remote, String digest) {
        return sinceSeeded("GET", "/v2/" + remote + "/blobs/" + digest)
                + sinceSeeded("HEAD", "/v2/" + remote + "/blobs/" + digest);
    }

    /**
     * Requests of {@code method} to paths under {@code pathPrefix} the upstream received since its
     * repository was seeded: skopeo's push asks about the same blobs and manifest first.
     */
    private static long sinceSeeded(String method, String pathPrefix) {
        return upstream().requests(method, pathPrefix) - SEEDING.getOrDefault(method + " " + pathPrefix, 0L);
    }

        /** The dockerd of this class, started once with the node as its Docker Hub mirror. */
    private static synchronized Dockerd dockerd() throws Exception {
        if (dockerd == null) {
            dockerd = Dockerd.startPrivate(List.of("--registry-mirror", "http://" + server.hostPort()));
        }
        return dockerd;
    }

    /**
     * Seeds the upstream's {@code repository} with the base image as an operator would, with
     * skopeo copying an OCI layout to it ({@code --preserve-digests}: the manifest Distribution
     * holds is the one written here, whose digest every client's result is checked against).
     */
    private static ReferenceRegistry.Image seed(String repository) throws Exception {
        Path skopeo = RealTools.require("skopeo", "skopeo seeding the upstream with the base image");
        byte[] manifest = Registry.imageManifest(base.config(), base.layer()).getBytes(StandardCharsets.UTF_8);
        Path layout = Files.createTempDirectory("layercache-seed");
        try {
            Path blobs = Files.createDirectories(layout.resolve("blobs/sha256"));
            for (byte[] blob : List.of(base.config(), base.layer(), manifest)) {
                Files.write(blobs.resolve(Registry.sha256(blob).substring("sha256:".length())), blob);
            }
            Files.writeString(layout.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
            Files.writeString(layout.resolve("index.json"), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\""
                    + OCI + "\",\"digest\":\"" + Registry.sha256(manifest) + "\",\"size\":" + manifest.length
                    + ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"" + TAG + "\"}}]}");
            Cmd.of(skopeo, "copy", "--preserve-digests", "--dest-tls-verify=false", "oci:" + layout + ":" + TAG,
                    "docker://127.0.0.1:" + upstream().port() + "/" + repository + ":" + TAG).ok();
            String at = "/v2/" + repository;
            for (String method : List.of("GET", "HEAD")) {
                for (String path : List.of(at + "/manifests/", at + "/blobs/" + base.layerDigest(),
                        at + "/blobs/" + base.configDigest())) {
                    SEEDING.put(method + " " + path, upstream().requests(method, path));
                }
            }
        } finally {
            TestServer.deleteRecursively(layout);
        }
        return new ReferenceRegistry.Image(repository, TAG, Registry.sha256(manifest), manifest, OCI, base.config(),
                List.of(base.layer()));
    }

    private static String catalog() throws Exception {
        return new String(new Registry(server.port()).get("/v2/_catalog?n=1000").body(), StandardCharsets.UTF_8);
    }

    private static double servedBytes() {
        return new PrometheusText(server.server().metrics().scrape(null)).value("layercache_served_bytes_total");
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    private static byte[] blob(Path layout, String digest) throws IOException {
        return Files.readAllBytes(layout.resolve("blobs/sha256/" + digest.substring("sha256:".length())));
    }

    /**
     * A {@code FROM scratch} image of the static busybox and its applet links (as REAL-CLIENTS.md
     * builds it, here without a builder), with a fixed time, so the same bytes every run.
     */
    private static BaseImage busyboxImage() throws IOException {
        Path busybox = RealTools.require("busybox", "static busybox for the base image (package busybox-static)")
                .toRealPath();
        RealTools.requireThat(BusyboxBase.isStatic(busybox),
                busybox + " is dynamically linked; a FROM scratch image needs package busybox-static");
        byte[] binary = Files.readAllBytes(busybox);
        Date time = Date.from(Instant.parse("2020-01-01T00:00:00Z"));
        ByteArrayOutputStream tar = new ByteArrayOutputStream();
        try (TarArchiveOutputStream out = new TarArchiveOutputStream(tar)) {
            out.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            TarArchiveEntry dir = new TarArchiveEntry("bin/");
            dir.setMode(040755);
            dir.setModTime(time);
            out.putArchiveEntry(dir);
            out.closeArchiveEntry();
            TarArchiveEntry file = new TarArchiveEntry("bin/busybox");
            file.setMode(0100755);
            file.setSize(binary.length);
            file.setModTime(time);
            out.putArchiveEntry(file);
            out.write(binary);
            out.closeArchiveEntry();
            for (String applet : BusyboxBase.APPLETS) {
                TarArchiveEntry link = new TarArchiveEntry("bin/" + applet, TarConstants.LF_SYMLINK);
                link.setLinkName("busybox");
                link.setMode(0120777);
                link.setModTime(time);
                out.putArchiveEntry(link);
                out.closeArchiveEntry();
            }
        }
        byte[] uncompressed = tar.toByteArray();
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
            out.write(uncompressed);
        }
        String diffId = Registry.sha256(uncompressed);
        String arch = switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> "amd64";
            case "aarch64", "arm64" -> "arm64";
            default -> System.getProperty("os.arch");
        };
        String config = "{\"architecture\":\"" + arch + "\",\"os\":\"linux\","
                + "\"config\":{\"Env\":[\"PATH=/bin\"],\"Cmd\":[\"sh\"]},"
                + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + diffId + "\"]},"
                + "\"history\":[{\"created\":\"2020-01-01T00:00:00Z\",\"created_by\":\"static busybox\"}]}";
        return new BaseImage(gz.toByteArray(), diffId, config.getBytes(StandardCharsets.UTF_8));
    }
}
