package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.assertError;
import static dev.layercache.server.http.Oci.assertErrorBody;
import static dev.layercache.server.http.Oci.random;
import static dev.layercache.server.http.Oci.sha256;
import static dev.layercache.server.http.Oci.slice;
import static dev.layercache.server.http.Oci.withQuery;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@code /v2/<name>/blobs/uploads/}: every way clients push blobs, and every way it goes wrong. */
@Timeout(60)
class UploadHttpTest {
    @RegisterExtension
    static final TestServer server = new TestServer();
    private final Oci oci = new Oci(server);

    // ---- the flows real clients use --------------------------------------------------------

    @Test
    void monolithicPost() {
        byte[] content = random(4096, 10);
        String d = sha256(content);
        Oci.Res r = oci.post("/v2/up/mono/blobs/uploads/?digest=" + d, content,
                "Content-Type", "application/octet-stream");
        assertEquals(201, r.status(), r::toString);
        assertEquals("/v2/up/mono/blobs/" + d, Oci.path(r.header("Location")));
        assertEquals(d, r.header("Docker-Content-Digest"));
        Oci.Res get = oci.get(Oci.path(r.header("Location")));
        assertEquals(200, get.status());
        assertArrayEquals(content, get.body());
    }

    @Test
    void monolithicPostWithAStreamedBody() {
        byte[] content = random(70_000, 40);
        String d = sha256(content);
        Oci.Res r = oci.send("POST", "/v2/up/mono-chunked/blobs/uploads/?digest=" + d,
                java.net.http.HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(content)));
        assertEquals(201, r.status(), r::toString);
        assertEquals(d, r.header("Docker-Content-Digest"));
        assertArrayEquals(content, oci.get("/v2/up/mono-chunked/blobs/" + d).body());
    }

    @Test
    void uploadWithExpectContinue() throws Exception {
        byte[] content = random(2 << 20, 41);
        String d = sha256(content);
        String location = oci.startUpload("up/expect");
        java.net.http.HttpRequest req = java.net.http.HttpRequest.newBuilder(server.uri(location))
                .method("PATCH", java.net.http.HttpRequest.BodyPublishers.ofByteArray(content))
                .header("Content-Range", "0-" + (content.length - 1))
                .expectContinue(true)
                .version(java.net.http.HttpClient.Version.HTTP_1_1)
                .build();
        java.net.http.HttpResponse<String> patch = java.net.http.HttpClient.newHttpClient()
                .send(req, java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(202, patch.statusCode(), patch::body);
        assertEquals("0-" + (content.length - 1), patch.headers().firstValue("Range").orElse(null));
        assertEquals(201, oci.put(withQuery(location, "digest=" + d), null).status());
        assertArrayEquals(content, oci.get("/v2/up/expect/blobs/" + d).body());
    }

    @Test
    void postThenPutWithTheWholeBody() {
        // BuildKit: POST for a session, then PUT ?digest= carrying everything.
        byte[] content = random(100_000, 11);
        String d = sha256(content);
        Oci.Res post = oci.post("/v2/up/buildkit/blobs/uploads/", null);
        assertEquals(202, post.status(), post::toString);
        String location = Oci.path(post.header("Location"));
        assertTrue(location.startsWith("/v2/up/buildkit/blobs/uploads/"), location);
        assertEquals("0-0", post.header("Range"));
        assertNotNull(post.header("Docker-Upload-UUID"));
        assertTrue(location.contains(post.header("Docker-Upload-UUID")));

        Oci.Res put = oci.put(withQuery(location, "digest=" + d), content,
                "Content-Type", "application/octet-stream");
        assertEquals(201, put.status(), put::toString);
        assertEquals("/v2/up/buildkit/blobs/" + d, Oci.path(put.header("Location")));
        assertEquals(d, put.header("Docker-Content-Digest"));
        assertArrayEquals(content, oci.get("/v2/up/buildkit/blobs/" + d).body());
        // A finished upload is gone.
        assertError(oci.get(location), 404, "BLOB_UPLOAD_UNKNOWN");
    }

    @Test
    void uploadsPathWithoutTrailingSlash() {
        Oci.Res r = oci.post("/v2/up/noslash/blobs/uploads", null);
        assertEquals(202, r.status(), r::toString);
        assertTrue(Oci.path(r.header("Location")).startsWith("/v2/up/noslash/blobs/uploads/"));
        byte[] content = random(10, 43);
        Oci.Res mono = oci.post("/v2/up/noslash/blobs/uploads?digest=" + sha256(content), content);
        assertEquals(201, mono.status(), mono::toString);
    }

    @Test
    void postOneStreamedPatchThenEmptyPut() {
        // docker/buildah: PATCH without Content-Range, chunked, no Content-Type; then PUT ?digest= without body.
        byte[] content = random(300_000, 12);
        String d = sha256(content);
        String location = oci.startUpload("up/docker");

        Oci.Res patch = oci.patchChunked(location, content);
        assertEquals(202, patch.status(), patch::toString);
        assertEquals("0-" + (content.length - 1), patch.header("Range"));
        location = Oci.path(patch.header("Location"));

        Oci.Res put = oci.put(withQuery(location, "digest=" + d), null);
        assertEquals(201, put.status(), put::toString);
        assertEquals(d, put.header("Docker-Content-Digest"));
        assertEquals("/v2/up/docker/blobs/" + d, Oci.path(put.header("Location")));

        Oci.Res head = oci.head("/v2/up/docker/blobs/" + d);
        assertEquals(200, head.status());
        assertEquals(Integer.toString(content.length), head.header("Content-Length"));
        assertArrayEquals(content, oci.get("/v2/up/docker/blobs/" + d).body());
    }

    @Test
    void chunkedPatchesWithContentRange() {
        byte[] content = random(10_000, 13);
        String d = sha256(content);
        String location = oci.startUpload("up/chunks");
        int[] cuts = {0, 1, 4000, 4001, 9000, 10_000};
        for (int i = 0; i + 1 < cuts.length; i++) {
            byte[] chunk = slice(content, cuts[i], cuts[i + 1]);
            Oci.Res r = oci.patch(location, chunk, "Content-Type", "application/octet-stream",
                    "Content-Range", cuts[i] + "-" + (cuts[i + 1] - 1));
            assertEquals(202, r.status(), r::toString);
            assertEquals("0-" + (cuts[i + 1] - 1), r.header("Range"));
            assertNotNull(r.header("Docker-Upload-UUID"));
            location = Oci.path(r.header("Location"));
        }
        Oci.Res put = oci.put(withQuery(location, "digest=" + d), null);
        assertEquals(201, put.status(), put::toString);
        assertArrayEquals(content, oci.get("/v2/up/chunks/blobs/" + d).body());
    }

    @Test
    void lastChunkOnThePut() {
        byte[] content = random(5000, 14);
        String d = sha256(content);
        String location = oci.startUpload("up/lastput");
        Oci.Res patch = oci.patch(location, slice(content, 0, 3000), "Content-Range", "0-2999");
        assertEquals(202, patch.status(), patch::toString);
        Oci.Res put = oci.put(withQuery(Oci.path(patch.header("Location")), "digest=" + d),
                slice(content, 3000, 5000), "Content-Range", "3000-4999",
                "Content-Type", "application/octet-stream");
        assertEquals(201, put.status(), put::toString);
        assertArrayEquals(content, oci.get("/v2/up/lastput/blobs/" + d).body());
    }

    @Test
    void uploadStatus() {
        String location = oci.startUpload("up/status");
        Oci.Res empty = oci.get(location);
        assertEquals(204, empty.status(), empty::toString);
        assertEquals("0-0", empty.header("Range"));
        assertEquals(location, Oci.path(empty.header("Location")));
        assertEquals(0, empty.body().length);

        assertEquals(202, oci.patch(location, random(1234, 15), "Content-Range", "0-1233").status());
        Oci.Res r = oci.get(location);
        assertEquals(204, r.status());
        assertEquals("0-1233", r.header("Range"));
        assertEquals(location, Oci.path(r.header("Location")));
        assertNotNull(r.header("Docker-Upload-UUID"));
    }

    // ---- ranges that do not fit ------------------------------------------------------------

    @Test
    void outOfOrderChunkIs416AndTheUploadContinues() {
        byte[] content = random(3000, 16);
        String d = sha256(content);
        String location = oci.startUpload("up/order");
        assertEquals(202, oci.patch(location, slice(content, 0, 1000), "Content-Range", "0-999").status());

        // A gap: the chunk starts past where the upload stands.
        Oci.Res gap = oci.patch(location, slice(content, 2000, 3000), "Content-Range", "2000-2999");
        assertErrorBody(gap, 416);
        assertEquals("0-999", gap.header("Range"));
        // An overlap: it starts before.
        Oci.Res overlap = oci.patch(location, slice(content, 500, 1500), "Content-Range", "500-1499");
        assertErrorBody(overlap, 416);
        assertEquals("0-999", overlap.header("Range"));

        Oci.Res status = oci.get(location);
        assertEquals(204, status.status());
        assertEquals("0-999", status.header("Range"));

        assertEquals(202, oci.patch(location, slice(content, 1000, 3000), "Content-Range", "1000-2999").status());
        Oci.Res put = oci.put(withQuery(location, "digest=" + d), null);
        assertEquals(201, put.status(), put::toString);
        assertArrayEquals(content, oci.get("/v2/up/order/blobs/" + d).body());
    }

    /** The server answers a large out-of-order chunk at once, without waiting for its body. */
    @Test
    void largeOutOfOrderChunkIsAnsweredEarly() throws Exception {
        String location = oci.startUpload("up/order-large");
        assertEquals(202, oci.patch(location, random(10, 42), "Content-Range", "0-9").status());
        byte[] big = new byte[16 << 20];
        Oci.Res r = oci.sendWhileReading("PATCH " + location + " HTTP/1.1\r\nHost: " + server.hostPort()
                + "\r\nContent-Range: 20-" + (20 + big.length - 1) + "\r\nContent-Length: " + big.length
                + "\r\n\r\n", big, false);
        assertErrorBody(r, 416);
        assertEquals("0-9", r.header("Range"));
        assertEquals("0-9", awaitStatus(location).header("Range"));
    }

    @Test
    void largeChunkForAnUnknownUploadIsAnsweredEarly() throws Exception {
        byte[] big = new byte[16 << 20];
        Oci.Res r = oci.sendWhileReading("PATCH /v2/up/unknown-large/blobs/uploads/" + java.util.UUID.randomUUID()
                + " HTTP/1.1\r\nHost: " + server.hostPort() + "\r\nTransfer-Encoding: chunked\r\n\r\n", big, true);
        assertError(r, 404, "BLOB_UPLOAD_UNKNOWN");
    }

    @Test
    void contentRangeLongerThanTheBodyIs416() {
        byte[] content = random(2000, 17);
        String d = sha256(content);
        String location = oci.startUpload("up/short");
        assertEquals(202, oci.patch(location, slice(content, 0, 1000), "Content-Range", "0-999").status());

        Oci.Res r = oci.patch(location, slice(content, 1000, 1500), "Content-Range", "1000-1999");
        assertErrorBody(r, 416);
        assertEquals("0-999", r.header("Range"));
        assertEquals("0-999", oci.get(location).header("Range"));

        assertEquals(202, oci.patch(location, slice(content, 1000, 2000), "Content-Range", "1000-1999").status());
        assertEquals(201, oci.put(withQuery(location, "digest=" + d), null).status());
        assertArrayEquals(content, oci.get("/v2/up/short/blobs/" + d).body());
    }

    @Test
    void contentRangeShorterThanTheBodyIs416() {
        byte[] content = random(2000, 18);
        String d = sha256(content);
        String location = oci.startUpload("up/long");
        assertEquals(202, oci.patch(location, slice(content, 0, 1000), "Content-Range", "0-999").status());

        Oci.Res r = oci.patch(location, slice(content, 1000, 2000), "Content-Range", "1000-1099");
        assertErrorBody(r, 416);
        assertEquals("0-999", r.header("Range"));
        assertEquals("0-999", oci.get(location).header("Range"));

        assertEquals(202, oci.patch(location, slice(content, 1000, 2000), "Content-Range", "1000-1999").status());
        assertEquals(201, oci.put(withQuery(location, "digest=" + d), null).status());
        assertArrayEquals(content, oci.get("/v2/up/long/blobs/" + d).body());
    }

    /**
     * The body overruns its Content-Range only after several reads from the socket: the 416 must
     * still say where the upload stood before this request (what a client resumes from), not how
     * far the rejected request got.
     */
    @Test
    void contentRangeShorterThanABodyArrivingInPiecesIs416AtTheAcknowledgedOffset() throws Exception {
        byte[] content = random(400_000, 19);
        String location = oci.startUpload("up/overrun");
        assertEquals(202, oci.patch(location, slice(content, 0, 10), "Content-Range", "0-9").status());

        Oci.Res r;
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(20_000);
            OutputStream out = s.getOutputStream();
            int bodyLength = content.length - 10;
            out.write(("PATCH " + location + " HTTP/1.1\r\nHost: " + server.hostPort()
                    + "\r\nContent-Range: 10-100009\r\nContent-Length: " + bodyLength + "\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            // 60 KB, a pause (so the server reads and stores it), then the rest: past the 100,000 declared.
            out.write(content, 10, 60_000);
            out.flush();
            Thread.sleep(300);
            try {
                out.write(content, 60_010, bodyLength - 60_000);
                out.flush();
            } catch (IOException closedEarly) {
                // the server may answer and close before taking it all
            }
            r = Oci.fromReply(dev.layercache.server.testing.Http.read(s.getInputStream(), false));
        }
        assertErrorBody(r, 416);
        assertEquals("0-9", r.header("Range"), "416 must report the acknowledged offset: " + r);
        Oci.Res status = awaitStatus(location);
        assertEquals("0-9", status.header("Range"));
    }

    @Test
    void malformedContentRangeIs416() {
        String location = oci.startUpload("up/badrange");
        for (String range : List.of("abc", "5-2", "-5", "5-")) {
            Oci.Res r = oci.patch(location, random(4, 20), "Content-Range", range);
            assertErrorBody(r, 416);
        }
        Oci.Res status = oci.get(location);
        assertEquals(204, status.status());
        assertEquals("0-0", status.header("Range"));
    }

    // ---- cancel and unknown sessions -------------------------------------------------------

    @Test
    void cancel() {
        String location = oci.startUpload("up/cancel");
        assertEquals(202, oci.patch(location, random(100, 21), "Content-Range", "0-99").status());
        Oci.Res del = oci.delete(location);
        assertEquals(204, del.status(), del::toString);
        assertEquals(0, del.body().length);

        assertError(oci.get(location), 404, "BLOB_UPLOAD_UNKNOWN");
        assertError(oci.patch(location, random(10, 22), "Content-Range", "100-109"), 404, "BLOB_UPLOAD_UNKNOWN");
        assertError(oci.put(withQuery(location, "digest=" + sha256(new byte[0])), null), 404,
                "BLOB_UPLOAD_UNKNOWN");
        assertError(oci.delete(location), 404, "BLOB_UPLOAD_UNKNOWN");
    }

    @Test
    void uploadOfAnotherRepositoryIsUnknown() {
        String location = oci.startUpload("up/owner");
        String id = location.substring(location.lastIndexOf('/') + 1);
        String foreign = "/v2/up/intruder/blobs/uploads/" + id;
        byte[] content = random(10, 23);

        assertError(oci.get(foreign), 404, "BLOB_UPLOAD_UNKNOWN");
        assertError(oci.patch(foreign, content, "Content-Range", "0-9"), 404, "BLOB_UPLOAD_UNKNOWN");
        assertError(oci.put(withQuery(foreign, "digest=" + sha256(content)), content), 404, "BLOB_UPLOAD_UNKNOWN");
        assertError(oci.delete(foreign), 404, "BLOB_UPLOAD_UNKNOWN");
        assertEquals(404, oci.head("/v2/up/intruder/blobs/" + sha256(content)).status());

        // The owner's session is untouched.
        Oci.Res status = oci.get(location);
        assertEquals(204, status.status());
        assertEquals("0-0", status.header("Range"));
    }

    @Test
    void garbageUploadIdsAreUnknown() {
        for (String id : List.of("nope", "00000000-0000-0000-0000-000000000000", "..", "%2e%2e",
                "12345678-1234-1234-1234-1234567890ab", "x".repeat(300))) {
            String location = "/v2/up/garbage/blobs/uploads/" + id;
            assertError(oci.raw("GET", location, List.of(), null), 404, "BLOB_UPLOAD_UNKNOWN");
            assertError(oci.raw("PATCH", location, List.of(), new byte[] {1, 2, 3}), 404, "BLOB_UPLOAD_UNKNOWN");
            assertError(oci.raw("DELETE", location, List.of(), null), 404, "BLOB_UPLOAD_UNKNOWN");
        }
    }

    // ---- digests ---------------------------------------------------------------------------

    @Test
    void wrongDigestOnPutStoresNothing() {
        byte[] content = random(500, 24);
        byte[] other = random(500, 25);
        String location = oci.startUpload("up/wrong");
        assertEquals(202, oci.patch(location, content, "Content-Range", "0-499").status());
        Oci.Res put = oci.put(withQuery(location, "digest=" + sha256(other)), null);
        assertError(put, 400, "DIGEST_INVALID");
        assertEquals(404, oci.head("/v2/up/wrong/blobs/" + sha256(other)).status());
        assertEquals(404, oci.head("/v2/up/wrong/blobs/" + sha256(content)).status());
    }

    @Test
    void wrongDigestOnMonolithicPostStoresNothing() {
        byte[] content = random(500, 26);
        String claimed = sha256(random(500, 27));
        Oci.Res r = oci.post("/v2/up/wrongmono/blobs/uploads/?digest=" + claimed, content);
        assertError(r, 400, "DIGEST_INVALID");
        assertEquals(404, oci.head("/v2/up/wrongmono/blobs/" + claimed).status());
        assertEquals(404, oci.head("/v2/up/wrongmono/blobs/" + sha256(content)).status());
    }

    @Test
    void putWithoutDigestIs400() {
        byte[] content = random(50, 28);
        String location = oci.startUpload("up/nodigest");
        assertEquals(202, oci.patch(location, content, "Content-Range", "0-49").status());
        Oci.Res r = oci.put(location, null);
        assertEquals(400, r.status(), r::toString);
        assertErrorBody(r, 400);
        // Nothing stored, and the session still stands where it was.
        assertEquals(404, oci.head("/v2/up/nodigest/blobs/" + sha256(content)).status());
        assertEquals("0-49", oci.get(location).header("Range"));
        assertEquals(201, oci.put(withQuery(location, "digest=" + sha256(content)), null).status());
    }

    @Test
    void invalidDigestParameterIs400() {
        byte[] content = random(50, 29);
        assertError(oci.post("/v2/up/baddigest/blobs/uploads/?digest=sha256:XYZ", content), 400, "DIGEST_INVALID");
        String location = oci.startUpload("up/baddigest");
        assertError(oci.put(withQuery(location, "digest=md5:" + "a".repeat(32)), content), 400, "DIGEST_INVALID");
    }

    // ---- mounts ----------------------------------------------------------------------------

    @Test
    void mountFromARepositoryThatHasTheBlob() {
        byte[] content = random(321, 30);
        String d = oci.pushBlob("up/mount-src", content);
        Oci.Res r = oci.post("/v2/up/mount-dst/blobs/uploads/?mount=" + d + "&from=up/mount-src", null);
        assertEquals(201, r.status(), r::toString);
        assertEquals("/v2/up/mount-dst/blobs/" + d, Oci.path(r.header("Location")));
        assertEquals(d, r.header("Docker-Content-Digest"));
        Oci.Res get = oci.get("/v2/up/mount-dst/blobs/" + d);
        assertEquals(200, get.status());
        assertArrayEquals(content, get.body());
    }

    @Test
    void mountFromARepositoryWithoutTheBlobFallsBackToAnUpload() {
        byte[] content = random(322, 31);
        String d = oci.pushBlob("up/mount-has", content);
        Oci.Res r = oci.post("/v2/up/mount-dst2/blobs/uploads/?mount=" + d + "&from=up/mount-lacks", null);
        assertEquals(202, r.status(), r::toString);
        String location = Oci.path(r.header("Location"));
        assertTrue(location.startsWith("/v2/up/mount-dst2/blobs/uploads/"), location);
        assertEquals(404, oci.head("/v2/up/mount-dst2/blobs/" + d).status());
        // The session is a real one.
        Oci.Res put = oci.put(withQuery(location, "digest=" + d), content);
        assertEquals(201, put.status(), put::toString);
        assertEquals(200, oci.head("/v2/up/mount-dst2/blobs/" + d).status());
    }

    @Test
    void mountWithoutFromUsesAnyStoredCopy() {
        byte[] content = random(323, 32);
        String d = oci.pushBlob("up/mount-anywhere", content);
        Oci.Res r = oci.post("/v2/up/mount-dst3/blobs/uploads/?mount=" + d, null);
        assertEquals(201, r.status(), r::toString);
        assertEquals(d, r.header("Docker-Content-Digest"));
        assertArrayEquals(content, oci.get("/v2/up/mount-dst3/blobs/" + d).body());

        String unknown = sha256(random(323, 33));
        Oci.Res miss = oci.post("/v2/up/mount-dst3/blobs/uploads/?mount=" + unknown, null);
        assertEquals(202, miss.status(), miss::toString);
        assertTrue(Oci.path(miss.header("Location")).startsWith("/v2/up/mount-dst3/blobs/uploads/"));
        assertEquals(404, oci.head("/v2/up/mount-dst3/blobs/" + unknown).status());
    }

    @Test
    void mountOfAnUnknownBlobFromAnywhereFallsBack() {
        String unknown = sha256(random(99, 34));
        Oci.Res r = oci.post("/v2/up/mount-dst4/blobs/uploads/?mount=" + unknown + "&from=up/mount-src", null);
        assertEquals(202, r.status(), r::toString);
        assertNotNull(r.header("Location"));
    }

    @Test
    void mountWithInvalidParametersIs400() {
        assertError(oci.post("/v2/up/mount-bad/blobs/uploads/?mount=sha256:nothex&from=up/x", null), 400,
                "DIGEST_INVALID");
        assertError(oci.post("/v2/up/mount-bad/blobs/uploads/?mount=" + sha256(new byte[1]) + "&from=Bad/Name",
                null), 400, "NAME_INVALID");
    }

    // ---- duplicates and concurrency ---------------------------------------------------------

    @Test
    void uploadingAnExistingBlobSucceedsAndKeepsOneCopy() throws IOException {
        byte[] content = random(2048, 35);
        String d = oci.pushBlob("up/dup", content);
        assertEquals(d, oci.pushBlob("up/dup", content));
        assertEquals(d, oci.pushBlob("up/dup-other", content));
        // And once more through a chunked session.
        String location = oci.startUpload("up/dup");
        assertEquals(202, oci.patchChunked(location, content).status());
        assertEquals(201, oci.put(withQuery(location, "digest=" + d), null).status());

        assertEquals(1, filesNamed(d.substring("sha256:".length())));
        assertArrayEquals(content, oci.get("/v2/up/dup/blobs/" + d).body());
        assertArrayEquals(content, oci.get("/v2/up/dup-other/blobs/" + d).body());
    }

    @Test
    void concurrentUploadsOfTheSameBlobBothSucceed() throws Exception {
        byte[] content = random(3 << 20, 36);
        String d = sha256(content);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(8);
        try {
            for (int round = 0; round < 3; round++) {
                // Two clients in one repository, then six spread over three repositories.
                int clients = round == 0 ? 2 : 6;
                CyclicBarrier start = new CyclicBarrier(clients);
                List<CompletableFuture<Oci.Res>> results = new java.util.ArrayList<>();
                for (int c = 0; c < clients; c++) {
                    String repo = repoOf(round, c);
                    boolean monolithic = c % 2 == 0;
                    results.add(CompletableFuture.supplyAsync(() -> {
                        if (monolithic) {
                            await(start);
                            return oci.post("/v2/" + repo + "/blobs/uploads/?digest=" + d, content);
                        }
                        String location = oci.startUpload(repo);
                        await(start);
                        Oci.Res patch = oci.patchChunked(location, content);
                        assertEquals(202, patch.status(), patch::toString);
                        return oci.put(withQuery(location, "digest=" + d), null);
                    }, pool));
                }
                for (int c = 0; c < clients; c++) {
                    Oci.Res r = results.get(c).get(30, TimeUnit.SECONDS);
                    assertEquals(201, r.status(), r::toString);
                    assertArrayEquals(content, oci.get("/v2/" + repoOf(round, c) + "/blobs/" + d).body());
                }
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1, filesNamed(d.substring("sha256:".length())));
    }

    private static String repoOf(int round, int client) {
        return round == 0 ? "up/race" : "up/race" + round + "-" + (client % 3);
    }

    @Test
    void twoSessionsForTheSameBlobInterleaved() {
        byte[] content = random(20_000, 37);
        String d = sha256(content);
        String a = oci.startUpload("up/twin");
        String b = oci.startUpload("up/twin");
        assertNotEquals(a, b);
        assertEquals(202, oci.patch(a, slice(content, 0, 10_000), "Content-Range", "0-9999").status());
        assertEquals(202, oci.patch(b, slice(content, 0, 5_000), "Content-Range", "0-4999").status());
        assertEquals(202, oci.patch(b, slice(content, 5_000, 20_000), "Content-Range", "5000-19999").status());
        assertEquals(202, oci.patch(a, slice(content, 10_000, 20_000), "Content-Range", "10000-19999").status());
        assertEquals(201, oci.put(withQuery(b, "digest=" + d), null).status());
        assertEquals(201, oci.put(withQuery(a, "digest=" + d), null).status());
        assertArrayEquals(content, oci.get("/v2/up/twin/blobs/" + d).body());
    }

    // ---- a client that goes away -----------------------------------------------------------

    @Test
    void clientDisconnectingMidPatchRollsBack() throws Exception {
        byte[] content = random(200_000, 38);
        String d = sha256(content);
        String location = oci.startUpload("up/disconnect");
        assertEquals(202, oci.patch(location, slice(content, 0, 1000), "Content-Range", "0-999").status());

        try (Socket s = new Socket("127.0.0.1", server.port())) {
            OutputStream out = s.getOutputStream();
            out.write(("PATCH " + location + " HTTP/1.1\r\nHost: " + server.hostPort()
                    + "\r\nContent-Range: 1000-199999\r\nContent-Length: 199000\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.write(content, 1000, 50_000);
            out.flush();
            Thread.sleep(200);
        }

        // The server keeps serving...
        assertEquals(200, oci.get("/v2/").status());
        // ...the upload stands where the last acknowledged request left it...
        Oci.Res status = awaitStatus(location);
        assertEquals("0-999", status.header("Range"));
        // ...and nothing became a blob.
        assertEquals(404, oci.head("/v2/up/disconnect/blobs/" + d).status());
        assertEquals(404, oci.head("/v2/up/disconnect/blobs/" + sha256(slice(content, 0, 51_000))).status());

        // The client can resume from the acknowledged offset.
        Oci.Res rest = oci.patch(location, slice(content, 1000, content.length), "Content-Range",
                "1000-" + (content.length - 1));
        assertEquals(202, rest.status(), rest::toString);
        Oci.Res put = oci.put(withQuery(location, "digest=" + d), null);
        assertEquals(201, put.status(), put::toString);
        assertArrayEquals(content, oci.get("/v2/up/disconnect/blobs/" + d).body());
    }

    @Test
    void clientDisconnectingMidChunkedPatchRollsBack() throws Exception {
        byte[] content = random(100_000, 39);
        String location = oci.startUpload("up/disconnect-chunked");
        assertEquals(202, oci.patch(location, slice(content, 0, 100), "Content-Range", "0-99").status());

        try (Socket s = new Socket("127.0.0.1", server.port())) {
            OutputStream out = s.getOutputStream();
            out.write(("PATCH " + location + " HTTP/1.1\r\nHost: " + server.hostPort()
                    + "\r\nTransfer-Encoding: chunked\r\n\r\n" + Integer.toHexString(30_000) + "\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.write(content, 100, 30_000);
            out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            Thread.sleep(200);
        }
        assertEquals("0-99", awaitStatus(location).header("Range"));
        assertEquals(200, oci.get("/v2/").status());
    }

    // ---- helpers ---------------------------------------------------------------------------

    /** The upload's status once no request holds it any more (a rollback finishes asynchronously). */
    private Oci.Res awaitStatus(String location) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        Oci.Res r;
        do {
            r = oci.get(location);
            if (r.status() == 204) {
                return r;
            }
            Thread.sleep(50);
        } while (System.nanoTime() < deadline);
        throw new AssertionError("upload status never became available: " + r);
    }

    private static long filesNamed(String hex) throws IOException {
        Path blobs = server.dataDir().resolve("blobs");
        try (Stream<Path> files = Files.walk(blobs)) {
            return files.filter(Files::isRegularFile).filter(p -> p.getFileName().toString().equals(hex)).count();
        }
    }

    private static void await(CyclicBarrier barrier) {
        try {
            barrier.await(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
