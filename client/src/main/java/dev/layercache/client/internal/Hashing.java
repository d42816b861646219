package dev.layercache.client.internal;

import dev.layercache.client.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/** Hashing helpers: constant memory, whatever the size. Not part of the public API. */
public final class Hashing {
    private static final int BUFFER = 1 << 16;

    private Hashing() {
    }

    public static MessageDigest messageDigest(String jcaName) {
        try {
            return MessageDigest.getInstance(jcaName);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM lacks " + jcaName, e);
        }
    }

    public static Digest digest(InputStream in, Digest.Algorithm algorithm) throws IOException {
        MessageDigest md = algorithm.newMessageDigest();
        byte[] buffer = new byte[BUFFER];
        int n;
        while ((n = in.read(buffer)) >= 0) {
            md.update(buffer, 0, n);
        }
        return Digest.of(algorithm, md.digest());
    }

    public static Digest digest(Path file, Digest.Algorithm algorithm) throws IOException {
        MessageDigest md = algorithm.newMessageDigest();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buffer = ByteBuffer.allocate(BUFFER);
            while (ch.read(buffer) >= 0) {
                buffer.flip();
                md.update(buffer);
                buffer.clear();
            }
        }
        return Digest.of(algorithm, md.digest());
    }
}
