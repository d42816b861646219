package dev.layercache.loadtest;

import dev.layercache.client.BlobSource;
import dev.layercache.client.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.util.SplittableRandom;

/**
 * The bytes a simulated step produces: a seed and a size determine them, so every builder that
 * runs the same step produces the same layer (a reproducible build) and no builder holds a layer
 * in memory. They are generated in 64 KiB blocks, each from its own pseudo-random stream, so a
 * stream can open at any offset at once (a resumed upload does) and costs one block of memory.
 *
 * <p>The bytes are incompressible, like the compressed layers registries really store. The
 * digest takes one pass over them; it is computed once, when first asked (the simulated step
 * "running"), and remembered.
 */
final class SyntheticLayer implements BlobSource {
    /** The media type the simulator gives its layers: a plain tar, so that its digest is also its diff ID. */
    static final String MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar";

    private static final int BLOCK = 64 << 10;
    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    private final long seed;
    private final long size;
    private volatile Digest digest;

    SyntheticLayer(long seed, long size) {
        if (size < 0) {
            throw new IllegalArgumentException("size must not be negative: " + size);
        }
        this.seed = seed;
        this.size = size;
    }

    long size() {
        return size;
    }

    /** The SHA-256 of the bytes; the first call generates and hashes them all. */
    Digest digest() {
        Digest d = digest;
        if (d == null) {
            synchronized (this) {
                d = digest;
                if (d == null) {
                    d = hash();
                    digest = d;
                }
            }
        }
        return d;
    }

    /** A stream of the bytes from {@code offset} to the end. */
    @Override
    public InputStream open(long offset) {
        if (offset < 0 || offset > size) {
            throw new IllegalArgumentException("offset " + offset + " outside 0.." + size);
        }
        return new Generator(offset);
    }

    private Digest hash() {
        MessageDigest sha = Digest.Algorithm.SHA256.newMessageDigest();
        byte[] block = new byte[BLOCK];
        for (long index = 0, done = 0; done < size; index++) {
            fill(index, block);
            int n = (int) Math.min(BLOCK, size - done);
            sha.update(block, 0, n);
            done += n;
        }
        return Digest.of(Digest.Algorithm.SHA256, sha.digest());
    }

    private void fill(long blockIndex, byte[] block) {
        // Each block its own stream: any block can be made without the ones before it.
        SplittableRandom random = new SplittableRandom(seed ^ (blockIndex * 0x9E3779B97F4A7C15L));
        for (int i = 0; i < BLOCK; i += Long.BYTES) {
            LONGS.set(block, i, random.nextLong());
        }
    }

    private final class Generator extends InputStream {
        private final byte[] block = new byte[BLOCK];
        private long position;
        private long blockIndex = -1;

        Generator(long offset) {
            this.position = offset;
        }

        @Override
        public int read() {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (position >= size) {
                return -1;
            }
            if (len == 0) {
                return 0;
            }
            long index = position / BLOCK;
            if (index != blockIndex) {
                fill(index, block);
                blockIndex = index;
            }
            int inBlock = (int) (position % BLOCK);
            int n = (int) Math.min(Math.min(len, BLOCK - inBlock), size - position);
            System.arraycopy(block, inBlock, b, off, n);
            position += n;
            return n;
        }

        @Override
        public long skip(long n) {
            long skipped = Math.max(0, Math.min(n, size - position));
            position += skipped;
            return skipped;
        }

        @Override
        public int available() throws IOException {
            return (int) Math.min(Integer.MAX_VALUE, size - position);
        }
    }
}
