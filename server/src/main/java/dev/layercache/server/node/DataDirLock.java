package dev.layercache.server.node;

import dev.layercache.server.storage.DataLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The claim of one process on a data directory: an OS lock on {@code layercache.pid} in it, which
 * holds this process's id. RocksDB locks its own folder too, but its error ("LOCK: Resource
 * temporarily unavailable") says neither that another layercache holds the directory nor which:
 * this lock is taken first and its file names the holder. The kernel drops the lock when the
 * process dies, so a file left by a crashed node never blocks the next one.
 */
public final class DataDirLock implements AutoCloseable {
    private final FileChannel channel;
    private final FileLock lock;

    private DataDirLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** Thrown when another process (or another node in this one) holds the directory. */
    public static final class InUseException extends IOException {
        private static final long serialVersionUID = 1L;

        InUseException(String message) {
            super(message);
        }
    }

    /** Takes the directory, which must exist, for this process; fails at once if it is held. */
    public static DataDirLock acquire(DataLayout layout) throws IOException {
        Path dataDir = layout.root();
        Path file = layout.pidFile();
        FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            channel.close();
            throw new InUseException("data directory " + dataDir + " is in use by another node in this process"
                    + " (pid " + ProcessHandle.current().pid() + ")");
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        if (lock == null) {
            String holder = holder(file);
            channel.close();
            throw new InUseException("data directory " + dataDir + " is in use by another layercache process"
                    + (holder.isEmpty() ? "" : " (pid " + holder + ")")
                    + ": stop it, or choose another folder with --data-dir");
        }
        try {
            byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
            channel.truncate(0);
            channel.write(ByteBuffer.wrap(pid), 0);
        } catch (IOException e) {
            lock.release();
            channel.close();
            throw e;
        }
        return new DataDirLock(channel, lock);
    }

    /** The process id in the file, or "" when it cannot be read (a holder that wrote none yet). */
    private static String holder(Path file) {
        try {
            String text = Files.readString(file, StandardCharsets.US_ASCII).trim();
            return text.matches("\\d{1,10}") ? text : "";
        } catch (IOException e) {
            return "";
        }
    }

    /** Lets the directory go; the file stays (a later holder rewrites it). */
    @Override
    public void close() {
        try {
            lock.release();
            channel.close();
        } catch (IOException ignored) {
            // closing the channel drops the lock in any case
        }
    }
}
