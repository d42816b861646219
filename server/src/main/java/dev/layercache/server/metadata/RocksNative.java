package dev.layercache.server.metadata;

import java.io.IOException;
import java.io.InputStream;
import java.net.JarURLConnection;
import java.net.URL;
import java.net.URLConnection;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.jar.JarEntry;
import org.rocksdb.RocksDB;
import org.rocksdb.util.Environment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads RocksDB's native library without leaving a copy of it behind at every start.
 *
 * <p>RocksJava copies its 15 MB library out of the jar into a new temporary file at every start
 * and deletes it only when the JVM exits normally. A node that is killed ({@code kill -9}, the
 * OOM killer, a supervisor's stop timeout) leaves its copy: a node restarted in a loop fills
 * {@code /tmp} (the test suite's crash tests had left 29 GB of them on a development machine).
 * Here the library is copied once per library version into
 * {@code <java.io.tmpdir>/layercache-native-<user>/<crc>-<size>/} and every later start loads that
 * copy. The folder is made private to the user (0700) and used only while it is: a library that
 * other users could replace would be code they run in this process.
 *
 * <p>{@code ROCKSDB_SHAREDLIB_DIR} (RocksJava's own setting) still wins; anything unusual (no jar
 * entry, a folder owned by someone else, a file system without POSIX permissions) falls back to
 * RocksJava's own loading, with its temporary copy, after saying why.
 */
final class RocksNative {
    private static final Logger log = LoggerFactory.getLogger(RocksNative.class);
    /** A partial copy older than this was left by a process that died while copying. */
    private static final Duration ABANDONED_COPY = Duration.ofHours(1);
    private static final Set<PosixFilePermission> PRIVATE = PosixFilePermissions.fromString("rwx------");

    private RocksNative() {
    }

    /** Loads the library once per JVM (RocksJava ignores later calls). */
    static void load() {
        if (System.getenv("ROCKSDB_SHAREDLIB_DIR") == null) {
            try {
                Path folder = keptCopy(Path.of(System.getProperty("java.io.tmpdir")));
                if (folder != null) {
                    RocksDB.loadLibrary(List.of(folder.toString()));
                    return;
                }
            } catch (IOException | RuntimeException | UnsatisfiedLinkError e) {
                // RocksDB.loadLibrary(List) leaves the library "not loaded" when it fails: the
                // ordinary loading below still works.
                log.warn("RocksDB's native library: cannot keep one copy in the temporary folder ({}); "
                        + "RocksJava copies it for this run", e.toString());
            }
        }
        RocksDB.loadLibrary();
    }

    /** The file RocksDB.loadLibrary(List) loads from each folder it is given. */
    static String keptFileName() {
        // Not the jar entry's name ("librocksdbjni-linux64.so"): RocksJava 10 asks that helper for
        // "rocksdbjni", which comes back as "librocksdbjnijni-linux64.so". The copy takes the name
        // it looks for.
        return Environment.getJniLibraryFileName("rocksdbjni");
    }

    /**
     * The folder holding the library's kept copy under {@code tmp}, made if missing, or null when
     * the library is not a jar entry (RocksJava then loads it its own way).
     */
    static Path keptCopy(Path tmp) throws IOException {
        String entryName = Environment.getJniLibraryFileName("rocksdb");
        URL url = RocksDB.class.getClassLoader().getResource(entryName);
        if (url == null) {
            return null;
        }
        URLConnection connection = url.openConnection();
        if (!(connection instanceof JarURLConnection jar)) {
            return null;
        }
        connection.setUseCaches(false); // do not keep the jar open after this
        JarEntry entry = jar.getJarEntry();
        if (entry.getSize() < 0 || entry.getCrc() < 0) {
            return null;
        }
        String user = System.getProperty("user.name", "unknown").replaceAll("[^A-Za-z0-9._-]", "_");
        Path base = privateFolder(tmp.resolve("layercache-native-" + user));
        Path folder = privateFolder(base.resolve(String.format(Locale.ROOT, "%08x-%d", entry.getCrc(), entry.getSize())));
        String libraryFile = keptFileName();
        Path library = folder.resolve(libraryFile);
        if (Files.isRegularFile(library, LinkOption.NOFOLLOW_LINKS) && Files.size(library) == entry.getSize()) {
            return folder;
        }
        removeAbandonedCopies(folder);
        // Copied beside, then renamed: a process loading the library at the same moment sees the
        // whole file or none, and two processes copying at once both end with the same bytes.
        Path partial = Files.createTempFile(folder, libraryFile, ".partial");
        try {
            try (InputStream in = connection.getInputStream()) {
                Files.copy(in, partial, StandardCopyOption.REPLACE_EXISTING);
            }
            if (Files.size(partial) != entry.getSize()) {
                throw new IOException("copied " + Files.size(partial) + " of the library's " + entry.getSize() + " bytes");
            }
            try {
                Files.move(partial, library, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot rename within " + folder, e);
            }
        } finally {
            Files.deleteIfExists(partial);
        }
        log.info("RocksDB's native library copied once to {} (later starts load that copy)", library);
        return folder;
    }

    /** {@code folder}, made 0700 if missing; refused unless it is a real folder only its owner, this user, can change. */
    private static Path privateFolder(Path folder) throws IOException {
        if (!Files.exists(folder, LinkOption.NOFOLLOW_LINKS)) {
            try {
                Files.createDirectory(folder, PosixFilePermissions.asFileAttribute(PRIVATE));
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                // made by another process of this user at the same moment: checked below
            }
        }
        if (!Files.isDirectory(folder, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException(folder + " is not a folder");
        }
        String me = System.getProperty("user.name");
        String owner = Files.getOwner(folder, LinkOption.NOFOLLOW_LINKS).getName();
        if (!owner.equals(me)) {
            throw new IOException(folder + " belongs to " + owner + ", not " + me);
        }
        if (!Files.getPosixFilePermissions(folder, LinkOption.NOFOLLOW_LINKS).equals(PRIVATE)) {
            throw new IOException(folder + " is not private to its owner (0700)");
        }
        return folder;
    }

    private static void removeAbandonedCopies(Path folder) throws IOException {
        FileTime before = FileTime.from(Instant.now().minus(ABANDONED_COPY));
        try (DirectoryStream<Path> partials = Files.newDirectoryStream(folder, "*.partial")) {
            for (Path p : partials) {
                if (Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).compareTo(before) < 0) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }
}
