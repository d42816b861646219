package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * One file a build step reads: its path in the build context, its Unix permission bits and the
 * digest of its content. Modification times, owners and other metadata are deliberately not part
 * of an input, so that a fresh checkout of the same sources gives the same cache keys.
 *
 * <p>The path is relative, with {@code /} separators, no empty, {@code .} or {@code ..}
 * component and no leading or trailing slash (for example {@code src/main/App.java}); the mode
 * keeps the permission bits {@code 07777} only. The factories {@link #fromFile} and
 * {@link #fromPaths} build inputs from local files in that form.
 *
 * @param path the path relative to the build context, {@code /}-separated
 * @param mode the Unix permission bits, for example {@code 0644}
 * @param digest the digest of the file's content
 */
public record StepInput(String path, int mode, Digest digest) {

    /** Validates the path and mode; see the type's documentation for the rules. */
    public StepInput {
        requireNonNull(path, "path");
        requireNonNull(digest, "digest");
        checkPath(path);
        if (mode < 0 || mode > 07777) {
            throw new IllegalArgumentException("mode must be within 0 and 07777, not 0" + Integer.toOctalString(mode));
        }
    }

    /** Same as the canonical constructor. */
    public static StepInput of(String path, int mode, Digest digest) {
        return new StepInput(path, mode, digest);
    }

    /**
     * The input for one regular file (symbolic links are followed): its path relative to
     * {@code context}, its permission bits (on a file system without POSIX permissions: 0755 when
     * executable, else 0644) and the SHA-256 of its content.
     *
     * @throws IllegalArgumentException when {@code file} is not inside {@code context} or not a regular file
     */
    public static StepInput fromFile(Path context, Path file) throws IOException {
        requireNonNull(context, "context");
        requireNonNull(file, "file");
        Path root = context.toAbsolutePath().normalize();
        Path abs = (file.isAbsolute() ? file : root.resolve(file)).normalize();
        if (!abs.startsWith(root) || abs.equals(root)) {
            throw new IllegalArgumentException(file + " is not inside the build context " + context);
        }
        if (!Files.isRegularFile(abs)) {
            throw new IllegalArgumentException(file + " is not a regular file");
        }
        StringBuilder rel = new StringBuilder();
        for (Path part : root.relativize(abs)) {
            if (rel.length() > 0) {
                rel.append('/');
            }
            rel.append(part);
        }
        return new StepInput(rel.toString(), modeOf(abs), Digest.sha256(abs));
    }

    /**
     * The inputs for files and directories under {@code context}: a file gives itself, a
     * directory every regular file below it (recursively; empty directories give nothing). The
     * result is sorted by path and has no duplicates.
     */
    public static List<StepInput> fromPaths(Path context, Collection<Path> paths) throws IOException {
        requireNonNull(context, "context");
        requireNonNull(paths, "paths");
        Path root = context.toAbsolutePath().normalize();
        Map<String, StepInput> byPath = new HashMap<>();
        for (Path p : paths) {
            requireNonNull(p, "paths element");
            Path abs = (p.isAbsolute() ? p : root.resolve(p)).normalize();
            if (Files.isDirectory(abs)) {
                List<Path> files = new ArrayList<>();
                try (Stream<Path> walk = Files.walk(abs, FileVisitOption.FOLLOW_LINKS)) {
                    walk.filter(Files::isRegularFile).forEach(files::add);
                }
                for (Path f : files) {
                    StepInput in = fromFile(root, f);
                    byPath.put(in.path(), in);
                }
            } else {
                StepInput in = fromFile(root, abs);
                byPath.put(in.path(), in);
            }
        }
        List<StepInput> sorted = new ArrayList<>(byPath.values());
        sorted.sort(CacheKey.INPUT_ORDER);
        return List.copyOf(sorted);
    }

    /** The mode as four octal digits, for example {@code 0644}. */
    public String octalMode() {
        return String.format("%04o", mode);
    }

    private static int modeOf(Path file) throws IOException {
        try {
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
            int mode = 0;
            for (PosixFilePermission p : perms) {
                mode |= switch (p) {
                    case OWNER_READ -> 0400;
                    case OWNER_WRITE -> 0200;
                    case OWNER_EXECUTE -> 0100;
                    case GROUP_READ -> 040;
                    case GROUP_WRITE -> 020;
                    case GROUP_EXECUTE -> 010;
                    case OTHERS_READ -> 04;
                    case OTHERS_WRITE -> 02;
                    case OTHERS_EXECUTE -> 01;
                };
            }
            try {
                Object unixMode = Files.getAttribute(file, "unix:mode");
                if (unixMode instanceof Integer m) {
                    mode |= m & 07000;
                }
            } catch (UnsupportedOperationException | IllegalArgumentException e) {
                // No "unix" view: the permission bits are all there is.
            }
            return mode;
        } catch (UnsupportedOperationException e) {
            return Files.isExecutable(file) ? 0755 : 0644;
        }
    }

    static void checkPath(String path) {
        if (path.isEmpty()) {
            throw new IllegalArgumentException("an input path must not be empty");
        }
        if (path.startsWith("/") || path.endsWith("/")) {
            throw new IllegalArgumentException("an input path is relative, without a leading or trailing slash: \""
                    + path + "\"");
        }
        if (path.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("an input path has no NUL character: \"" + path + "\"");
        }
        for (String part : path.split("/", -1)) {
            if (part.isEmpty() || part.equals(".") || part.equals("..")) {
                throw new IllegalArgumentException("an input path has no empty, . or .. component: \"" + path + "\"");
            }
        }
    }
}
