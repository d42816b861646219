package dev.layercache.server.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A small real file system for a test: a tmpfs of a given size mounted on a fresh folder, so
 * that writes past it really fail with ENOSPC and its size is what the node sees. Needs root (CI
 * runs as root); where it cannot be mounted the test is skipped, or fails under CI's
 * {@code -Dlayercache.requireRealClients=true} (see {@link RealTools#requireThat}).
 */
public final class SmallDisk implements AutoCloseable {
    private final Path mount;

    private SmallDisk(Path mount) {
        this.mount = mount;
    }

    /** Mounts a tmpfs of {@code mebibytes} MiB on {@code folder} (created if missing). */
    public static SmallDisk mount(Path folder, int mebibytes) throws Exception {
        Files.createDirectories(folder);
        RealTools.requireThat(run("mount", "-t", "tmpfs", "-o", "size=" + mebibytes + "m", "tmpfs", folder.toString()) == 0,
                "cannot mount a tmpfs here (tests of a full or small disk need root, as CI has)");
        return new SmallDisk(folder);
    }

    /** Where it is mounted. */
    public Path path() {
        return mount;
    }

    /** Unmounts it (lazily: a file a stopped server still holds does not keep it). */
    @Override
    public void close() throws Exception {
        run("umount", "-l", mount.toString());
    }

    private static int run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
    }
}
