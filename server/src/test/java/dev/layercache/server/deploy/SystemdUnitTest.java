package dev.layercache.server.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.config.Setting;
import dev.layercache.server.testing.RealTools;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code deploy/systemd/layercache.service}: valid for systemd ({@code systemd-analyze verify},
 * with no warning either: systemd ignores a key it does not know or cannot parse, and only
 * warns), and saying what the issue asked of it.
 */
@Timeout(120)
class SystemdUnitTest {
    private static final Path UNIT = DeployQueries.repoRoot().resolve("deploy/systemd/layercache.service");
    private static final String EXEC_START = "ExecStart=/usr/bin/java -jar /opt/layercache/layercache-server.jar";

    @TempDir
    Path dir;

    @Test
    void systemdAcceptsTheUnitWithoutAWarning() throws Exception {
        Path analyze = RealTools.require("systemd-analyze", "the systemd unit is checked by systemd-analyze verify");
        String text = Files.readString(UNIT);
        assertTrue(text.contains("\n" + EXEC_START + "\n"), text);
        // verify fails on an ExecStart whose program does not exist: point it at this run's java,
        // which is the only change.
        Path copy = dir.resolve("layercache.service");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Files.writeString(copy, text.replace(EXEC_START, EXEC_START.replace("/usr/bin/java", java)));
        Process p = new ProcessBuilder(analyze.toString(), "verify", copy.toString()).redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "systemd-analyze verify did not end");
        assertEquals(0, p.exitValue(), out);
        List<String> aboutTheUnit = out.lines().filter(l -> l.contains("layercache")).toList();
        assertEquals(List.of(), aboutTheUnit, "systemd-analyze warned about the unit:\n" + out);
    }

    /** What a packaged service needs: the user, the exit code of a graceful stop, the data, limits. */
    @Test
    void theUnitSaysWhatAServiceNeeds() throws Exception {
        List<String> lines = Files.readAllLines(UNIT).stream().map(String::strip)
                .filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
        for (String expected : List.of("User=layercache", "Group=layercache", "SuccessExitStatus=143",
                "StateDirectory=layercache", "Environment=LAYERCACHE_DATA_DIR=/var/lib/layercache",
                "EnvironmentFile=-/etc/layercache/layercache.env", "Restart=on-failure", "NoNewPrivileges=true",
                "ProtectSystem=strict", "ProtectHome=true", "PrivateTmp=true",
                "ReadWritePaths=/var/lib/layercache", EXEC_START)) {
            assertTrue(lines.contains(expected), expected + " missing from " + UNIT);
        }
        assertTrue(lines.stream().anyMatch(l -> l.matches("LimitNOFILE=\\d{5,}")), "LimitNOFILE of at least 10000");
        // Every LAYERCACHE_ variable it sets is a setting's (a typo would be silently ignored).
        List<String> known = Arrays.stream(Setting.values()).map(Setting::envVar).collect(Collectors.toList());
        lines.stream().filter(l -> l.startsWith("Environment=LAYERCACHE_"))
                .map(l -> l.substring("Environment=".length(), l.indexOf('=', "Environment=".length())))
                .forEach(name -> assertTrue(known.contains(name), name + " is no setting's variable"));
        // An invalid setting exits 2 (Main.EXIT_CONFIG): restarting would only fail again.
        assertTrue(lines.contains("RestartPreventExitStatus=2"), "RestartPreventExitStatus=2");
    }
}
