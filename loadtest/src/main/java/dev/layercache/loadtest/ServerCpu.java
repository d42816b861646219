package dev.layercache.loadtest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * CPU time (user + system) of a local process from {@code /proc/PID/stat}: on a shared machine
 * CPU-seconds per unit of work vary far less than rates do.
 */
final class ServerCpu {
    /** Clock ticks per second; 100 on every Linux this runs on (USER_HZ). */
    private static final double TICKS = 100.0;

    private ServerCpu() {
    }

    /** Seconds of CPU used so far by {@code pid}, or 0 when no pid is given. */
    static double seconds(Long pid) throws IOException {
        if (pid == null) {
            return 0;
        }
        String stat = Files.readString(Path.of("/proc", pid.toString(), "stat"));
        // The command name (field 2) may contain spaces; fields after its closing parenthesis are plain.
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) / TICKS;
    }
}
