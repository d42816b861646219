package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.random;
import static dev.layercache.server.http.Oci.slice;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.layercache.server.testing.TestServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Blob bodies as each way of writing them sends them ({@code http-downloads}: copied through
 * 256 KiB buffers, or {@code sendfile(2)}): whole blobs whose size is no multiple of the buffer,
 * ranges across a buffer's edge, and several bodies one after the other on one kept-alive
 * connection.
 */
@Timeout(60)
abstract class FileBodiesContract {
    private static final int CHUNK = 256 << 10;

    abstract TestServer server();

    private Oci oci() {
        return new Oci(server());
    }

    @Test
    void wholeBlobsOfAnySize() {
        Oci oci = oci();
        for (int size : new int[] {1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 12_345}) {
            byte[] content = random(size, size);
            String d = oci.pushBlob("bodies/whole", content);
            Oci.Res r = oci.get("/v2/bodies/whole/blobs/" + d);
            assertEquals(200, r.status());
            assertEquals(Integer.toString(size), r.header("Content-Length"));
            assertArrayEquals(content, r.body(), "size " + size);
        }
    }

    @Test
    void rangesAcrossABuffersEdge() {
        Oci oci = oci();
        byte[] content = random(3 * CHUNK + 7, 3);
        String d = oci.pushBlob("bodies/range", content);
        int from = CHUNK - 100;
        int to = 2 * CHUNK + 100;
        Oci.Res r = oci.get("/v2/bodies/range/blobs/" + d, "Range", "bytes=" + from + "-" + to);
        assertEquals(206, r.status());
        assertEquals("bytes " + from + "-" + to + "/" + content.length, r.header("Content-Range"));
        assertArrayEquals(slice(content, from, to + 1), r.body());
        Oci.Res tail = oci.get("/v2/bodies/range/blobs/" + d, "Range", "bytes=-10");
        assertArrayEquals(slice(content, content.length - 10, content.length), tail.body());
    }

    @Test
    void bodiesOneAfterAnotherOnOneConnection() {
        Oci oci = oci(); // one HTTP/1.1 client: its requests reuse the kept-alive connection
        byte[] a = random(2 * CHUNK + 1, 4);
        byte[] b = random(CHUNK / 2, 5);
        String da = oci.pushBlob("bodies/seq", a);
        String db = oci.pushBlob("bodies/seq", b);
        for (int i = 0; i < 5; i++) {
            assertArrayEquals(a, oci.get("/v2/bodies/seq/blobs/" + da).body(), "round " + i);
            assertArrayEquals(b, oci.get("/v2/bodies/seq/blobs/" + db).body(), "round " + i);
            assertEquals(200, oci.head("/v2/bodies/seq/blobs/" + da).status());
        }
    }
}
