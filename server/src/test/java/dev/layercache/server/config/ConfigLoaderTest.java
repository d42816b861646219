package dev.layercache.server.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
    @TempDir
    Path dir;

    @Test
    void theNodeTokenNeverShowsInTheConfigurationsText() throws Exception {
        ServerConfig c = ConfigLoader.load(new String[] {"--node-token", "n0de-s3cret"}, Map.of());
        assertEquals("n0de-s3cret", c.auth().nodeToken());
        assertTrue(!c.toString().contains("n0de-s3cret") && c.toString().contains("nodeToken=(hidden)"), c.toString());
    }

    @Test
    void defaultsMatchTheDocumentedContract() throws Exception {
        ServerConfig c = ConfigLoader.load(new String[0], Map.of());
        assertEquals(5000, c.httpPort());
        assertEquals(9092, c.grpcPort());
        assertEquals(Path.of("./data"), c.dataDir());
        assertEquals(4L << 20, c.maxManifestSize());
        assertEquals(Duration.ofSeconds(30), c.shutdownGrace());
    }

    @Test
    void flagsBeatEnvironmentWhichBeatsTheFile() throws Exception {
        Path file = dir.resolve("layercache.yaml");
        Files.writeString(file, "http-port: 6001\ngrpc-port: 6002\ndata-dir: /from/file\nmax-manifest-size: 8MiB\n");
        Map<String, String> env = Map.of("LAYERCACHE_GRPC_PORT", "7002", "LAYERCACHE_DATA_DIR", "/from/env");
        ServerConfig c = ConfigLoader.load(new String[] {"--config", file.toString(), "--data-dir", "/from/flag"}, env);
        assertEquals(6001, c.httpPort(), "file value");
        assertEquals(7002, c.grpcPort(), "env over file");
        assertEquals(Path.of("/from/flag"), c.dataDir(), "flag over env");
        assertEquals(8L << 20, c.maxManifestSize());
    }

    @Test
    void configFileFromTheEnvironment() throws Exception {
        Path file = dir.resolve("c.yml");
        Files.writeString(file, "shutdown-grace: 2m\n");
        ServerConfig c = ConfigLoader.load(new String[0], Map.of("LAYERCACHE_CONFIG", file.toString()));
        assertEquals(Duration.ofMinutes(2), c.shutdownGrace());
    }

    @Test
    void invalidValuesNameTheSettingAndTheirSource() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> ConfigLoader.load(new String[0], Map.of("LAYERCACHE_HTTP_PORT", "http")));
        assertTrue(e.getMessage().contains("http-port"), e.getMessage());
        assertTrue(e.getMessage().contains("LAYERCACHE_HTTP_PORT"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());

        e = assertThrows(ConfigException.class, () -> ConfigLoader.load(new String[] {"--http-port", "70000"}, Map.of()));
        assertTrue(e.getMessage().contains("http-port") && e.getMessage().contains("--http-port"), e.getMessage());

        e = assertThrows(ConfigException.class,
                () -> ConfigLoader.load(new String[] {"--max-manifest-size", "1MiB"}, Map.of()));
        assertTrue(e.getMessage().contains("max-manifest-size"), e.getMessage());
    }

    @Test
    void eventLoopsAreTheNumberSetOrZeroForTheDefault() throws Exception {
        assertEquals(0, ConfigLoader.load(new String[0], Map.of()).eventLoops(), "0: 4 per core, chosen by the transport");
        assertEquals(2, ConfigLoader.load(new String[] {"--event-loops", "2"}, Map.of()).eventLoops());
        assertEquals(6, ConfigLoader.load(new String[0], Map.of("LAYERCACHE_EVENT_LOOPS", "6")).eventLoops());
        for (String bad : new String[] {"-1", "two", "1025"}) {
            ConfigException e = assertThrows(ConfigException.class,
                    () -> ConfigLoader.load(new String[] {"--event-loops", bad}, Map.of()), bad);
            assertTrue(e.getMessage().contains("event-loops"), e.getMessage());
        }
    }

    @Test
    void lifecycleAndMetricsSettings() throws Exception {
        ServerConfig c = ConfigLoader.load(new String[] {"--max-disk-size", "100GiB", "--max-age", "30d",
            "--namespace-limits", "team/ci:max-disk-size=50GiB,max-age=7d; legacy:max-age=1d",
            "--metrics-enabled", "false"}, Map.of("LAYERCACHE_GC_GRACE", "30m"));
        assertEquals(ServerConfig.DiskShare.ofBytes(100L << 30), c.lifecycle().maxDisk());
        assertEquals(100L << 30, c.lifecycle().maxDisk().resolve(1L << 40), "bytes do not depend on the file system");
        assertEquals(java.time.Duration.ofDays(30), c.lifecycle().maxAge());
        assertEquals(java.time.Duration.ofMinutes(30), c.lifecycle().gcGrace());
        assertEquals(new ServerConfig.NamespaceLimit("team/ci", 50L << 30, java.time.Duration.ofDays(7)),
                c.lifecycle().limitFor("team/ci/app"));
        assertEquals(new ServerConfig.NamespaceLimit("legacy", 0, java.time.Duration.ofDays(1)),
                c.lifecycle().limitFor("legacy"));
        assertEquals(null, c.lifecycle().limitFor("team/cio"), "a prefix matches whole path components");
        assertEquals(false, c.metrics().enabled());

        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(
                new String[] {"--disk-low-watermark", "95"}, Map.of()));
        assertTrue(e.getMessage().contains("disk-low-watermark") && e.getMessage().contains("below"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> ConfigLoader.load(
                new String[] {"--namespace-limits", "team:max-size=1GiB"}, Map.of()));
        assertTrue(e.getMessage().contains("unknown limit 'max-size'"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> ConfigLoader.load(
                new String[] {"--namespace-limits", "Team:max-age=1d"}, Map.of()));
        assertTrue(e.getMessage().contains("namespace-limits"), e.getMessage());
    }

    @Test
    void theDiskBudgetIsAShareOfTheFileSystemByDefaultAndEitherForm() throws Exception {
        ServerConfig.Lifecycle defaults = ConfigLoader.load(new String[0], Map.of()).lifecycle();
        assertEquals(ServerConfig.DiskShare.ofPercent(60), defaults.maxDisk(), "a node with no settings has a budget");
        assertEquals(ServerConfig.DiskShare.ofPercent(10), defaults.minFreeDisk());
        assertEquals(600L << 20, defaults.maxDisk().resolve(1000L << 20));
        assertEquals(Duration.ofHours(24), defaults.untaggedMaxAge());
        assertEquals(new ServerConfig.History(Duration.ofDays(30), 10_000), defaults.history());

        ServerConfig.Lifecycle set = ConfigLoader.load(new String[] {"--max-disk-size", "85%", "--min-free-disk",
            "2GiB", "--untagged-max-age", "6h", "--history-max-age", "7d", "--history-max-records", "500"},
                Map.of()).lifecycle();
        assertEquals(ServerConfig.DiskShare.ofPercent(85), set.maxDisk());
        assertEquals(ServerConfig.DiskShare.ofBytes(2L << 30), set.minFreeDisk());
        assertEquals(Duration.ofHours(6), set.untaggedMaxAge());
        assertEquals(new ServerConfig.History(Duration.ofDays(7), 500), set.history());
        ServerConfig.Lifecycle none = ConfigLoader.load(new String[] {"--max-disk-size", "0", "--min-free-disk", "0"},
                Map.of()).lifecycle();
        assertTrue(none.maxDisk().isNone() && none.minFreeDisk().isNone(), "0 turns either off");

        for (String bad : new String[] {"0%", "101%", "12.5%", "lots"}) {
            ConfigException e = assertThrows(ConfigException.class,
                    () -> ConfigLoader.load(new String[] {"--max-disk-size", bad}, Map.of()), bad);
            assertTrue(e.getMessage().contains("max-disk-size"), e.getMessage());
        }
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(
                new String[] {"--max-disk-size", "95%", "--min-free-disk", "10%"}, Map.of()));
        assertTrue(e.getMessage().contains("min-free-disk") && e.getMessage().contains("whole file system"),
                e.getMessage());
    }

    @Test
    void unknownKeysAndFlagsAreRejected() throws Exception {
        Path file = dir.resolve("bad.yaml");
        Files.writeString(file, "http-prot: 5000\n");
        ConfigException e = assertThrows(ConfigException.class,
                () -> ConfigLoader.load(new String[] {"--config", file.toString()}, Map.of()));
        assertTrue(e.getMessage().contains("http-prot"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> ConfigLoader.load(new String[] {"--no-such-flag"}, Map.of()));
        assertTrue(e.getMessage().contains("--no-such-flag"), e.getMessage());
    }

    @Test
    void unreadableOrMalformedFileIsOneClearLine() throws Exception {
        ConfigException e = assertThrows(ConfigException.class,
                () -> ConfigLoader.load(new String[] {"--config", dir.resolve("missing.yaml").toString()}, Map.of()));
        assertEquals("config file " + dir.resolve("missing.yaml") + " does not exist", e.getMessage());
        Path file = dir.resolve("broken.yaml");
        Files.writeString(file, "http-port: [1, 2\n  nope");
        e = assertThrows(ConfigException.class,
                () -> ConfigLoader.load(new String[] {"--config", file.toString()}, Map.of()));
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        e = assertThrows(ConfigException.class,
                () -> ConfigLoader.load(new String[] {"--config", dir.toString()}, Map.of()));
        assertEquals("config file " + dir + " is not a file", e.getMessage());
    }

    /** The parser's problem with its line and column, not its multi-line dump with a caret. */
    @Test
    void malformedYamlSaysLineAndColumn() throws Exception {
        Path file = dir.resolve("bad.yaml");
        Files.writeString(file, "http-port: 5000\n  data-dir: [x\n");
        ConfigException e = assertThrows(ConfigException.class,
                () -> ConfigLoader.load(new String[] {"--config", file.toString()}, Map.of()));
        assertEquals("config file " + file + ", line 2, column 11: mapping values are not allowed here",
                e.getMessage());
    }

    /** -http-port (one dash) once read as -h: help and exit 0, which systemd and CI take for success. */
    @Test
    void unknownFlagsNameTheFlagAndTheLikelyOne() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> ConfigLoader.load(new String[] {"-http-port", "5001"}, Map.of()));
        assertEquals("unknown option -http-port; did you mean --http-port?", e.getMessage());
        e = assertThrows(ConfigException.class, () -> ConfigLoader.load(new String[] {"--data-dri=x"}, Map.of()));
        assertEquals("unknown option --data-dri; did you mean --data-dir?", e.getMessage());
        e = assertThrows(ConfigException.class, () -> ConfigLoader.load(new String[] {"--frobnicate"}, Map.of()));
        assertEquals("unknown option --frobnicate; see --help for the settings", e.getMessage());
        e = assertThrows(ConfigException.class, () -> ConfigLoader.load(new String[] {"serve"}, Map.of()));
        assertTrue(e.getMessage().startsWith("unexpected argument serve"), e.getMessage());
        assertThrows(ConfigLoader.HelpRequested.class, () -> ConfigLoader.load(new String[] {"-h"}, Map.of()));
    }

    /** A name in the configuration says which rule of repository names it breaks. */
    @Test
    void invalidNamesInSettingsSayTheRule() {
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(
                new String[] {"--namespace-limits", "Team/App:max-age=1d"}, Map.of()));
        assertTrue(e.getMessage().endsWith("namespace 'Team/App' is not a valid name: names are lowercase (team/app)"),
                e.getMessage());
        e = assertThrows(ConfigException.class, () -> ConfigLoader.load(
                new String[] {"--namespace-limits", "team//app:max-age=1d"}, Map.of()));
        assertTrue(e.getMessage().contains("separated by single '/'"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> ConfigLoader.load(
                new String[] {"--protect", "Team/*:latest"}, Map.of()));
        assertTrue(e.getMessage().endsWith("the repository is not a valid name: names are lowercase (team/*)"),
                e.getMessage());
    }

    @Test
    void httpDownloadsCopyUnlessSendfileIsAskedFor() throws Exception {
        assertEquals(ServerConfig.HttpDownloads.COPY, ConfigLoader.load(new String[0], Map.of()).httpDownloads());
        assertEquals(ServerConfig.HttpDownloads.SENDFILE,
                ConfigLoader.load(new String[] {"--http-downloads", "sendfile"}, Map.of()).httpDownloads());
        assertEquals(ServerConfig.HttpDownloads.SENDFILE,
                ConfigLoader.load(new String[0], Map.of("LAYERCACHE_HTTP_DOWNLOADS", "SendFile")).httpDownloads());
        ConfigException e = assertThrows(ConfigException.class,
                () -> ConfigLoader.load(new String[] {"--http-downloads", "splice"}, Map.of()));
        assertTrue(e.getMessage().contains("http-downloads") && e.getMessage().contains("copy or sendfile"),
                e.getMessage());
    }

    @Test
    void helpShowsPercentDefaultsAsWritten() {
        // picocli formats descriptions; an unescaped % made it print a warning and the raw text
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(captured, true));
        String usage;
        try {
            usage = ConfigLoader.usage();
        } finally {
            System.setErr(err);
        }
        assertTrue(usage.contains("LAYERCACHE_MAX_DISK_SIZE, default 60%]"), usage);
        assertTrue(usage.contains("LAYERCACHE_MIN_FREE_DISK, default 10%]"), usage);
        assertTrue(usage.contains("LAYERCACHE_AUTH_HTPASSWD, no default]"), usage);
        assertTrue(!usage.contains("default ]"), usage);
        assertEquals("", captured.toString(), "picocli warned while formatting the help");
    }

    @Test
    void helpIsNotAnError() {
        assertThrows(ConfigLoader.HelpRequested.class, () -> ConfigLoader.load(new String[] {"--help"}, Map.of()));
        String usage = ConfigLoader.usage();
        for (Setting s : Setting.values()) {
            assertTrue(usage.contains(s.flag()) && usage.contains(s.envVar()), s.key());
        }
    }

    @Test
    void protectPatternsComeFromTheFlagTheEnvironmentOrAYamlList() throws Exception {
        assertEquals(java.util.List.of(), ConfigLoader.load(new String[0], Map.of()).lifecycle().protect());
        assertEquals(java.util.List.of("*/cache:main", "team/*:release-*"), ConfigLoader.load(
                new String[] {"--protect", "*/cache:main, team/*:release-*"}, Map.of()).lifecycle().protect());
        assertEquals(java.util.List.of("a/cache:main"), ConfigLoader.load(new String[0],
                Map.of("LAYERCACHE_PROTECT", "a/cache:main")).lifecycle().protect());
        Path file = dir.resolve("protect.yaml");
        Files.writeString(file, "protect:\n  - \"*/cache:main\"\n  - \"team/*:release-*\"\n");
        assertEquals(java.util.List.of("*/cache:main", "team/*:release-*"), ConfigLoader.load(
                new String[] {"--config", file.toString()}, Map.of()).lifecycle().protect());
        for (String bad : new String[] {"team/app", ":main", "team/app:", "Team/App:main"}) {
            ConfigException e = assertThrows(ConfigException.class,
                    () -> ConfigLoader.load(new String[] {"--protect", bad}, Map.of()), bad);
            assertTrue(e.getMessage().contains("protect"), e.getMessage());
        }
    }
}
