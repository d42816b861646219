package dev.layercache.loadtest;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.SplittableRandom;

/**
 * Fresh random content for uploads: every blob is new to the server, so nothing is deduplicated
 * and every byte is received, hashed and stored. Made (and hashed) before a measurement starts.
 */
final class RandomContent {
    private static final SplittableRandom SEEDS = new SplittableRandom();

    private RandomContent() {
    }

    /** Writes {@code size} random bytes to {@code file} (replacing it), synced; returns their digest. */
    static String file(Path file, long size) throws IOException {
        SplittableRandom random;
        synchronized (SEEDS) {
            random = SEEDS.split();
        }
        MessageDigest sha = sha256();
        ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            for (long written = 0; written < size; ) {
                buffer.clear();
                while (buffer.remaining() >= Long.BYTES) {
                    buffer.putLong(random.nextLong());
                }
                buffer.flip();
                buffer.limit((int) Math.min(buffer.limit(), size - written));
                sha.update(buffer.array(), 0, buffer.limit());
                while (buffer.hasRemaining()) {
                    written += out.write(buffer);
                }
            }
            // Dirty pages would otherwise be written back during the measurement that follows.
            out.force(false);
        }
        return digest(sha);
    }

    /** {@code size} random bytes. */
    static byte[] bytes(int size) {
        byte[] b = new byte[size];
        synchronized (SEEDS) {
            SEEDS.split().nextBytes(b);
        }
        return b;
    }

    /** The digest of {@code file}'s bytes, read once. */
    static String digestOf(Path file) throws IOException {
        MessageDigest sha = sha256();
        ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
        try (FileChannel in = FileChannel.open(file)) {
            while (in.read(buffer.clear()) >= 0) {
                sha.update(buffer.array(), 0, buffer.position());
            }
        }
        return digest(sha);
    }

    static String digestOf(byte[] content) {
        MessageDigest sha = sha256();
        sha.update(content);
        return digest(sha);
    }

    static String digest(MessageDigest sha) {
        return "sha256:" + HexFormat.of().formatHex(sha.digest());
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
