package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.OCI_CONFIG;
import static dev.layercache.server.http.Oci.OCI_LAYER;
import static dev.layercache.server.http.Oci.OCI_MANIFEST;
import static dev.layercache.server.http.Oci.assertError;
import static dev.layercache.server.http.Oci.imageManifest;
import static dev.layercache.server.http.Oci.sha256;
import static dev.layercache.server.http.Oci.utf8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.testing.TestServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Hostile input, one test per kind: names, digests, upload ids, header injection through
 * {@code Location}, absurd lengths and ranges, hostile manifests, oversized headers. Every request
 * goes over a raw socket ({@link Oci#raw}), so nothing normalizes the path on the way. Each one
 * must get its exact status and OCI error code, store nothing (the catalog and the files under
 * {@code uploads/} and {@code blobs/} are unchanged), inject no response header, and leave the
 * node serving a normal pull.
 */
@Timeout(120)
class HostileInputTest {
    @RegisterExtension
    static final TestServer server = new TestServer();
    private static final Oci oci = new Oci(server);

    private static final String GOOD = "hostile/good";
    private static Oci.Blob goodLayer;
    private static byte[] goodManifest;

    /** A manifest whose blobs exist in {@link #GOOD}, for pushes that must fail for another reason. */
    private static byte[] validManifest;

    @BeforeAll
    static void pushSomethingToServe() {
        Oci.Blob config = oci.pushBlob(GOOD, OCI_CONFIG, utf8("{\"os\":\"linux\"}"));
        goodLayer = oci.pushBlob(GOOD, OCI_LAYER, utf8("a layer that must stay readable"));
        goodManifest = imageManifest(OCI_MANIFEST, config, goodLayer);
        oci.pushManifest(GOOD, "v1", OCI_MANIFEST, goodManifest);
        validManifest = goodManifest;
    }

    // ---- names ------------------------------------------------------------------------------

    @Test
    void hostileNamesAreNameInvalidOnEveryEndpoint() {
        List<String> names = List.of("..", "a/..", "../a", "a/../b", "a/./b", "%2e%2e", "a/%2e%2e/b", "%2E%2E%2Fetc",
                "a%2Fb", "a%2fb", "a//b", "Team/App", "UPPER", "a".repeat(300), "team/" + "b".repeat(256),
                "caf%C3%A9", "a%00b", "a%00", "a\\b", "a%5cb", "-a", "a-", "a/", "_a", "a..b", "a%20b", "a%0d%0ab",
                "a;b", "a:b", "a@b");
        byte[] blob = utf8("hostile names");
        for (String name : names) {
            refusedAndNothingStored(() -> oci.raw("PUT", "/v2/" + name + "/manifests/latest",
                    List.of("Content-Type: " + OCI_MANIFEST), validManifest), 400, "NAME_INVALID");
            refusedAndNothingStored(() -> oci.raw("POST", "/v2/" + name + "/blobs/uploads/?digest=" + sha256(blob),
                    List.of(), blob), 400, "NAME_INVALID");
            refusedAndNothingStored(() -> oci.raw("POST", "/v2/" + name + "/blobs/uploads/", List.of(), null),
                    400, "NAME_INVALID");
            refusedAndNothingStored(() -> oci.raw("GET", "/v2/" + name + "/tags/list", List.of(), null),
                    400, "NAME_INVALID");
            refusedAndNothingStored(() -> oci.raw("GET", "/v2/" + name + "/blobs/" + goodLayer.digest(), List.of(),
                    null), 400, "NAME_INVALID");
            refusedAndNothingStored(() -> oci.raw("DELETE", "/v2/" + name + "/manifests/v1", List.of(), null),
                    400, "NAME_INVALID");
        }
    }

    @Test
    void nameOutsideTheGrammarOfTheRequestLine() {
        // An empty name addresses no repository: no such endpoint.
        refusedAndNothingStored(() -> oci.raw("PUT", "/v2//manifests/latest", List.of("Content-Type: " + OCI_MANIFEST),
                validManifest), 404, "NOT_FOUND");
        // Raw non-ASCII in the request line.
        refusedAndNothingStored(() -> oci.raw("POST", "/v2/caf\u00e9/blobs/uploads/", List.of(), null), 400,
                "NAME_INVALID");
        // A name past the request line's limit.
        refusedAndNothingStored(() -> oci.raw("POST", "/v2/" + "a/".repeat(5000) + "b/blobs/uploads/", List.of(),
                null), 414, "URI_TOO_LONG");
    }

    @Test
    void mountFromAHostileRepositoryIsNameInvalid() {
        for (String from : List.of("..", "a%2F..%2Fb", "a/../" + GOOD, "A", "x%00")) {
            refusedAndNothingStored(() -> oci.raw("POST", "/v2/hostile/mount/blobs/uploads/?mount="
                    + goodLayer.digest() + "&from=" + from, List.of(), null), 400, "NAME_INVALID");
        }
    }

    // ---- digests ----------------------------------------------------------------------------

    @Test
    void nonCanonicalAndUnsupportedDigestsAreDigestInvalid() {
        byte[] blob = utf8("hostile digests");
        String hex = sha256(blob).substring("sha256:".length());
        List<String> digests = List.of("sha256:" + hex.toUpperCase(), "sha256:" + hex.substring(1),
                "sha256:" + hex + "0", "sha256:", "sha256:" + "g".repeat(64), "sha512:" + hex, "md5:" + hex.substring(32),
                "sha1:" + hex.substring(24), "SHA256:" + hex, ":" + hex, "sha256:%20" + hex, "%20sha256:" + hex,
                "sha256:" + hex + "%20", "sha256:" + hex + "%0a", "sha256%3A" + hex, "sha256::" + hex,
                "sha256:" + hex + ":", "sha256:..%2f..%2f" + hex.substring(10), "sha256+b64u:" + hex);
        for (String digest : digests) {
            refusedAndNothingStored(() -> oci.raw("GET", "/v2/" + GOOD + "/blobs/" + digest, List.of(), null), 400,
                    "DIGEST_INVALID");
            refusedAndNothingStored(() -> oci.raw("DELETE", "/v2/" + GOOD + "/blobs/" + digest, List.of(), null), 400,
                    "DIGEST_INVALID");
            if (!digest.contains("%3A")) { // in a query, %3A is a colon: that one is valid there
                refusedAndNothingStored(() -> oci.raw("POST", "/v2/hostile/digests/blobs/uploads/?digest=" + digest,
                        List.of(), blob), 400, "DIGEST_INVALID");
                refusedAndNothingStored(() -> oci.raw("POST", "/v2/hostile/digests/blobs/uploads/?mount=" + digest
                        + "&from=" + GOOD, List.of(), null), 400, "DIGEST_INVALID");
            }
            if (digest.contains(":")) {
                // With a colon the reference is a digest (tags have none): DIGEST_INVALID, not TAG_INVALID.
                refusedAndNothingStored(() -> oci.raw("GET", "/v2/" + GOOD + "/manifests/" + digest, List.of(), null),
                        400, "DIGEST_INVALID");
                refusedAndNothingStored(() -> oci.raw("PUT", "/v2/" + GOOD + "/manifests/" + digest,
                        List.of("Content-Type: " + OCI_MANIFEST), validManifest), 400, "DIGEST_INVALID");
            }
        }
        // Without an algorithm, a blob digest is invalid; as a manifest reference it is a tag (64 hex
        // characters are a valid tag) that does not exist.
        refusedAndNothingStored(() -> oci.raw("GET", "/v2/" + GOOD + "/blobs/" + hex, List.of(), null), 400,
                "DIGEST_INVALID");
        refusedAndNothingStored(() -> oci.raw("GET", "/v2/" + GOOD + "/manifests/" + hex, List.of(), null), 404,
                "MANIFEST_UNKNOWN");
        // A query parameter that is not valid percent-encoding is a malformed request, not a server fault.
        for (String query : List.of("?digest=%", "?digest=sha256:%zz", "?digest=%4", "?mount=%&from=x")) {
            refusedAndNothingStored(() -> oci.raw("POST", "/v2/hostile/digests/blobs/uploads/" + query, List.of(),
                    blob), 400, "BAD_REQUEST");
        }
        refusedAndNothingStored(() -> oci.raw("GET", "/v2/" + GOOD + "/tags/list?n=1&last=%", List.of(), null), 400,
                "BAD_REQUEST");
    }

    @Test
    void sha512IsSupportedEndToEnd() {
        byte[] blob = utf8("a blob named by sha512");
        Oci.Res r = oci.raw("POST", "/v2/hostile/sha512/blobs/uploads/?digest=" + Oci.sha512(blob), List.of(), blob);
        assertEquals(201, r.status(), r::toString);
        Oci.Res get = oci.raw("GET", "/v2/hostile/sha512/blobs/" + Oci.sha512(blob), List.of(), null);
        assertArrayEquals(blob, get.body());
    }

    // ---- upload ids -------------------------------------------------------------------------

    @Test
    void anUploadIsUnknownThroughAnotherRepository() {
        String location = oci.startUpload("hostile/owner");
        String id = location.substring(location.lastIndexOf('/') + 1);
        byte[] chunk = utf8("chunk");
        String elsewhere = "/v2/hostile/thief/blobs/uploads/" + id;
        refusedAndNothingStored(() -> oci.raw("PATCH", elsewhere, List.of("Content-Range: 0-4"), chunk), 404,
                "BLOB_UPLOAD_UNKNOWN");
        refusedAndNothingStored(() -> oci.raw("PUT", elsewhere + "?digest=" + sha256(chunk), List.of(), chunk), 404,
                "BLOB_UPLOAD_UNKNOWN");
        refusedAndNothingStored(() -> oci.raw("GET", elsewhere, List.of(), null), 404, "BLOB_UPLOAD_UNKNOWN");
        refusedAndNothingStored(() -> oci.raw("DELETE", elsewhere, List.of(), null), 404, "BLOB_UPLOAD_UNKNOWN");
        // The session itself is untouched and still completes in its own repository.
        Oci.Res status = oci.raw("GET", location, List.of(), null);
        assertEquals(204, status.status(), status::toString);
        assertEquals("0-0", status.header("Range"));
        Oci.Res put = oci.raw("PUT", location + "?digest=" + sha256(chunk), List.of(), chunk);
        assertEquals(201, put.status(), put::toString);
        assertEquals(404, oci.raw("HEAD", "/v2/hostile/thief/blobs/" + sha256(chunk), List.of(), null).status());
    }

    @Test
    void malformedUploadIdsAreUnknown() {
        String location = oci.startUpload("hostile/ids");
        String id = location.substring(location.lastIndexOf('/') + 1);
        List<String> ids = List.of("not-a-uuid", "..", ".", "..%2f..%2fmetadata", "%2e%2e%2f%2e%2e%2fblobs",
                id.toUpperCase(), id + "%00", id + "%2f..", "{" + id + "}", "0-0-0-0-0", "00000000-0000-0000-0000-000000000000",
                "x".repeat(2000));
        byte[] chunk = utf8("chunk");
        try {
            for (String bad : ids) {
                String path = "/v2/hostile/ids/blobs/uploads/" + bad;
                refusedAndNothingStored(() -> oci.raw("PATCH", path, List.of(), chunk), 404, "BLOB_UPLOAD_UNKNOWN");
                refusedAndNothingStored(() -> oci.raw("PUT", path + "?digest=" + sha256(chunk), List.of(), chunk), 404,
                        "BLOB_UPLOAD_UNKNOWN");
                refusedAndNothingStored(() -> oci.raw("GET", path, List.of(), null), 404, "BLOB_UPLOAD_UNKNOWN");
                refusedAndNothingStored(() -> oci.raw("DELETE", path, List.of(), null), 404, "BLOB_UPLOAD_UNKNOWN");
                refusedAndNothingStored(() -> oci.raw("GET", "/internal/v1/uploads/" + bad, List.of(), null), 404,
                        "BLOB_UPLOAD_UNKNOWN");
            }
            // Literal dot segments leave the upload resource altogether.
            refusedAndNothingStored(() -> oci.raw("PATCH", "/v2/hostile/ids/blobs/uploads/../../../metadata/x",
                    List.of(), chunk), 404, "NOT_FOUND");
        } finally {
            assertEquals(204, oci.raw("DELETE", location, List.of(), null).status());
        }
    }

    // ---- header injection -------------------------------------------------------------------

    @Test
    void nothingReachesAResponseHeader() {
        String crlf = "%0d%0aX-Injected:%20yes";
        byte[] blob = utf8("injection");
        String d = sha256(blob);
        refusedAndNothingStored(() -> oci.raw("POST", "/v2/a" + crlf + "/blobs/uploads/", List.of(), null), 400,
                "NAME_INVALID");
        refusedAndNothingStored(() -> oci.raw("POST", "/v2/a" + crlf + "/blobs/uploads/?digest=" + d, List.of(), blob),
                400, "NAME_INVALID");
        // A reference with a colon is a digest, without one a tag: refused as what it would be.
        refusedAndNothingStored(() -> oci.raw("PUT", "/v2/" + GOOD + "/manifests/latest" + crlf,
                List.of("Content-Type: " + OCI_MANIFEST), validManifest), 400, "DIGEST_INVALID");
        refusedAndNothingStored(() -> oci.raw("PUT", "/v2/" + GOOD + "/manifests/latest%0d%0aX-Injected%3a%20yes",
                List.of("Content-Type: " + OCI_MANIFEST), validManifest), 400, "TAG_INVALID");
        refusedAndNothingStored(() -> oci.raw("PUT", "/v2/" + GOOD + "/manifests/latest%3Fx=1",
                List.of("Content-Type: " + OCI_MANIFEST), validManifest), 400, "TAG_INVALID");
        refusedAndNothingStored(() -> oci.raw("POST", "/v2/hostile/inj/blobs/uploads/?digest=" + d + crlf, List.of(),
                blob), 400, "DIGEST_INVALID");
        refusedAndNothingStored(() -> oci.raw("POST", "/v2/hostile/inj/blobs/uploads/?mount=" + goodLayer.digest()
                + "&from=" + GOOD + crlf, List.of(), null), 400, "NAME_INVALID");
        refusedAndNothingStored(() -> oci.raw("PATCH", "/v2/hostile/inj/blobs/uploads/" + crlf, List.of(), blob), 404,
                "BLOB_UPLOAD_UNKNOWN");
        // A bare CR LF in the request line ends it early: the request is malformed.
        refusedAndNothingStored(() -> oci.raw("POST", "/v2/a\r\nX-Injected: yes\r\n/blobs/uploads/", List.of(), null),
                400, "BAD_REQUEST");
        // A manifest's media type is stored and sent back as Content-Type: one that is not a media
        // type, from the body or from a (folded) header, is refused.
        String body = new String(validManifest, java.nio.charset.StandardCharsets.UTF_8);
        for (String mediaType : List.of(OCI_MANIFEST + "\\r\\nX-Injected: yes", OCI_MANIFEST + "\\nX-Injected: yes",
                OCI_MANIFEST + "\\u0000", "text/html; x", "not a media type", "a/b/c", "/", "")) {
            byte[] declared = utf8(body.replace("\"mediaType\": \"" + OCI_MANIFEST + "\"",
                    "\"mediaType\": \"" + mediaType + "\""));
            assertFalse(java.util.Arrays.equals(declared, validManifest));
            refusedAndNothingStored(() -> oci.raw("PUT", "/v2/" + GOOD + "/manifests/mt", List.of(), declared), 400,
                    "MANIFEST_INVALID");
        }
        byte[] undeclared = utf8(body.replace("\"mediaType\": \"" + OCI_MANIFEST + "\",", ""));
        refusedAndNothingStored(() -> oci.raw("PUT", "/v2/" + GOOD + "/manifests/ct",
                List.of("Content-Type: " + OCI_MANIFEST + "\r\n X-Injected: folded"), undeclared), 400,
                "MANIFEST_INVALID");
    }

    // ---- lengths and ranges -----------------------------------------------------------------

    @Test
    void absurdContentLengthsAreRefused() {
        byte[] blob = utf8("hello");
        String post = "/v2/hostile/lengths/blobs/uploads/?digest=" + sha256(blob);
        for (List<String> headers : List.of(List.of("Content-Length: -1"), List.of("Content-Length: abc"),
                List.of("Content-Length: 9223372036854775808"), List.of("Content-Length: 99999999999999999999999"),
                List.of("Content-Length: 5", "Content-Length: 6"), List.of("Content-Length: 5, 6"),
                List.of("Content-Length: 0x5"), List.of("Content-Length: +5"))) {
            refusedAndNothingStored(() -> oci.raw("POST", post, headers, blob), 400, "BAD_REQUEST");
        }
        // Content-Length together with chunked is how requests are smuggled past proxies: refused.
        refusedAndNothingStored(() -> oci.raw("POST", post, List.of("Content-Length: 1000",
                "Transfer-Encoding: chunked"), utf8("5\r\nhello\r\n0\r\n\r\n")), 400, "BAD_REQUEST");
        // A manifest announced beyond any limit is refused before a byte of it is read.
        refusedAndNothingStored(() -> oci.raw("PUT", "/v2/hostile/lengths/manifests/huge",
                List.of("Content-Type: " + OCI_MANIFEST, "Content-Length: 9223372036854775807"), new byte[0]), 413,
                ErrorCode.MANIFEST_TOO_LARGE.wireCode());
        // A body that ends before its Content-Range says stores nothing either.
        String location = oci.startUpload("hostile/lengths");
        try {
            refusedAndNothingStored(() -> oci.raw("PATCH", location, List.of("Content-Range: 0-9"), blob), 416,
                    ErrorCode.RANGE_INVALID.wireCode());
            assertEquals("0-0", oci.raw("GET", location, List.of(), null).header("Range"));
        } finally {
            oci.raw("DELETE", location, List.of(), null);
        }
    }

    @Test
    void absurdRangesAreRangeInvalidOrTheWholeBlob() {
        String path = "/v2/" + GOOD + "/blobs/" + goodLayer.digest();
        long size = goodLayer.size();
        for (String range : List.of("bytes=-0", "bytes=5-1", "bytes=0-99999999999999999999", "bytes=99999999999999999999-",
                "bytes=" + size + "-", "bytes=-", "bytes=", "bytes=abc", "bytes=1-2-3", "bytes=--1", "bytes=0x1-2",
                "bytes=-9223372036854775808", "bytes=9223372036854775807-9223372036854775807")) {
            Oci.Res r = refusedAndNothingStored(() -> oci.raw("GET", path, List.of("Range: " + range), null), 416,
                    ErrorCode.RANGE_INVALID.wireCode());
            assertEquals("bytes */" + size, r.header("Content-Range"), range);
        }
        // Several ranges, another unit, or no "bytes=": the whole blob (RFC 9110 lets a server ignore Range).
        for (String range : List.of("bytes=0-1,3-4", "bytes=0-0,-1", "items=0-1", "garbage", "bytes 0-1")) {
            Oci.Res r = oci.raw("GET", path, List.of("Range: " + range), null);
            assertEquals(200, r.status(), range);
            assertEquals(size, r.body().length, range);
        }
        Oci.Res suffix = oci.raw("GET", path, List.of("Range: bytes=-999999999999999999"), null);
        assertEquals(206, suffix.status(), suffix::toString);
        assertEquals(size, suffix.body().length);
    }

    @Test
    void contentRangesOutOfOrderOverlappingOrAbsurdAreRangeInvalid() {
        String location = oci.startUpload("hostile/chunks");
        try {
            byte[] ten = utf8("0123456789");
            Oci.Res first = oci.raw("PATCH", location, List.of("Content-Range: 0-9"), ten);
            assertEquals(202, first.status(), first::toString);
            for (String range : List.of("20-29", "5-14", "0-9", "9-18", "11-20", "10-9", "-10-19", "10-",
                    "10-99999999999999999999", "9223372036854775797-9223372036854775806", "bytes=abc", "10 19", "garbage")) {
                Oci.Res r = refusedAndNothingStored(() -> oci.raw("PATCH", location, List.of("Content-Range: " + range),
                        ten), 416, ErrorCode.RANGE_INVALID.wireCode());
                assertEquals("0-9", oci.raw("GET", location, List.of(), null).header("Range"), range);
                assertNull(r.header("X-Injected"));
            }
            // The session goes on from where it stood.
            Oci.Res next = oci.raw("PATCH", location, List.of("Content-Range: 10-19"), ten);
            assertEquals(202, next.status(), next::toString);
            assertEquals("0-19", next.header("Range"));
        } finally {
            oci.raw("DELETE", location, List.of(), null);
        }
    }

    // ---- manifests --------------------------------------------------------------------------

    @Test
    void deeplyNestedJsonIsManifestInvalid() {
        String deepObject = "{\"a\":".repeat(10_000) + "1" + "}".repeat(10_000);
        String deepArray = "{\"schemaVersion\":2,\"layers\":" + "[".repeat(10_000) + "]".repeat(10_000) + "}";
        String deepInLayer = "{\"schemaVersion\":2,\"config\":{\"annotations\":" + "{\"a\":".repeat(100) + "1"
                + "}".repeat(100) + "}}";
        for (String body : List.of(deepObject, deepArray, deepInLayer)) {
            refusedAndNothingStored(() -> oci.raw("PUT", "/v2/hostile/deep/manifests/deep",
                    List.of("Content-Type: " + OCI_MANIFEST), utf8(body)), 400, "MANIFEST_INVALID");
        }
    }

    @Test
    void aManifestOverTheLimitIs413() {
        byte[] huge = padded(5 << 20);
        // Announced with Content-Length: refused before the body is read.
        refusedAndNothingStored(() -> oci.raw("PUT", "/v2/hostile/huge/manifests/big",
                List.of("Content-Type: " + OCI_MANIFEST), huge), 413, ErrorCode.MANIFEST_TOO_LARGE.wireCode());
        // Chunked, with no length announced: refused once the limit is passed.
        ByteArrayOutputStream chunked = new ByteArrayOutputStream();
        for (int off = 0; off < huge.length; off += 1 << 16) {
            int n = Math.min(1 << 16, huge.length - off);
            chunked.writeBytes(utf8(Integer.toHexString(n) + "\r\n"));
            chunked.write(huge, off, n);
            chunked.writeBytes(utf8("\r\n"));
        }
        chunked.writeBytes(utf8("0\r\n\r\n"));
        refusedAndNothingStored(() -> oci.raw("PUT", "/v2/hostile/huge/manifests/big",
                List.of("Content-Type: " + OCI_MANIFEST, "Transfer-Encoding: chunked"), chunked.toByteArray()), 413,
                ErrorCode.MANIFEST_TOO_LARGE.wireCode());
    }

    @Test
    void malformedManifestsAreManifestInvalid() {
        String config = "{\"mediaType\":\"" + OCI_CONFIG + "\",\"digest\":\"" + sha256(utf8("{\"os\":\"linux\"}"))
                + "\",\"size\":15}";
        String layer = goodLayer.descriptor();
        List<byte[]> bodies = new ArrayList<>(List.of(
                utf8(""), utf8("null"), utf8("[]"), utf8("\"text\""), utf8("42"), utf8("{"), utf8("{}}"),
                utf8("{\"schemaVersion\":2,\"layers\":{}}"),
                utf8("{\"schemaVersion\":2,\"config\":\"sha256:x\"}"),
                utf8("{\"schemaVersion\":2,\"config\":" + config + ",\"layers\":[\"" + goodLayer.digest() + "\"]}"),
                utf8("{\"schemaVersion\":2,\"config\":" + config + ",\"layers\":[{\"digest\":\"sha256:"
                        + "A".repeat(64) + "\",\"size\":1}]}"),
                utf8("{\"schemaVersion\":2,\"config\":" + config + ",\"layers\":[{\"digest\":\"" + goodLayer.digest()
                        + "\",\"size\":-1}]}"),
                utf8("{\"schemaVersion\":2,\"config\":" + config + ",\"layers\":[{\"digest\":\"" + goodLayer.digest()
                        + "\",\"size\":1e999}]}"),
                utf8("{\"schemaVersion\":2,\"config\":" + config + ",\"layers\":[{\"digest\":\"" + goodLayer.digest()
                        + "\",\"size\":99999999999999999999999}]}"),
                utf8("{\"schemaVersion\":2,\"config\":" + config + ",\"layers\":[{\"digest\":\"" + goodLayer.digest()
                        + "\",\"size\":\"31\"}]}"),
                utf8("{\"schemaVersion\":3,\"config\":" + config + ",\"layers\":[" + layer + "]}"),
                utf8("{\"schemaVersion\":\"2\",\"config\":" + config + ",\"layers\":[" + layer + "]}"),
                utf8("{\"schemaVersion\":-2,\"config\":" + config + ",\"layers\":[" + layer + "]}"),
                utf8("{\"schemaVersion\":2,\"mediaType\":\"" + Oci.OCI_INDEX + "\",\"config\":" + config + "}"),
                // The same key twice: parsers disagree on which one counts, so the manifest is ambiguous.
                utf8("{\"schemaVersion\":2,\"config\":" + config + ",\"layers\":[" + layer + "],\"layers\":[]}"),
                utf8("{\"schemaVersion\":2,\"schemaVersion\":2,\"config\":" + config + ",\"layers\":[" + layer + "]}"),
                // Invalid UTF-8 inside a string and as a key.
                concat(utf8("{\"schemaVersion\":2,\"annotations\":{\"a\":\""), new byte[] {(byte) 0xff, (byte) 0xfe},
                        utf8("\"},\"config\":" + config + ",\"layers\":[" + layer + "]}")),
                concat(utf8("{\""), new byte[] {(byte) 0xc3, (byte) 0x28}, utf8("\":1,\"schemaVersion\":2}")),
                concat(new byte[] {(byte) 0xef, (byte) 0xbb, (byte) 0xbf, (byte) 0xff}, utf8("{}"))));
        for (byte[] body : bodies) {
            try {
                refusedAndNothingStored(() -> oci.raw("PUT", "/v2/" + GOOD + "/manifests/bad",
                        List.of("Content-Type: " + OCI_MANIFEST), body), 400, "MANIFEST_INVALID");
            } catch (AssertionError e) {
                throw new AssertionError("manifest " + new String(body, java.nio.charset.StandardCharsets.UTF_8), e);
            }
        }
        // The declared media type must be the one in the body.
        refusedAndNothingStored(() -> oci.raw("PUT", "/v2/" + GOOD + "/manifests/bad",
                List.of("Content-Type: " + Oci.OCI_INDEX), validManifest), 400, "MANIFEST_INVALID");
    }

    @Test
    void aManifestOfUnknownBlobsIsManifestBlobUnknown() {
        byte[] elsewhere = utf8("a layer of another repository");
        Oci.Blob foreign = oci.pushBlob("hostile/other", OCI_LAYER, elsewhere);
        Oci.Blob config = new Oci.Blob(OCI_CONFIG, sha256(utf8("{\"os\":\"linux\"}")), 15);
        Oci.Blob missing = new Oci.Blob(OCI_LAYER, sha256(utf8("never pushed")), 12);
        // Unknown anywhere, or known only in another repository: both are unknown here.
        for (Oci.Blob layer : List.of(missing, foreign)) {
            refusedAndNothingStored(() -> oci.raw("PUT", "/v2/" + GOOD + "/manifests/dangling",
                    List.of("Content-Type: " + OCI_MANIFEST), imageManifest(OCI_MANIFEST, config, layer)), 400,
                    "MANIFEST_BLOB_UNKNOWN");
        }
    }

    @Test
    void aDigestInTheUrlMustBeTheBodysDigest() {
        byte[] other = utf8(new String(validManifest, java.nio.charset.StandardCharsets.UTF_8) + " ");
        refusedAndNothingStored(() -> oci.raw("PUT", "/v2/" + GOOD + "/manifests/" + sha256(other),
                List.of("Content-Type: " + OCI_MANIFEST), validManifest), 400, "DIGEST_INVALID");
        refusedAndNothingStored(() -> oci.raw("PUT", "/v2/" + GOOD + "/manifests/" + Oci.sha512(other),
                List.of("Content-Type: " + OCI_MANIFEST), validManifest), 400, "DIGEST_INVALID");
    }

    // ---- headers ----------------------------------------------------------------------------

    @Test
    void oversizedHeadersAre431() {
        byte[] blob = utf8("headers");
        refusedAndNothingStored(() -> oci.raw("POST", "/v2/hostile/headers/blobs/uploads/?digest=" + sha256(blob),
                List.of("X-Long: " + "a".repeat(20_000)), blob), 431, "HEADERS_TOO_LARGE");
        List<String> many = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            many.add("X-H" + i + ": v");
        }
        refusedAndNothingStored(() -> oci.raw("POST", "/v2/hostile/headers/blobs/uploads/?digest=" + sha256(blob),
                many, blob), 431, "HEADERS_TOO_LARGE");
        refusedAndNothingStored(() -> oci.raw("GET", "/v2/" + GOOD + "/manifests/v1",
                List.of("Accept: " + (OCI_MANIFEST + ",").repeat(2000)), null), 431, "HEADERS_TOO_LARGE");
    }

    // ---- support ----------------------------------------------------------------------------

    /**
     * Sends a hostile request and checks it end to end: the status and OCI code, no injected
     * header, nothing stored, and the node still serving a pull. Returns the response.
     */
    private static Oci.Res refusedAndNothingStored(Supplier<Oci.Res> hostile, int status, String code) {
        Stored before = stored();
        Oci.Res r = hostile.get();
        assertError(r, status, code);
        assertNoInjectedHeader(r);
        assertNothingStored(before);
        assertStillServes();
        return r;
    }

    private static void assertNoInjectedHeader(Oci.Res r) {
        for (Map.Entry<String, List<String>> h : r.headers().entrySet()) {
            assertFalse(h.getKey().contains("injected"), () -> "injected header: " + r);
            h.getValue().forEach(v -> assertFalse(v.contains("\r") || v.contains("\n") || v.contains("X-Injected"),
                    () -> "header " + h.getKey() + " carries a line break: " + r));
        }
    }

    /** What the node holds: the catalog and the files of uploads and blobs. */
    private record Stored(String catalog, Set<String> files) {
    }

    private static Stored stored() {
        Oci.Res catalog = oci.get("/v2/_catalog");
        assertEquals(200, catalog.status());
        Set<String> files = new TreeSet<>();
        for (String dir : List.of("uploads", "blobs")) {
            Path root = server.dataDir().resolve(dir);
            try (Stream<Path> paths = Files.walk(root)) {
                paths.filter(Files::isRegularFile).forEach(p -> files.add(server.dataDir().relativize(p).toString()));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return new Stored(catalog.text(), files);
    }

    /** A refused upload is rolled back after its answer is sent: allow it a moment. */
    private static void assertNothingStored(Stored before) {
        long deadline = System.nanoTime() + 5_000_000_000L;
        Stored now = stored();
        while (!now.equals(before) && System.nanoTime() < deadline) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
            now = stored();
        }
        assertEquals(before, now, "the refused request stored something");
    }

    private static void assertStillServes() {
        assertEquals(200, oci.raw("GET", "/v2/", List.of(), null).status());
        Oci.Res blob = oci.raw("GET", "/v2/" + GOOD + "/blobs/" + goodLayer.digest(), List.of(), null);
        assertEquals(200, blob.status(), blob::toString);
        assertEquals(goodLayer.size(), blob.body().length);
        Oci.Res manifest = oci.raw("GET", "/v2/" + GOOD + "/manifests/v1", List.of(), null);
        assertArrayEquals(goodManifest, manifest.body());
    }

    private static byte[] padded(int size) {
        String head = "{\"schemaVersion\":2,\"annotations\":{\"pad\":\"";
        String tail = "\"}}";
        return utf8(head + "x".repeat(size - head.length() - tail.length()) + tail);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }
}
