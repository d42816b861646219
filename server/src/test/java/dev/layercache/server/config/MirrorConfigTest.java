package dev.layercache.server.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.mirror.UpstreamSettings;
import dev.layercache.server.mirror.UpstreamSettings.Credentials;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Setting {@code mirror}: its flat and list forms, their precedence, and every way it can be wrong. */
class MirrorConfigTest {
    private static final String SECRET = "hub-s3cr3t-7f1e";

    @TempDir
    Path dir;

    @Test
    void nothingIsMirroredByDefault() throws Exception {
        ServerConfig c = ConfigLoader.load(new String[0], Map.of());
        assertSame(ServerConfig.Mirror.NONE, c.mirror());
        assertFalse(c.mirror().enabled());
        assertSame(ServerConfig.Mirror.NONE, ServerConfig.forTesting(dir).mirror());
        assertSame(ServerConfig.Mirror.NONE, ConfigLoader.load(new String[] {"--mirror", " "}, Map.of()).mirror());
    }

    @Test
    void theFlagListsUpstreamsWithoutCredentialsAndTheDefaultInterval() throws Exception {
        ServerConfig.Mirror m = ConfigLoader.load(new String[] {"--mirror",
            "docker.io=https://registry-1.docker.io/v2/, ghcr.io=https://ghcr.io/,localhost=http://127.0.0.1:5000",
        }, Map.of()).mirror();
        assertEquals(List.of(
                new UpstreamSettings("docker.io", URI.create("https://registry-1.docker.io"), Credentials.NONE,
                        UpstreamSettings.DEFAULT_REVALIDATE),
                new UpstreamSettings("ghcr.io", URI.create("https://ghcr.io"), Credentials.NONE,
                        UpstreamSettings.DEFAULT_REVALIDATE),
                new UpstreamSettings("localhost", URI.create("http://127.0.0.1:5000"), Credentials.NONE,
                        UpstreamSettings.DEFAULT_REVALIDATE)), m.upstreams());
        assertEquals(Duration.ofMinutes(5), UpstreamSettings.DEFAULT_REVALIDATE, "the documented default");
        assertEquals(URI.create("https://ghcr.io"), m.upstream("ghcr.io").url());
        assertNull(m.upstream("quay.io"));
        assertNull(m.upstream("library"), "a repository's first component is never an upstream");
    }

    @Test
    void theEnvironmentAndTheFileTakeTheSameText() throws Exception {
        ServerConfig.Mirror fromEnv = ConfigLoader.load(new String[0],
                Map.of("LAYERCACHE_MIRROR", "registry.internal=http://registry.internal:5000/prefix/v2")).mirror();
        assertEquals(URI.create("http://registry.internal:5000/prefix"), fromEnv.upstream("registry.internal").url(),
                "the URL keeps its port, and a path before /v2");
        Path file = dir.resolve("c.yaml");
        Files.writeString(file, "mirror: quay.io=https://quay.io,10.0.0.5=http://10.0.0.5:5000\n");
        ServerConfig.Mirror fromFile = ConfigLoader.load(new String[] {"--config", file.toString()}, Map.of()).mirror();
        assertEquals(List.of("quay.io", "10.0.0.5"), fromFile.upstreams().stream().map(UpstreamSettings::name).toList());
    }

    @Test
    void theFilesListCarriesCredentialsAndIntervals() throws Exception {
        Path secretFile = dir.resolve("hub-token");
        Files.writeString(secretFile, SECRET + "\n");
        ServerConfig c = ConfigLoader.load(new String[] {"--config", yaml("""
                mirror:
                  - registry: docker.io
                    url: https://registry-1.docker.io/
                    revalidate: 10m
                    username: ci-bot
                    password-file: %s
                  - registry: ghcr.io
                    url: https://ghcr.io
                    username: octo
                    password-env: GHCR_TOKEN
                  - registry: quay.io
                    url: https://quay.io
                    revalidate: 0s
                """.formatted(secretFile)).toString()}, Map.of("GHCR_TOKEN", "ghp_token"));
        ServerConfig.Mirror m = c.mirror();
        assertEquals(new UpstreamSettings("docker.io", URI.create("https://registry-1.docker.io"),
                new Credentials("ci-bot", SECRET), Duration.ofMinutes(10)), m.upstream("docker.io"),
                "the file's trailing line break is not part of the secret");
        assertEquals(new Credentials("octo", "ghp_token"), m.upstream("ghcr.io").credentials());
        assertEquals(UpstreamSettings.DEFAULT_REVALIDATE, m.upstream("ghcr.io").revalidate());
        assertEquals(Credentials.NONE, m.upstream("quay.io").credentials());
        assertEquals(Duration.ZERO, m.upstream("quay.io").revalidate());

        String shown = c.toString();
        assertTrue(shown.contains("docker.io") && shown.contains("ci-bot") && shown.contains("secret=(hidden)"), shown);
        assertFalse(shown.contains(SECRET) || shown.contains("ghp_token"), "secrets in the configuration's text: " + shown);
    }

    @Test
    void aFlagOrTheEnvironmentReplacesTheFilesWholeList() throws Exception {
        Path secretFile = dir.resolve("token");
        Files.writeString(secretFile, SECRET);
        String file = yaml("""
                mirror:
                  - registry: docker.io
                    url: https://registry-1.docker.io
                    username: ci-bot
                    password-file: %s
                  - registry: ghcr.io
                    url: https://ghcr.io
                """.formatted(secretFile)).toString();
        ServerConfig.Mirror env = ConfigLoader.load(new String[] {"--config", file},
                Map.of("LAYERCACHE_MIRROR", "docker.io=https://mirror.gcr.io")).mirror();
        assertEquals(List.of(new UpstreamSettings("docker.io", URI.create("https://mirror.gcr.io"), Credentials.NONE,
                UpstreamSettings.DEFAULT_REVALIDATE)), env.upstreams(), "not merged: the file's credentials are gone too");
        ServerConfig.Mirror flag = ConfigLoader.load(new String[] {"--config", file, "--mirror", "quay.io=https://quay.io"},
                Map.of("LAYERCACHE_MIRROR", "docker.io=https://mirror.gcr.io")).mirror();
        assertEquals(List.of("quay.io"), flag.upstreams().stream().map(UpstreamSettings::name).toList());
        assertSame(ServerConfig.Mirror.NONE, ConfigLoader.load(new String[] {"--config", file},
                Map.of("LAYERCACHE_MIRROR", "")).mirror(), "an empty variable turns the file's mirror off");
        assertEquals(2, ConfigLoader.load(new String[] {"--config", file}, Map.of()).mirror().upstreams().size());
    }

    @Test
    void badFlatValuesNameTheSettingTheirSourceAndTheEntry() {
        String[][] cases = {
            {"Docker.io=https://registry-1.docker.io", "must be lowercase"},
            {"docker=https://registry-1.docker.io", "has no dot"},
            {"team/app=https://registry.example.com", "not a registry host name"},
            {"-bad.io=https://x.io", "not a registry host name"},
            {"localhost:5000=http://127.0.0.1:5000", "has a port"},
            {"registry.internal:5000=http://registry.internal:5000", "has a port"},
            {"registry.internal:=http://registry.internal", "has a port"},
            {"docker..io=https://registry-1.docker.io", "not a registry host name"},
            {"docker_hub.io=https://registry-1.docker.io", "not a registry host name"},
            {"docker.io=https://a.example.com,ghcr.io=https://ghcr.io,docker.io=https://b.example.com", "named twice"},
            {"docker.io=ftp://registry-1.docker.io", "http:// or https://"},
            {"docker.io=file:///etc/passwd", "http:// or https://"},
            {"docker.io=registry-1.docker.io", "http:// or https://"},
            {"docker.io=https://", "not a URL"},
            {"docker.io=https:///v2/", "no host"},
            {"docker.io=https://registry-1.docker.io/v2/?ns=docker.io", "query"},
            {"docker.io=https://registry-1.docker.io#top", "fragment"},
            {"docker.io=https://ci:" + SECRET + "@registry-1.docker.io", "must not hold credentials"},
            {"docker.io", "not REGISTRY=URL"},
            {"docker.io=", "no URL"},
            {"=https://registry-1.docker.io", "no registry name"},
            {"docker.io=https://registry-1.docker.io,", "not REGISTRY=URL"},
        };
        for (String[] c : cases) {
            ConfigException e = assertThrows(ConfigException.class,
                    () -> ConfigLoader.load(new String[] {"--mirror", c[0]}, Map.of()), c[0]);
            String msg = e.getMessage();
            assertTrue(msg.startsWith("invalid setting mirror = '") && msg.contains("(from flag --mirror)")
                    && msg.contains(c[1]), c[0] + " -> " + msg);
            assertEquals(1, msg.lines().count(), msg);
            assertFalse(msg.contains(SECRET), "the secret in " + msg);
        }
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(new String[0],
                Map.of("LAYERCACHE_MIRROR", "docker.io=https://bot:" + SECRET + "@registry-1.docker.io")));
        assertTrue(e.getMessage().contains("environment variable LAYERCACHE_MIRROR")
                && e.getMessage().contains("https://(hidden)@registry-1.docker.io"), e.getMessage());
        assertFalse(e.getMessage().contains(SECRET), e.getMessage());
    }

    @Test
    void badListEntriesNameTheFileTheUpstreamAndWhatIsWrong() throws Exception {
        Path secretFile = dir.resolve("ok-token");
        Files.writeString(secretFile, SECRET + "\r\n");
        Path empty = dir.resolve("empty-token");
        Files.writeString(empty, "\n");
        String good = """
                  - registry: docker.io
                    url: https://registry-1.docker.io
                    username: ci-bot
                    password-file: %s
                """.formatted(secretFile);
        String[][] cases = {
            {"  - registry: ghcr.io\n    url: https://ghcr.io\n    username: bot\n    password-file: "
                + dir.resolve("missing") + "\n", "upstream 2 (ghcr.io): password-file " + dir.resolve("missing")
                + " cannot be read (NoSuchFileException)"},
            {"  - registry: ghcr.io\n    url: https://ghcr.io\n    username: bot\n    password-file: " + dir + "\n",
                "password-file " + dir + " cannot be read"},
            {"  - registry: ghcr.io\n    url: https://ghcr.io\n    username: bot\n    password-file: " + empty + "\n",
                "password-file " + empty + " is empty"},
            {"  - registry: ghcr.io\n    url: https://ghcr.io\n    username: bot\n    password-env: NO_SUCH_VARIABLE\n",
                "environment variable NO_SUCH_VARIABLE is not set"},
            {"  - registry: ghcr.io\n    url: https://ghcr.io\n    revalidate: 10x\n", "revalidate '10x': not a duration"},
            {"  - registry: ghcr.io\n    url: https://ghcr.io\n    revalidate: -PT1M\n", "must not be negative"},
            {"  - registry: ghcr.io\n    url: https://ghcr.io\n    revalidate: 300\n", "not a duration"},
            {"  - registry: ghcr.io\n    url: https://ghcr.io\n    username: bot\n    password: " + SECRET + "\n",
                "'password' is not accepted in the file"},
            {"  - registry: ghcr.io\n    url: https://ghcr.io\n    token: " + SECRET + "\n", "'token' is not accepted"},
            {"  - registry: ghcr.io\n    url: https://ghcr.io\n    pasword-file: /x\n", "unknown key 'pasword-file'"},
            {"  - registry: ghcr.io\n    url: https://ghcr.io\n    username: bot\n", "username needs password-file"},
            {"  - registry: ghcr.io\n    url: https://ghcr.io\n    password-env: X\n", "password-env needs username"},
            {"  - registry: ghcr.io\n    url: https://ghcr.io\n    username: bot\n    password-env: X\n    password-file: "
                + secretFile + "\n", "not both"},
            {"  - url: https://ghcr.io\n", "upstream 2: has no registry"},
            {"  - registry: ghcr.io\n", "has no url"},
            {"  - registry: ghcr\n    url: https://ghcr.io\n", "has no dot"},
            {"  - registry: docker.io\n    url: https://mirror.gcr.io\n", "docker.io is named twice"},
            {"  - registry: ghcr.io\n    url: file:///etc/passwd\n", "http:// or https://"},
            {"  - registry: ghcr.io\n    url: https://bot:" + SECRET + "@ghcr.io\n", "url 'https://(hidden)@ghcr.io'"},
            {"  - registry: ghcr.io\n    url: [https://ghcr.io]\n", "url must be a single value"},
            {"  - ghcr.io=https://ghcr.io\n", "upstream 2: must be a mapping"},
        };
        for (String[] c : cases) {
            Path file = yaml("mirror:\n" + good + c[0]);
            ConfigException e = assertThrows(ConfigException.class,
                    () -> ConfigLoader.load(new String[] {"--config", file.toString()}, Map.of("X", "x")), c[0]);
            String msg = e.getMessage();
            assertTrue(msg.startsWith("invalid setting mirror (from config file " + file + "), upstream 2")
                    && msg.contains(c[1]), c[0] + " -> " + msg);
            assertEquals(1, msg.lines().count(), msg);
            assertFalse(msg.contains(SECRET), "the secret in " + msg);
        }
        Path mapping = yaml("mirror:\n  docker.io: https://registry-1.docker.io\n");
        ConfigException e = assertThrows(ConfigException.class,
                () -> ConfigLoader.load(new String[] {"--config", mapping.toString()}, Map.of()));
        assertTrue(e.getMessage().contains("mirror") && e.getMessage().contains("list of upstreams"), e.getMessage());
        assertSame(ServerConfig.Mirror.NONE, ConfigLoader.load(new String[] {"--config", yaml("mirror: []\n").toString()},
                Map.of()).mirror());
        assertSame(ServerConfig.Mirror.NONE, ConfigLoader.load(new String[] {"--config", yaml("mirror:\n").toString()},
                Map.of()).mirror());
    }

    @Test
    void theRecordRefusesANameTwice() {
        UpstreamSettings hub = new UpstreamSettings("docker.io", URI.create("https://registry-1.docker.io"),
                Credentials.NONE, UpstreamSettings.DEFAULT_REVALIDATE);
        assertThrows(IllegalArgumentException.class, () -> new ServerConfig.Mirror(List.of(hub, hub)));
        assertEquals(List.of(hub), ServerConfig.forTesting(dir).withMirror(new ServerConfig.Mirror(List.of(hub)))
                .toBuilder().build().mirror().upstreams(), "toBuilder keeps the mirror");
    }

    @Test
    void helpListsTheSetting() {
        String usage = ConfigLoader.usage();
        // picocli wraps the description at its own places: look for words, not the whole example
        assertTrue(usage.contains("--mirror=VALUE") && usage.contains("LAYERCACHE_MIRROR")
                && usage.contains("REGISTRY=URL"), usage);
    }

    private Path yaml(String text) throws Exception {
        Path file = Files.createTempFile(dir, "layercache", ".yaml");
        Files.writeString(file, text);
        return file;
    }
}
