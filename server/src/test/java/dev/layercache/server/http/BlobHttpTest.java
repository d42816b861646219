package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.assertError;
import static dev.layercache.server.http.Oci.assertErrorBody;
import static dev.layercache.server.http.Oci.random;
import static dev.layercache.server.http.Oci.sha256;
import static dev.layercache.server.http.Oci.sha512;
import static dev.layercache.server.http.Oci.slice;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.TestServices;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@code /v2/<name>/blobs/<digest>}: HEAD, GET with ranges, DELETE, and what is refused. */
@Timeout(60)
class BlobHttpTest {
    @RegisterExtension
    static final TestServices services = new TestServices();
    private final Oci oci = new Oci(services);

    private static final byte[] CONTENT = random(1000, 1);

    @Test
    void headDescribesTheBlob() {
        String d = oci.pushBlob("blobs/head", CONTENT);
        Oci.Res r = oci.head("/v2/blobs/head/blobs/" + d);
        assertEquals(200, r.status());
        assertEquals("1000", r.header("Content-Length"));
        assertEquals(d, r.header("Docker-Content-Digest"));
        assertEquals("registry/2.0", r.header("Docker-Distribution-Api-Version"));
    }

    @Test
    void getReturnsTheBytes() {
        String d = oci.pushBlob("blobs/get", CONTENT);
        Oci.Res r = oci.get("/v2/blobs/get/blobs/" + d);
        assertEquals(200, r.status());
        assertArrayEquals(CONTENT, r.body());
        assertEquals("1000", r.header("Content-Length"));
        assertEquals(d, r.header("Docker-Content-Digest"));
        assertEquals("application/octet-stream", r.header("Content-Type"));
    }

    @Test
    void largeBlobRoundTrip() {
        byte[] big = random(5 << 20, 2);
        String d = oci.pushBlob("blobs/large", big);
        Oci.Res r = oci.get("/v2/blobs/large/blobs/" + d);
        assertEquals(200, r.status());
        assertEquals(Integer.toString(big.length), r.header("Content-Length"));
        assertArrayEquals(big, r.body());
    }

    @Test
    void emptyBlobRoundTrip() {
        byte[] empty = new byte[0];
        String d = oci.pushBlob("blobs/empty", empty);
        assertEquals("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", d);
        Oci.Res r = oci.get("/v2/blobs/empty/blobs/" + d);
        assertEquals(200, r.status());
        assertEquals("0", r.header("Content-Length"));
        assertEquals(0, r.body().length);
        assertEquals("0", oci.head("/v2/blobs/empty/blobs/" + d).header("Content-Length"));
    }

    @Test
    void sha512Blob() {
        byte[] content = random(300, 3);
        String d = sha512(content);
        Oci.Res put = oci.post("/v2/blobs/sha512/blobs/uploads/?digest=" + d, content);
        assertEquals(201, put.status(), put::toString);
        assertEquals(d, put.header("Docker-Content-Digest"));
        Oci.Res r = oci.get("/v2/blobs/sha512/blobs/" + d);
        assertEquals(200, r.status());
        assertArrayEquals(content, r.body());
        assertEquals(d, r.header("Docker-Content-Digest"));
    }

    @Test
    void rangeFirstToLast() {
        String d = oci.pushBlob("blobs/range", CONTENT);
        Oci.Res r = oci.get("/v2/blobs/range/blobs/" + d, "Range", "bytes=10-19");
        assertEquals(206, r.status());
        assertEquals("bytes 10-19/1000", r.header("Content-Range"));
        assertEquals("10", r.header("Content-Length"));
        assertArrayEquals(slice(CONTENT, 10, 20), r.body());
        assertEquals(d, r.header("Docker-Content-Digest"));
    }

    @Test
    void rangeFromOffset() {
        String d = oci.pushBlob("blobs/range", CONTENT);
        Oci.Res r = oci.get("/v2/blobs/range/blobs/" + d, "Range", "bytes=990-");
        assertEquals(206, r.status());
        assertEquals("bytes 990-999/1000", r.header("Content-Range"));
        assertArrayEquals(slice(CONTENT, 990, 1000), r.body());
    }

    @Test
    void rangeSuffix() {
        String d = oci.pushBlob("blobs/range", CONTENT);
        Oci.Res r = oci.get("/v2/blobs/range/blobs/" + d, "Range", "bytes=-5");
        assertEquals(206, r.status());
        assertEquals("bytes 995-999/1000", r.header("Content-Range"));
        assertEquals("5", r.header("Content-Length"));
        assertArrayEquals(slice(CONTENT, 995, 1000), r.body());

        Oci.Res longer = oci.get("/v2/blobs/range/blobs/" + d, "Range", "bytes=-5000");
        assertEquals(206, longer.status());
        assertEquals("bytes 0-999/1000", longer.header("Content-Range"));
        assertArrayEquals(CONTENT, longer.body());
    }

    @Test
    void rangePastTheEndIsClamped() {
        String d = oci.pushBlob("blobs/range", CONTENT);
        Oci.Res r = oci.get("/v2/blobs/range/blobs/" + d, "Range", "bytes=900-5000");
        assertEquals(206, r.status());
        assertEquals("bytes 900-999/1000", r.header("Content-Range"));
        assertArrayEquals(slice(CONTENT, 900, 1000), r.body());
    }

    @Test
    void unsatisfiableRangesAre416() {
        String d = oci.pushBlob("blobs/range", CONTENT);
        for (String range : List.of("bytes=1000-", "bytes=5000-6000", "bytes=-0", "bytes=20-10", "bytes=x-y")) {
            Oci.Res r = oci.get("/v2/blobs/range/blobs/" + d, "Range", range);
            assertErrorBody(r, 416);
            assertEquals("bytes */1000", r.header("Content-Range"), range);
        }
    }

    @Test
    void severalRangesOrAnotherUnitGetTheWholeBlob() {
        String d = oci.pushBlob("blobs/range", CONTENT);
        for (String range : List.of("bytes=0-1,5-6", "items=0-1")) {
            Oci.Res r = oci.get("/v2/blobs/range/blobs/" + d, "Range", range);
            assertEquals(200, r.status(), range);
            assertArrayEquals(CONTENT, r.body());
        }
    }

    @Test
    void deleteRemovesTheBlobFromTheRepository() {
        byte[] content = random(64, 4);
        String d = oci.pushBlob("blobs/delete", content);
        oci.pushBlob("blobs/delete-other", content);

        Oci.Res del = oci.delete("/v2/blobs/delete/blobs/" + d);
        assertEquals(202, del.status(), del::toString);
        assertEquals(0, del.body().length);

        assertEquals(404, oci.head("/v2/blobs/delete/blobs/" + d).status());
        assertError(oci.get("/v2/blobs/delete/blobs/" + d), 404, "BLOB_UNKNOWN");
        assertError(oci.delete("/v2/blobs/delete/blobs/" + d), 404, "BLOB_UNKNOWN");
        // Still there for the other repository.
        Oci.Res other = oci.get("/v2/blobs/delete-other/blobs/" + d);
        assertEquals(200, other.status());
        assertArrayEquals(content, other.body());
    }

    @Test
    void unknownBlobIs404() {
        String d = sha256(random(10, 5));
        oci.pushBlob("blobs/unknown", CONTENT);
        assertEquals(404, oci.head("/v2/blobs/unknown/blobs/" + d).status());
        assertError(oci.get("/v2/blobs/unknown/blobs/" + d), 404, "BLOB_UNKNOWN");
    }

    @Test
    void blobOfAnotherRepositoryIsNotVisible() {
        byte[] content = random(77, 6);
        String d = oci.pushBlob("blobs/mine", content);
        assertEquals(200, oci.head("/v2/blobs/mine/blobs/" + d).status());
        assertEquals(404, oci.head("/v2/blobs/theirs/blobs/" + d).status());
        assertError(oci.get("/v2/blobs/theirs/blobs/" + d), 404, "BLOB_UNKNOWN");
        assertError(oci.delete("/v2/blobs/theirs/blobs/" + d), 404, "BLOB_UNKNOWN");
        assertEquals(200, oci.head("/v2/blobs/mine/blobs/" + d).status());
    }

    @Test
    void invalidDigestsAre400() {
        String hex = "b".repeat(64);
        for (String digest : List.of(
                "sha256:" + "g".repeat(64),                 // not hex
                "sha256:" + "B".repeat(64),                 // upper case
                "sha256:" + "b".repeat(63),                 // too short
                "sha256:" + "b".repeat(65),                 // too long
                "sha512:" + hex,                            // sha512 needs 128
                "md5:" + "b".repeat(32),                    // unknown algorithm
                "sha257:" + hex,
                "SHA256:" + hex,
                hex,                                        // no algorithm
                "sha256:")) {
            String path = "/v2/blobs/digests/blobs/" + digest;
            assertError(oci.get(path), 400, "DIGEST_INVALID");
            assertEquals(400, oci.head(path).status(), path);
            assertError(oci.delete(path), 400, "DIGEST_INVALID");
        }
    }

    @Test
    void invalidRepositoryNamesAre400() {
        String d = oci.pushBlob("blobs/names", CONTENT);
        for (String name : List.of("Upper", "blobs/Names", "a/../b", "..", "a/%2e%2e/b", "%2e%2e", "a//b", "-a",
                "a-", "a/", "a%2Fb", "a_", "x".repeat(256), "a/" + "b".repeat(254))) {
            String path = "/v2/" + name + "/blobs/" + d;
            Oci.Res r = oci.raw("GET", path, List.of(), null);
            assertError(r, 400, "NAME_INVALID");
            assertEquals(400, oci.head(path).status(), path);
        }
        // The longest allowed name is fine (and simply unknown).
        String longest = "n".repeat(255);
        assertError(oci.raw("GET", "/v2/" + longest + "/blobs/" + d, List.of(), null), 404, "BLOB_UNKNOWN");
    }

    @Test
    void nameValidationAlsoGuardsUploadsAndManifests() {
        for (String path : List.of("/v2/a/%2e%2e/b/blobs/uploads/", "/v2/Bad/manifests/latest",
                "/v2/a/../b/tags/list", "/v2/UP/referrers/sha256:" + "c".repeat(64))) {
            String method = path.endsWith("uploads/") ? "POST" : "GET";
            Oci.Res r = oci.raw(method, path, List.of(), method.equals("POST") ? new byte[0] : null);
            assertError(r, 400, "NAME_INVALID");
        }
    }

    @Test
    void etagAndCacheHeadersOnBlobs() {
        String d = oci.pushBlob("blobs/etag", CONTENT);
        Oci.Res r = oci.get("/v2/blobs/etag/blobs/" + d);
        assertTrue(r.header("ETag").contains(d), r::toString);
        assertEquals("bytes", r.header("Accept-Ranges"));
    }
}
