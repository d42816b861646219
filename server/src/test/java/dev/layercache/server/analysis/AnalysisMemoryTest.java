package dev.layercache.server.analysis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.ServerProcess;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A layer of several hundred MiB (generated while it is compressed, never held whole) analysed by
 * a server process with a 64 MiB heap: the walker streams, so the analysis completes.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AnalysisMemoryTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int SMALL_FILES = 20_000;
    private static final int SMALL_SIZE = 4096;
    private static final int BIG_FILES = 4;
    private static final long BIG_SIZE = 64L << 20;

    @TempDir
    Path dir;

    @Test
    void aLayerOfHundredsOfMebibytesIsAnalysedWithA64MiBHeap() throws Exception {
        byte[] layer = hugeLayer();
        byte[] config = "{\"os\":\"linux\",\"history\":[{\"created_by\":\"COPY big\"}]}".getBytes();
        try (ServerProcess server = ServerProcess.start(dir.resolve("data"), dir.resolve("server.log"),
                List.of("-Xmx64m"))) {
            Registry r = new Registry(server.port());
            assertEquals(201, r.pushBlob("big/app", config));
            assertEquals(201, r.pushBlob("big/app", layer));
            assertEquals(201, r.pushManifest("big/app", "v1", "application/vnd.oci.image.manifest.v1+json",
                    Registry.imageManifest(config, layer)));
            HttpResponse<byte[]> res = r.get("/api/v1/analysis/big/app/v1");
            assertEquals(200, res.statusCode(), Registry.utf8(res.body()) + server.log());
            JsonNode a = JSON.readTree(res.body());
            long expectedBytes = (long) SMALL_FILES * SMALL_SIZE + BIG_FILES * BIG_SIZE;
            assertTrue(expectedBytes > 300L << 20, "a layer of several hundred MiB");
            assertEquals(expectedBytes, a.get("totals").get("file_bytes").asLong());
            assertEquals(SMALL_FILES + BIG_FILES, a.get("layers").get(0).get("files").asLong());
            assertTrue(a.get("layers").get(0).get("uncompressed_size").asLong() > expectedBytes);
            assertEquals(1.0, a.get("totals").get("efficiency").asDouble());
            assertEquals("COPY big", a.get("layers").get(0).get("instruction").asText());
            assertTrue(server.process().isAlive());
            assertFalse(server.log().contains("OutOfMemoryError"), server.log());
        }
    }

    /** A gzip tar of many small files and a few big ones, all zeros: small to push, big to walk. */
    private static byte[] hugeLayer() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bytes, 1 << 16) {
            {
                def.setLevel(Deflater.BEST_SPEED);
            }
        }; TarArchiveOutputStream tar = new TarArchiveOutputStream(gz)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            byte[] chunk = new byte[1 << 16];
            for (int i = 0; i < SMALL_FILES; i++) {
                write(tar, String.format("usr/share/data/d%03d/file-%06d.bin", i % 500, i), SMALL_SIZE, chunk);
            }
            for (int i = 0; i < BIG_FILES; i++) {
                write(tar, "opt/big/blob-" + i + ".bin", BIG_SIZE, chunk);
            }
            tar.finish();
        }
        return bytes.toByteArray();
    }

    private static void write(TarArchiveOutputStream tar, String name, long size, byte[] chunk) throws Exception {
        TarArchiveEntry e = new TarArchiveEntry(name);
        e.setSize(size);
        tar.putArchiveEntry(e);
        OutputStream out = tar;
        for (long left = size; left > 0; left -= chunk.length) {
            out.write(chunk, 0, (int) Math.min(chunk.length, left));
        }
        tar.closeArchiveEntry();
    }
}
