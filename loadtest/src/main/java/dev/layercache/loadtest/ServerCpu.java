package dev.layercache.loadtest;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * CPU time (user + system) of a local process from {@code /proc/PID/stat}: on a shared machine
 * CPU-seconds per unit of work vary far less than rates do. A server made of a master and worker
 * processes (nginx) counts with its live children.
 */
final class ServerCpu {
    /** Clock ticks per second; 100 on every Linux this runs on (USER_HZ). */
    private static final double TICKS = 100.0;

    private ServerCpu() {
    }

    /** Seconds of CPU used so far by {@code pid} and its live child processes, or 0 when no pid is given. */
    static double seconds(Long pid) throws IOException {
        if (pid == null) {
            return 0;
        }
        return own(pid) + children(pid);
    }

    private static double own(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        // The command name (field 2) may contain spaces; fields after its closing parenthesis are plain.
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) / TICKS;
    }

    private static double children(long pid) throws IOException {
        double sum = 0;
        Path tasks = Path.of("/proc", Long.toString(pid), "task");
        try (DirectoryStream<Path> threads = Files.newDirectoryStream(tasks)) {
            for (Path thread : threads) {
                String children;
                try {
                    children = Files.readString(thread.resolve("children")).trim();
                } catch (NoSuchFileException gone) {
                    continue; // the thread ended, or the kernel has no children lists
                }
                for (String child : children.isEmpty() ? new String[0] : children.split("\\s+")) {
                    try {
                        sum += own(Long.parseLong(child));
                    } catch (NoSuchFileException gone) {
                        // exited between the listing and the read
                    }
                }
            }
        } catch (NoSuchFileException gone) {
            return 0;
        }
        return sum;
    }
}
