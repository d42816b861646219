package dev.layercache.server.analysis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The layer walker on hand-made layers: one finding per test, exact numbers. */
class LayerAnalyzerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

    private static JsonNode analyze(byte[]... layers) throws IOException {
        LayerAnalyzer a = new LayerAnalyzer();
        for (int i = 0; i < layers.length; i++) {
            a.add(new LayerAnalyzer.LayerInfo("sha256:" + "0".repeat(63) + i, "application/vnd.oci.image.layer.v1.tar",
                    layers[i].length, "STEP " + i), new ByteArrayInputStream(layers[i]));
        }
        return a.report(JSON);
    }

    @Test
    void aSecretAddedThenDeletedIsStillInTheEarlierLayerAndFlaggedLoudest() throws IOException {
        JsonNode r = analyze(
                new Layers().dir("etc").file("etc/hosts", "127.0.0.1 localhost\n").tar(),
                new Layers().dir("root/.ssh").file("root/.ssh/id_rsa", KEY).file("app/.env", "TOKEN=abc\n").tar(),
                new Layers().whiteout("root/.ssh/id_rsa").tar());
        JsonNode secrets = r.get("secrets");
        assertEquals(2, secrets.size(), secrets.toString());
        JsonNode first = secrets.get(0);
        assertEquals("critical", first.get("severity").asText(), "a deleted secret comes first, loudest: " + secrets);
        assertEquals("/root/.ssh/id_rsa", first.get("path").asText());
        assertEquals("ssh-private-key", first.get("rule").asText());
        assertEquals(1, first.get("layer").asInt());
        assertEquals(2, first.get("removed_in_layer").asInt());
        assertFalse(first.get("in_final_filesystem").asBoolean());
        assertTrue(first.get("message").asText().contains("still stored in layer 1"), first.toString());
        JsonNode second = secrets.get(1);
        assertEquals("high", second.get("severity").asText());
        assertEquals("/app/.env", second.get("path").asText());
        assertTrue(second.get("in_final_filesystem").asBoolean());
        // The deleted key's bytes are wasted, and the deletion is listed for the layer that did it.
        assertEquals(KEY.length(), r.get("layers").get(1).get("wasted_bytes").asLong());
        JsonNode deleted = r.get("layers").get(2).get("deleted");
        assertEquals(1, deleted.get("count").asInt());
        assertEquals("/root/.ssh/id_rsa", deleted.get("top").get(0).get("path").asText());
    }

    @Test
    void aPemIsASecretOnlyWhenItHoldsAPrivateKey() throws IOException {
        JsonNode r = analyze(new Layers()
                .file("etc/ssl/certs/ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
                .file("srv/tls/server.key", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n")
                .file("root/.aws/credentials", "[default]\naws_access_key_id=AKIA\n")
                .file("home/u/.ssh/id_ed25519.pub", "ssh-ed25519 AAAA u@h\n")
                .symlink("home/u/.ssh/id_rsa", "/run/secrets/key")
                .tar());
        List<String> paths = new ArrayList<>();
        r.get("secrets").forEach(s -> paths.add(s.get("path").asText()));
        assertEquals(List.of("/root/.aws/credentials", "/srv/tls/server.key"), paths.stream().sorted().toList());
    }

    @Test
    void aBigFileCopiedThenModifiedWastesTheFirstCopy() throws IOException {
        int big = 3 << 20;
        JsonNode r = analyze(
                new Layers().dir("data").file("data/big.bin", big).file("data/small.txt", 10).tar(),
                new Layers().dir("data").file("data/big.bin", big + 1).tar());
        JsonNode totals = r.get("totals");
        assertEquals(2L * big + 1 + 10, totals.get("file_bytes").asLong());
        assertEquals(big, totals.get("wasted_bytes").asLong());
        assertEquals(big + 1 + 10, totals.get("useful_bytes").asLong());
        assertEquals(Math.round((big + 11) * 10000.0 / (2L * big + 11)) / 10000.0, totals.get("efficiency").asDouble());
        JsonNode offender = r.get("wasted").get("top").get(0);
        assertEquals("/data/big.bin", offender.get("path").asText());
        assertEquals(big, offender.get("size").asLong());
        assertEquals(0, offender.get("layer").asInt());
        assertEquals("STEP 0", offender.get("layer_instruction").asText());
        assertEquals(1, offender.get("removed_in_layer").asInt());
        assertEquals("overwritten", offender.get("how").asText());
        JsonNode changed = r.get("layers").get(1).get("changed");
        assertEquals(1, changed.get("count").asInt());
        assertEquals(0, r.get("layers").get(1).get("added").get("count").asInt());
        assertEquals(2, r.get("layers").get(0).get("added").get("count").asInt());
    }

    @Test
    void anOpaqueDirectoryHidesLowerFilesButNotItsOwn() throws IOException {
        JsonNode r = analyze(
                new Layers().dir("opt/app").file("opt/app/a", 100).file("opt/app/sub/b", 200).file("opt/keep", 7).tar(),
                new Layers().dir("opt/app").opaque("opt/app").file("opt/app/c", 50).tar());
        assertEquals(300, r.get("totals").get("wasted_bytes").asLong());
        assertEquals(57, r.get("totals").get("useful_bytes").asLong());
        assertEquals(2, r.get("totals").get("visible_files").asLong());
        JsonNode deleted = r.get("layers").get(1).get("deleted");
        assertEquals(2, deleted.get("count").asInt());
        assertEquals(300, deleted.get("bytes").asLong());
        assertEquals("hidden by opaque directory", r.get("wasted").get("top").get(0).get("how").asText());
        assertEquals(1, r.get("layers").get(1).get("added").get("count").asInt());
    }

    @Test
    void aWhiteoutOfADirectoryDeletesEverythingBelowIt() throws IOException {
        JsonNode r = analyze(
                new Layers().file("tmp/build/x.o", 1000).file("tmp/build/y.o", 24).file("tmp/buildlog", 5).tar(),
                new Layers().whiteout("tmp/build").tar());
        assertEquals(1024, r.get("totals").get("wasted_bytes").asLong());
        assertEquals(5, r.get("totals").get("useful_bytes").asLong());
        JsonNode deleted = r.get("layers").get(1).get("deleted");
        assertEquals(1, deleted.get("count").asInt(), "docker diff lists the directory once: " + deleted);
        assertEquals(1024, deleted.get("bytes").asLong());
    }

    @Test
    void packageManagerCachesAreReportedWithTheirLayer() throws IOException {
        JsonNode r = analyze(
                new Layers().file("bin/sh", 10).tar(),
                new Layers().file("var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease", 4000)
                        .file("var/lib/apt/lists/lock", 0)
                        .file("var/cache/apt/archives/curl_7.88_amd64.deb", 30000)
                        .file("root/.cache/pip/http/a/b/c", 500)
                        .file("usr/bin/curl", 2000).tar(),
                new Layers().file("root/.npm/_cacache/index-v5/aa", 64).tar());
        JsonNode caches = r.get("caches");
        assertEquals(4, caches.size(), caches.toString());
        assertCache(caches, "apt-lists", 1, 1, 4000);
        assertCache(caches, "apt-archives", 1, 1, 30000);
        assertCache(caches, "pip", 1, 1, 500);
        assertCache(caches, "npm", 2, 1, 64);
    }

    private static void assertCache(JsonNode caches, String kind, int layer, long files, long bytes) {
        for (JsonNode c : caches) {
            if (c.get("kind").asText().equals(kind)) {
                assertEquals(layer, c.get("layer").asInt(), c.toString());
                assertEquals(files, c.get("files").asLong(), c.toString());
                assertEquals(bytes, c.get("bytes").asLong(), c.toString());
                return;
            }
        }
        throw new AssertionError("no " + kind + " cache in " + caches);
    }

    @Test
    void plainGzipAndZstdLayersGiveTheSameFindings() throws IOException {
        byte[] raw = new Layers().dir("a").file("a/one", 1234).file("a/two", "two").tar();
        JsonNode plain = analyze(raw);
        JsonNode gz = analyze(Layers.gzip(raw));
        JsonNode zst = analyze(Layers.zstd(raw));
        assertEquals("none", plain.get("layers").get(0).get("compression").asText());
        assertEquals("gzip", gz.get("layers").get(0).get("compression").asText());
        assertEquals("zstd", zst.get("layers").get(0).get("compression").asText());
        for (JsonNode r : List.of(plain, gz, zst)) {
            JsonNode l = r.get("layers").get(0);
            assertEquals(raw.length, l.get("uncompressed_size").asLong(), "every byte of the tar is counted");
            assertEquals(2, l.get("files").asLong());
            assertEquals(1237, l.get("file_bytes").asLong());
        }
        assertTrue(gz.get("layers").get(0).get("compressed_size").asLong() < raw.length);
    }

    @Test
    void corruptOrTruncatedLayersAreReportedAsUnreadable() {
        byte[] raw = new Layers().file("a", 100_000).file("b", 100_000).tar();
        byte[] gz = Layers.gzip(raw);
        byte[] zst = Layers.zstd(raw);
        List<byte[]> bad = List.of(
                Arrays.copyOf(gz, gz.length / 2),          // truncated gzip
                flip(gz, gz.length / 2),                    // corrupt gzip
                Arrays.copyOf(zst, zst.length / 2),         // truncated zstd
                Arrays.copyOf(raw, 512 + 50_000),           // tar cut inside a file
                flip(raw, header(raw, "a") + 100));         // a header whose checksum fails
        for (int i = 0; i < bad.size(); i++) {
            byte[] b = bad.get(i);
            UnreadableLayerException e = assertThrows(UnreadableLayerException.class,
                    () -> analyze(b), "case " + i);
            assertTrue(e.getMessage().contains("layer 0"), e.getMessage());
        }
    }

    @Test
    void aFailureOfTheStoredBlobIsNotTakenForACorruptLayer() {
        byte[] gz = Layers.gzip(new Layers().file("a", 200_000).tar());
        IOException diskError = new IOException("read error of the stored blob");
        java.io.InputStream failingHalfWay = new java.io.FilterInputStream(
                new java.io.ByteArrayInputStream(gz, 0, gz.length / 2)) {
            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                if (n < 0) {
                    throw diskError;
                }
                return n;
            }
        };
        LayerAnalyzer a = new LayerAnalyzer();
        IOException thrown = assertThrows(IOException.class, () -> a.add(new LayerAnalyzer.LayerInfo(
                "sha256:" + "0".repeat(64), "application/vnd.oci.image.layer.v1.tar+gzip", gz.length, null),
                failingHalfWay));
        assertSame(diskError, thrown, "the blob's own error, not an unreadable layer");
    }

    /** The offset of the tar header of {@code name} (after any PAX header of it). */
    private static int header(byte[] tar, String name) {
        for (int at = 0; at + 512 <= tar.length; at += 512) {
            String n = new String(tar, at, 100, java.nio.charset.StandardCharsets.ISO_8859_1).replace("\0", "");
            String magic = new String(tar, at + 257, 5, java.nio.charset.StandardCharsets.ISO_8859_1);
            if (n.equals(name) && magic.equals("ustar")) {
                return at;
            }
        }
        throw new AssertionError("no header for " + name);
    }

    private static byte[] flip(byte[] b, int at) {
        byte[] c = b.clone();
        for (int i = at; i < Math.min(c.length, at + 16); i++) {
            c[i] = (byte) ~c[i];
        }
        return c;
    }
}
