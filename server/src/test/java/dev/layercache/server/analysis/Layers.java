package dev.layercache.server.analysis;

import com.github.luben.zstd.ZstdOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/** Hand-made layer tars for tests: files, directories, whiteouts and opaque markers, then compressed. */
public final class Layers {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final TarArchiveOutputStream tar;

    public Layers() {
        tar = new TarArchiveOutputStream(bytes);
        tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
        tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
    }

    public Layers dir(String path) {
        TarArchiveEntry e = new TarArchiveEntry(path.endsWith("/") ? path : path + "/");
        return put(e, new byte[0]);
    }

    public Layers file(String path, byte[] content) {
        TarArchiveEntry e = new TarArchiveEntry(path);
        e.setSize(content.length);
        return put(e, content);
    }

    public Layers file(String path, String content) {
        return file(path, content.getBytes(StandardCharsets.UTF_8));
    }

    /** A file of {@code size} bytes of a repeated byte. */
    public Layers file(String path, int size) {
        byte[] b = new byte[size];
        java.util.Arrays.fill(b, (byte) 'x');
        return file(path, b);
    }

    /** A symbolic link {@code path} -> {@code target}. */
    public Layers symlink(String path, String target) {
        TarArchiveEntry e = new TarArchiveEntry(path, TarArchiveEntry.LF_SYMLINK);
        e.setLinkName(target);
        return put(e, new byte[0]);
    }

    /** Deletes {@code path} from lower layers ({@code dir/.wh.name}). */
    public Layers whiteout(String path) {
        int slash = path.lastIndexOf('/');
        return file(path.substring(0, slash + 1) + ".wh." + path.substring(slash + 1), new byte[0]);
    }

    /** Hides every lower entry of {@code dir}. */
    public Layers opaque(String dir) {
        return file((dir.endsWith("/") ? dir : dir + "/") + ".wh..wh..opq", new byte[0]);
    }

    private Layers put(TarArchiveEntry e, byte[] content) {
        try {
            tar.putArchiveEntry(e);
            tar.write(content);
            tar.closeArchiveEntry();
            return this;
        } catch (IOException x) {
            throw new UncheckedIOException(x);
        }
    }

    public byte[] tar() {
        try {
            tar.finish();
            tar.close();
            return bytes.toByteArray();
        } catch (IOException x) {
            throw new UncheckedIOException(x);
        }
    }

    public byte[] gzip() {
        return gzip(tar());
    }

    public byte[] zstd() {
        return zstd(tar());
    }

    public static byte[] gzip(byte[] raw) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (OutputStream z = new GZIPOutputStream(out)) {
            z.write(raw);
        } catch (IOException x) {
            throw new UncheckedIOException(x);
        }
        return out.toByteArray();
    }

    public static byte[] zstd(byte[] raw) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (OutputStream z = new ZstdOutputStream(out)) {
            z.write(raw);
        } catch (IOException x) {
            throw new UncheckedIOException(x);
        }
        return out.toByteArray();
    }
}
