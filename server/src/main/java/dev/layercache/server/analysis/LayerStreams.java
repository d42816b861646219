package dev.layercache.server.analysis;

import com.github.luben.zstd.ZstdInputStream;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.zip.GZIPInputStream;
import org.apache.commons.io.input.ProxyInputStream;

/**
 * Opens a layer blob as the tar stream inside it. The compression is told by the first bytes,
 * not by the media type: Docker and OCI media types disagree on names, and BuildKit caches hold
 * layers under types of their own. gzip ({@code 1f 8b}), zstd ({@code 28 b5 2f fd}) or a plain tar.
 */
public final class LayerStreams {
    /** How a layer was compressed. */
    public enum Compression {
        GZIP, ZSTD, NONE;

        public String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** A decompressed layer and the compression it had. */
    public record Opened(InputStream tar, Compression compression) {
    }

    private LayerStreams() {
    }

    /**
     * The stored blob under a layer. It remembers a failure of its own (a read error of the file
     * or the bucket), so that the analysis does not mistake it for a corrupt layer.
     */
    static final class Source extends ProxyInputStream {
        IOException failed;

        Source(InputStream in) {
            super(in);
        }

        @Override
        protected void handleIOException(IOException e) throws IOException {
            failed = e;
            throw e;
        }
    }

    public static Opened open(InputStream blob) throws IOException {
        BufferedInputStream in = blob instanceof BufferedInputStream b ? b : new BufferedInputStream(blob, 1 << 16);
        in.mark(4);
        byte[] magic = in.readNBytes(4);
        in.reset();
        if (magic.length >= 2 && (magic[0] & 0xff) == 0x1f && (magic[1] & 0xff) == 0x8b) {
            // GZIPInputStream reads concatenated members, as pigz and some layer writers produce.
            return new Opened(new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16), Compression.GZIP);
        }
        if (magic.length == 4 && (magic[0] & 0xff) == 0x28 && (magic[1] & 0xff) == 0xb5
                && (magic[2] & 0xff) == 0x2f && (magic[3] & 0xff) == 0xfd) {
            ZstdInputStream z = new ZstdInputStream(in);
            z.setContinuous(false); // a truncated frame is an error, not a wait for more
            return new Opened(new BufferedInputStream(z, 1 << 16), Compression.ZSTD);
        }
        return new Opened(in, Compression.NONE);
    }
}
