package dev.layercache.loadtest;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;

/** The OCI Distribution requests the benchmark makes, over one {@link HttpConnection}. */
final class Oci {
    static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";
    private static final Map<String, String> OCTETS = Map.of("Content-Type", "application/octet-stream");

    private Oci() {
    }

    /** {@code POST /v2/<repo>/blobs/uploads/}: starts an upload session; returns where to send it. */
    static String startUpload(HttpConnection c, String repository) throws IOException {
        HttpConnection.Response r = c.send("POST", "/v2/" + repository + "/blobs/uploads/", Map.of(),
                HttpConnection.Body.KEEP);
        expect(r, 202, "POST upload");
        return HttpConnection.pathOf(r.header("location"));
    }

    /** The upload location with {@code ?digest=} (or {@code &digest=}) appended. */
    static String withDigest(String location, String digest) {
        return location + (location.contains("?") ? "&" : "?") + "digest=" + digest;
    }

    /** POST, then one PUT with the whole body: a monolithic upload from memory. */
    static void pushBlob(HttpConnection c, String repository, byte[] content, String digest) throws IOException {
        String location = startUpload(c, repository);
        expect(c.send("PUT", withDigest(location, digest), OCTETS, content, HttpConnection.Body.KEEP), 201,
                "PUT blob");
    }

    /** POST, then one PUT whose body is {@code file}, sent with sendfile. */
    static void pushBlob(HttpConnection c, String repository, FileChannel file, long size, String digest)
            throws IOException {
        String location = startUpload(c, repository);
        expect(c.send("PUT", withDigest(location, digest), OCTETS, file, 0, size, HttpConnection.Body.KEEP),
                201, "PUT blob");
    }

    /**
     * POST, a {@code PATCH} per {@code chunk} bytes with {@code Content-Range}, each to the location
     * the previous answer gave, then a {@code PUT ?digest=} without a body.
     */
    static void pushChunked(HttpConnection c, String repository, FileChannel file, long size, long chunk,
                            String digest) throws IOException {
        String location = startUpload(c, repository);
        for (long offset = 0; offset < size; offset += chunk) {
            long n = Math.min(chunk, size - offset);
            HttpConnection.Response r = c.send("PATCH", location, Map.of("Content-Type", "application/octet-stream",
                    "Content-Range", offset + "-" + (offset + n - 1)), file, offset, n, HttpConnection.Body.KEEP);
            expect(r, 202, "PATCH chunk at " + offset);
            location = HttpConnection.pathOf(r.header("location"));
        }
        expect(c.send("PUT", withDigest(location, digest), Map.of(), HttpConnection.Body.KEEP), 201,
                "PUT closing the chunked upload");
    }

    /** Pushes {@code file} unless the repository has it already; returns its digest. */
    static String ensureBlob(HttpConnection c, String repository, Path file) throws IOException {
        String digest = RandomContent.digestOf(file);
        HttpConnection.Response head = c.send("HEAD", blobPath(repository, digest), Map.of(),
                HttpConnection.Body.KEEP);
        if (head.status() != 200) {
            try (FileChannel in = FileChannel.open(file)) {
                pushBlob(c, repository, in, in.size(), digest);
            }
        }
        return digest;
    }

    static void putManifest(HttpConnection c, String repository, String reference, String manifest)
            throws IOException {
        expect(c.send("PUT", "/v2/" + repository + "/manifests/" + reference, Map.of("Content-Type", MANIFEST_TYPE),
                manifest.getBytes(StandardCharsets.UTF_8), HttpConnection.Body.KEEP), 201, "PUT manifest");
    }

    static String blobPath(String repository, String digest) {
        return "/v2/" + repository + "/blobs/" + digest;
    }

    static void expect(HttpConnection.Response r, int status, String what) throws IOException {
        if (r.status() != status) {
            String body = r.body() == null ? "" : ": " + new String(r.body(), StandardCharsets.UTF_8);
            throw new IOException(what + " answered " + r.status() + " instead of " + status + body);
        }
    }
}
