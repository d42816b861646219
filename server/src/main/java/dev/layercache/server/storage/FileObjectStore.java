package dev.layercache.server.storage;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;

/**
 * {@link ObjectStore} in a folder, typically one that every node mounts (NFS). An object is the
 * file {@code root/<key>}, so a {@code /} in a key is a folder; a key cannot therefore name both
 * an object and a folder of other keys ({@code a} and {@code a/b}): the second write fails.
 *
 * <pre>
 * root/
 *   .tmp/            writes in progress (same file system, so the final rename is atomic);
 *                    files a day old are a crashed writer's, removed by open()
 *   &lt;key&gt;            whole objects, renamed or linked into place
 * </pre>
 *
 * <p>Every write goes to a file in {@code .tmp/}, is fsynced, and is then renamed over the key
 * (replace) or hard-linked to it ({@code link(2)} fails when the name exists, atomically also on
 * NFS, which makes {@link #putIfAbsent} safe between nodes); the folder is fsynced after, so a
 * write that returned survives a crash. Readers open a file that is whole.
 *
 * <p>{@code .tmp/} also tells a mounted share from the empty folder left by a lost mount: an
 * answer of "absent" is given only while it is there, "unavailable" otherwise. Empty folders
 * left by deletions stay (another node may be writing into one).
 */
public final class FileObjectStore implements ObjectStore {
    private static final String TMP = ".tmp";
    private static final Pattern KEY = Pattern.compile("[A-Za-z0-9!%._:-]+(/[A-Za-z0-9!%._:-]+)*");

    private final Path root;
    private final Path tmp;

    private FileObjectStore(Path root) {
        this.root = root;
        this.tmp = root.resolve(TMP);
    }

    /** A store in {@code root}, which must exist (a share is mounted before the node starts). */
    public static FileObjectStore open(Path root) throws IOException {
        if (!Files.isDirectory(root)) {
            throw new UnavailableException("object folder " + root + " does not exist", null);
        }
        Path real = root.toRealPath();
        Path tmp = Files.createDirectories(real.resolve(TMP));
        // Left by crashed writers (of any node: no write takes a day).
        Instant stale = Instant.now().minus(Duration.ofDays(1));
        try (DirectoryStream<Path> leftovers = Files.newDirectoryStream(tmp)) {
            for (Path leftover : leftovers) {
                if (Files.getLastModifiedTime(leftover).toInstant().isBefore(stale)) {
                    Files.deleteIfExists(leftover);
                }
            }
        }
        return new FileObjectStore(real);
    }

    @Override
    public void put(String key, byte[] bytes) throws IOException {
        Path target = path(key);
        try {
            replace(writeTemp(bytes), target);
        } catch (IOException e) {
            throw failure("put", key, e);
        }
    }

    @Override
    public void putFile(String key, Path file, long size) throws IOException {
        Path target = path(key);
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            try {
                replace(copyToTemp(in, size, file), target);
            } catch (IOException e) {
                throw failure("put_file", key, e);
            }
        }
    }

    @Override
    public boolean putIfAbsent(String key, byte[] bytes) throws IOException {
        Path target = path(key);
        Path temp = null;
        try {
            temp = writeTemp(bytes);
            createDirectories(target.getParent());
            try {
                Files.createLink(target, temp);
            } catch (FileAlreadyExistsException e) {
                if (Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
                    throw e; // a folder of other keys, not an object
                }
                // NFS may answer a retransmitted link(2) that did succeed with EEXIST: then the
                // temporary file has two names.
                if ((Integer) Files.getAttribute(temp, "unix:nlink") != 2) {
                    return false;
                }
            }
            fsync(target.getParent());
            return true;
        } catch (IOException e) {
            throw failure("put_if_absent", key, e);
        } finally {
            if (temp != null) {
                Files.deleteIfExists(temp);
            }
        }
    }

    @Override
    public byte[] get(String key) throws IOException {
        Path path = path(key);
        try {
            return Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            return absent(null);
        } catch (IOException e) {
            if (Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS)) {
                return absent(null);
            }
            throw failure("get", key, e);
        }
    }

    @Override
    public long size(String key) throws IOException {
        try {
            BasicFileAttributes attributes = Files.readAttributes(path(key), BasicFileAttributes.class,
                    LinkOption.NOFOLLOW_LINKS);
            return attributes.isRegularFile() ? attributes.size() : absent(-1L);
        } catch (NoSuchFileException e) {
            return absent(-1L);
        } catch (IOException e) {
            throw failure("size", key, e);
        }
    }

    @Override
    public boolean download(String key, Path target) throws IOException {
        Path source = path(key);
        // Into a temporary file beside the target, then renamed: the target is never half-written.
        Path temp = Files.createTempFile(target.toAbsolutePath().getParent(), "." + target.getFileName(), ".part");
        try {
            try (FileChannel in = FileChannel.open(source, StandardOpenOption.READ);
                 FileChannel out = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                long size = in.size();
                for (long done = 0; done < size; ) {
                    done += in.transferTo(done, size - done, out);
                }
            } catch (NoSuchFileException e) {
                return absent(false);
            } catch (IOException e) {
                if (Files.isDirectory(source, LinkOption.NOFOLLOW_LINKS)) {
                    return absent(false);
                }
                throw failure("download", key, e);
            }
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return true;
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    /**
     * No folder fsync: a deletion the machine forgets brings an object back, which callers
     * of a cache tier can live with (the same trade as {@link DiskBlobBackend#delete}).
     */
    @Override
    public void delete(String key) throws IOException {
        Path path = path(key);
        try {
            if (!Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS)) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            throw failure("delete", key, e);
        }
    }

    /**
     * A depth-first walk in key order: folder {@code d} sorts as {@code d/} among its siblings, which
     * is where every key below it sorts (keys are ASCII, so UTF-16 order is UTF-8 byte order).
     * Folders wholly outside the prefix or wholly at or before {@code startAfter} are skipped.
     */
    @Override
    public List<ObjectInfo> listObjects(String prefix, String startAfter, int limit) throws IOException {
        List<ObjectInfo> out = new ArrayList<>();
        for (String key : list(prefix, startAfter, limit)) {
            try {
                java.nio.file.attribute.BasicFileAttributes a = Files.readAttributes(root.resolve(key),
                        java.nio.file.attribute.BasicFileAttributes.class);
                out.add(new ObjectInfo(key, a.size(), a.lastModifiedTime().toMillis()));
            } catch (java.nio.file.NoSuchFileException gone) {
                // deleted since the walk: not listed
            }
        }
        return out;
    }

    @Override
    public List<String> list(String prefix, String startAfter, int limit) throws IOException {
        List<String> keys = new ArrayList<>();
        if (limit <= 0) {
            return keys;
        }
        try {
            walk(root, "", prefix == null ? "" : prefix, startAfter == null ? "" : startAfter, limit, keys);
        } catch (IOException e) {
            throw failure("list", prefix, e);
        }
        if (keys.isEmpty()) {
            absent(null);
        }
        return keys;
    }

    private void walk(Path dir, String dirKey, String prefix, String after, int limit, List<String> keys)
            throws IOException {
        List<String> entries = new ArrayList<>();
        try (DirectoryStream<Path> children = Files.newDirectoryStream(dir)) {
            for (Path child : children) {
                String name = child.getFileName().toString();
                if (dirKey.isEmpty() && name.equals(TMP)) {
                    continue;
                }
                entries.add(Files.isDirectory(child, LinkOption.NOFOLLOW_LINKS) ? name + "/" : name);
            }
        } catch (NoSuchFileException e) {
            return; // deleted meanwhile
        }
        entries.sort(Comparator.naturalOrder());
        for (String entry : entries) {
            if (keys.size() >= limit) {
                return;
            }
            String key = dirKey + entry;
            if (entry.endsWith("/")) {
                boolean inPrefix = key.startsWith(prefix) || prefix.startsWith(key);
                boolean pastAfter = after.compareTo(key) < 0 || after.startsWith(key);
                if (inPrefix && pastAfter) {
                    walk(dir.resolve(entry.substring(0, entry.length() - 1)), key, prefix, after, limit, keys);
                }
            } else if (key.startsWith(prefix) && key.compareTo(after) > 0) {
                keys.add(key);
            }
        }
    }

    @Override
    public void close() {
        // nothing held open
    }

    private Path path(String key) {
        if (key == null || !KEY.matcher(key).matches()) {
            throw new IllegalArgumentException("not an object key: " + key);
        }
        for (String segment : key.split("/")) {
            if (segment.equals(".") || segment.equals("..")) {
                throw new IllegalArgumentException("not an object key: " + key);
            }
        }
        if (key.equals(TMP) || key.startsWith(TMP + "/")) {
            throw new IllegalArgumentException("reserved for writes in progress: " + key);
        }
        return root.resolve(key);
    }

    /** A fsynced file in {@code .tmp/} holding {@code bytes}. */
    private Path writeTemp(byte[] bytes) throws IOException {
        Path temp = Files.createTempFile(tmp, "put", ".tmp");
        try (FileChannel out = FileChannel.open(temp, StandardOpenOption.WRITE)) {
            ByteBuffer buffer = ByteBuffer.wrap(bytes);
            while (buffer.hasRemaining()) {
                out.write(buffer);
            }
            out.force(true);
        } catch (IOException e) {
            Files.deleteIfExists(temp);
            throw e;
        }
        return temp;
    }

    /** A fsynced file in {@code .tmp/} holding the first {@code size} bytes of {@code in}. */
    private Path copyToTemp(FileChannel in, long size, Path file) throws IOException {
        Path temp = Files.createTempFile(tmp, "put", ".tmp");
        try (FileChannel out = FileChannel.open(temp, StandardOpenOption.WRITE)) {
            for (long done = 0; done < size; ) {
                long n = in.transferTo(done, size - done, out);
                if (n <= 0 && in.size() <= done) {
                    throw new EOFException(file + " has " + in.size() + " bytes, not " + size);
                }
                done += n;
            }
            out.force(true);
        } catch (IOException e) {
            Files.deleteIfExists(temp);
            throw e;
        }
        return temp;
    }

    /** rename(2) over the key: readers see the old object or the new one, whole. */
    private void replace(Path temp, Path target) throws IOException {
        try {
            createDirectories(target.getParent());
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            Files.deleteIfExists(temp);
            throw e;
        }
        fsync(target.getParent());
    }

    /** Creates the missing folders of a key, each made durable in its parent. */
    private void createDirectories(Path dir) throws IOException {
        if (Files.isDirectory(dir)) {
            return;
        }
        createDirectories(dir.getParent());
        try {
            Files.createDirectory(dir);
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(dir)) {
                throw e; // an object already has this name
            }
        }
        fsync(dir.getParent());
    }

    private static void fsync(Path dir) throws IOException {
        DiskBlobBackend.fsyncDirectory(dir);
    }

    /** {@code answer}, when the folder is still the store: a lost mount is not "absent". */
    private <T> T absent(T answer) throws UnavailableException {
        if (!Files.isDirectory(tmp)) {
            throw new UnavailableException("object folder " + root + " has no " + TMP + "/ (share not mounted?)", null);
        }
        return answer;
    }

    /**
     * I/O errors of the share (EIO, ESTALE, no space...) are "unavailable"; a key that collides
     * with a folder, a source file shorter than said and an interrupted caller are not.
     */
    private IOException failure(String operation, String key, IOException e) {
        if (e instanceof UnavailableException || e instanceof ClosedByInterruptException || e instanceof EOFException
                || e instanceof FileAlreadyExistsException || e instanceof NotDirectoryException
                || e instanceof DirectoryNotEmptyException) {
            return e;
        }
        return new UnavailableException("object folder " + root + ": " + operation + " " + key + " failed: " + e, e);
    }
}
