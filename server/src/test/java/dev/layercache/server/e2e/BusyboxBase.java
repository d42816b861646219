package dev.layercache.server.e2e;

import dev.layercache.server.testing.RealTools;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * The base image of every end-to-end build, made without any public registry (see
 * REAL-CLIENTS.md): a static busybox and its applet links in a folder, to be put into a
 * {@code FROM scratch} image and pushed to the server under test.
 */
final class BusyboxBase {
    static final List<String> APPLETS = List.of("sh", "echo", "cat", "sleep", "ls", "date", "wc", "head", "od", "tr");

    private BusyboxBase() {
    }

    /** Creates {@code dir/base/bin/{busybox,sh,...}} and {@code dir/Base.Containerfile}; returns {@code dir}. */
    static Path create(Path dir) throws IOException {
        Path busybox = RealTools.require("busybox", "static busybox for the test base image (package busybox-static)");
        RealTools.requireThat(isStatic(busybox.toRealPath()),
                busybox + " is dynamically linked; a FROM scratch image needs package busybox-static");
        Path bin = Files.createDirectories(dir.resolve("base/bin"));
        Files.copy(busybox.toRealPath(), bin.resolve("busybox"), StandardCopyOption.REPLACE_EXISTING);
        bin.resolve("busybox").toFile().setExecutable(true, false);
        for (String applet : APPLETS) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        Files.writeString(dir.resolve("Base.Containerfile"), "FROM scratch\nCOPY base/ /\n");
        return dir;
    }

    /** True for an ELF file without a PT_INTERP program header (no dynamic loader). */
    static boolean isStatic(Path elf) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(elf.toFile(), "r")) {
            byte[] ident = new byte[64];
            f.readFully(ident);
            if (ident[0] != 0x7f || ident[1] != 'E' || ident[2] != 'L' || ident[3] != 'F' || ident[4] != 2) {
                return false; // not a 64-bit ELF: not what we expect on x86-64/arm64
            }
            ByteBuffer h = ByteBuffer.wrap(ident).order(ident[5] == 1 ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN);
            long phoff = h.getLong(0x20);
            int phentsize = Short.toUnsignedInt(h.getShort(0x36));
            int phnum = Short.toUnsignedInt(h.getShort(0x38));
            byte[] ph = new byte[4];
            for (int i = 0; i < phnum; i++) {
                f.seek(phoff + (long) i * phentsize);
                f.readFully(ph);
                int type = ByteBuffer.wrap(ph).order(h.order()).getInt();
                if (type == 3) { // PT_INTERP
                    return false;
                }
            }
            return true;
        }
    }
}
