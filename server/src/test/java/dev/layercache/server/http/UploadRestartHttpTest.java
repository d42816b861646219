package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.assertError;
import static dev.layercache.server.http.Oci.random;
import static dev.layercache.server.http.Oci.sha256;
import static dev.layercache.server.http.Oci.slice;
import static dev.layercache.server.http.Oci.withQuery;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Uploads across a server restart: each test has its own node so it can restart it. */
@Timeout(120)
class UploadRestartHttpTest {
    @RegisterExtension
    final TestServer server = new TestServer();
    private final Oci oci = new Oci(server);

    @Test
    void uploadSurvivesARestart() throws Exception {
        byte[] content = random(700_000, 50);
        String d = sha256(content);
        String location = oci.startUpload("restart/app");
        Oci.Res first = oci.patch(location, slice(content, 0, 300_000), "Content-Range", "0-299999");
        assertEquals(202, first.status(), first::toString);

        server.restart();

        Oci.Res status = oci.get(location);
        assertEquals(204, status.status(), status::toString);
        assertEquals("0-299999", status.header("Range"));

        Oci.Res rest = oci.patch(location, slice(content, 300_000, content.length), "Content-Range",
                "300000-" + (content.length - 1));
        assertEquals(202, rest.status(), rest::toString);
        Oci.Res put = oci.put(withQuery(location, "digest=" + d), null);
        assertEquals(201, put.status(), put::toString);
        assertEquals(d, put.header("Docker-Content-Digest"));

        Oci.Res get = oci.get("/v2/restart/app/blobs/" + d);
        assertEquals(200, get.status());
        assertArrayEquals(content, get.body());
        assertEquals(0, countFiles(server.dataDir().resolve("uploads")), "the upload file became the blob");
    }

    /** A session with no bytes yet has no file (it is made when bytes first go to it): it survives a restart all the same. */
    @Test
    void anEmptySessionSurvivesARestartAndTakesItsBlobOnThePut() throws Exception {
        byte[] content = random(4096, 51);
        String d = sha256(content);
        String location = oci.startUpload("restart/empty");
        assertEquals(0, countFiles(server.dataDir().resolve("uploads")), "no bytes, no file yet");

        server.restart();

        Oci.Res status = oci.get(location);
        assertEquals(204, status.status(), status::toString);
        Oci.Res put = oci.put(withQuery(location, "digest=" + d), content);
        assertEquals(201, put.status(), put::toString);
        assertArrayEquals(content, oci.get("/v2/restart/empty/blobs/" + d).body());
        assertEquals(0, countFiles(server.dataDir().resolve("uploads")));
    }

    @Test
    void streamedUploadSurvivesARestartAndFinishesOnThePut() throws Exception {
        byte[] content = random(50_000, 51);
        String d = sha256(content);
        String location = oci.startUpload("restart/streamed");
        assertEquals(202, oci.patchChunked(location, slice(content, 0, 20_000)).status());

        server.restart();

        Oci.Res put = oci.put(withQuery(location, "digest=" + d), slice(content, 20_000, content.length));
        assertEquals(201, put.status(), put::toString);
        assertArrayEquals(content, oci.get("/v2/restart/streamed/blobs/" + d).body());
    }

    @Test
    void wrongDigestAfterARestartStillStoresNothing() throws Exception {
        byte[] content = random(5_000, 52);
        String location = oci.startUpload("restart/wrong");
        assertEquals(202, oci.patch(location, content, "Content-Range", "0-4999").status());
        server.restart();
        String claimed = sha256(random(5_000, 53));
        assertError(oci.put(withQuery(location, "digest=" + claimed), null), 400, "DIGEST_INVALID");
        assertEquals(404, oci.head("/v2/restart/wrong/blobs/" + claimed).status());
        assertEquals(404, oci.head("/v2/restart/wrong/blobs/" + sha256(content)).status());
    }

    @Test
    void blobsAndManifestsSurviveARestart() throws Exception {
        byte[] manifest = oci.pushImage("restart/image", "v1", "restart");
        server.restart();
        Oci.Res r = oci.get("/v2/restart/image/manifests/v1");
        assertEquals(200, r.status(), r::toString);
        assertArrayEquals(manifest, r.body());
        assertEquals(sha256(manifest), r.header("Docker-Content-Digest"));
    }

    @Test
    void cancelledUploadStaysCancelledAfterARestart() throws Exception {
        String location = oci.startUpload("restart/cancel");
        assertEquals(202, oci.patch(location, random(100, 54), "Content-Range", "0-99").status());
        assertEquals(204, oci.delete(location).status());
        server.restart();
        assertError(oci.get(location), 404, "BLOB_UPLOAD_UNKNOWN");
        assertEquals(0, countFiles(server.dataDir().resolve("uploads")));
    }

    private static long countFiles(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return 0;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).count();
        }
    }
}
