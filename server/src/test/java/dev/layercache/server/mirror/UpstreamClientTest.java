package dev.layercache.server.mirror;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.Digest;
import dev.layercache.server.mirror.UpstreamClient.BlobBody;
import dev.layercache.server.mirror.UpstreamClient.FetchedManifest;
import dev.layercache.server.mirror.UpstreamClient.ManifestHead;
import dev.layercache.server.mirror.UpstreamException.Kind;
import dev.layercache.server.testing.ReferenceRegistry;
import dev.layercache.server.testing.ReferenceRegistry.Image;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The upstream client against the real reference registry (CNCF Distribution): manifests by tag and
 * by digest with the {@code Accept} list that decides what Distribution answers, a blob streamed
 * and hashed, a 404, a stopped upstream, and Basic auth with htpasswd.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class UpstreamClientTest {
    static final String OCI = "application/vnd.oci.image.manifest.v1+json";
    static final String DOCKER = "application/vnd.docker.distribution.manifest.v2+json";
    static final List<String> ACCEPT = List.of(DOCKER, "application/vnd.docker.distribution.manifest.list.v2+json",
            OCI, "application/vnd.oci.image.index.v1+json");

    @TempDir
    static Path dir;
    ReferenceRegistry registry;
    Image image;
    byte[] bigLayer;

    @BeforeAll
    void seed() throws Exception {
        registry = ReferenceRegistry.start(dir.resolve("anonymous"));
        bigLayer = new byte[3 * 1024 * 1024 + 17];
        new Random(21).nextBytes(bigLayer);
        image = registry.push("library/busybase", "1", null, "{\"architecture\":\"amd64\"}".getBytes(StandardCharsets.UTF_8),
                "small layer".getBytes(StandardCharsets.UTF_8), bigLayer);
    }

    @AfterAll
    void stop() throws Exception {
        registry.close();
    }

    UpstreamClient client(URI url, UpstreamSettings.Credentials credentials) {
        return new UpstreamClient(new UpstreamSettings("docker.io", url, credentials, UpstreamSettings.DEFAULT_REVALIDATE),
                Clock.systemUTC());
    }

    @Test
    void headAndGetOfAManifestByTagAndByDigest() throws Exception {
        UpstreamClient upstream = client(registry.url(), UpstreamSettings.Credentials.NONE);
        assertEquals("docker.io", upstream.name());
        Digest digest = Digest.parse(image.manifestDigest());

        ManifestHead byTag = upstream.headManifest("library/busybase", "1", ACCEPT);
        assertEquals(new ManifestHead(digest, OCI, image.manifest().length), byTag);
        assertEquals(byTag, upstream.headManifest("library/busybase", digest.toString(), ACCEPT));

        FetchedManifest got = upstream.getManifest("library/busybase", "1", ACCEPT, 4 * 1024 * 1024);
        assertEquals(digest, got.digest());
        assertEquals(OCI, got.mediaType());
        assertArrayEquals(image.manifest(), got.content());
        FetchedManifest byDigest = upstream.getManifest("library/busybase", digest.toString(), ACCEPT, 4 * 1024 * 1024);
        assertArrayEquals(image.manifest(), byDigest.content());
        assertEquals(digest, byDigest.digest());

        // The same, as the mirror service sees it.
        Upstream asMirrorSeesIt = upstream;
        assertEquals(UpstreamSettings.DEFAULT_REVALIDATE, asMirrorSeesIt.revalidate());
        assertEquals(new Upstream.Head(digest, OCI, image.manifest().length), asMirrorSeesIt.head("library/busybase", "1", ACCEPT));
        assertArrayEquals(image.manifest(), asMirrorSeesIt.get("library/busybase", "1", ACCEPT, 65536).content());
        try (Upstream.Body blob = asMirrorSeesIt.blob("library/busybase", Digest.sha256(bigLayer))) {
            assertArrayEquals(bigLayer, blob.stream().readAllBytes());
        }
    }

    @Test
    void theAcceptListIsWhatTheUpstreamAnswersBy() throws Exception {
        // Distribution 2.8 answers an OCI manifest asked by tag only to a client that accepts OCI.
        UpstreamClient upstream = client(registry.url(), UpstreamSettings.Credentials.NONE);
        UpstreamException e = assertThrows(UpstreamException.class,
                () -> upstream.headManifest("library/busybase", "1", List.of(DOCKER)));
        assertEquals(Kind.NOT_FOUND, e.kind(), e.getMessage());
        assertEquals(OCI, upstream.headManifest("library/busybase", "1", List.of(OCI)).mediaType());
        long before = registry.requests("GET", "/v2/library/busybase/manifests/1");
        upstream.getManifest("library/busybase", "1", List.of(OCI), 65536);
        assertEquals(before + 1, registry.requests("GET", "/v2/library/busybase/manifests/1"), "one GET, no retry");
    }

    @Test
    void aManifestLargerThanAllowedIsInvalid() {
        UpstreamClient upstream = client(registry.url(), UpstreamSettings.Credentials.NONE);
        UpstreamException e = assertThrows(UpstreamException.class,
                () -> upstream.getManifest("library/busybase", "1", ACCEPT, image.manifest().length - 1));
        assertEquals(Kind.INVALID, e.kind());
        assertTrue(e.getMessage().contains("larger than"), e.getMessage());
    }

    @Test
    void aBlobIsStreamedAndHashesToItsDigest() throws Exception {
        UpstreamClient upstream = client(registry.url(), UpstreamSettings.Credentials.NONE);
        Digest digest = Digest.sha256(bigLayer);
        MessageDigest sha = digest.algorithm().newMessageDigest();
        long read = 0;
        try (BlobBody blob = upstream.getBlob("library/busybase", digest)) {
            assertEquals(bigLayer.length, blob.length());
            InputStream in = blob.stream();
            byte[] buffer = new byte[8192];
            for (int n; (n = in.read(buffer)) > 0; ) {
                sha.update(buffer, 0, n);
                read += n;
            }
        }
        assertEquals(bigLayer.length, read);
        assertEquals(digest, Digest.of(digest.algorithm(), sha.digest()));
    }

    @Test
    void whatTheUpstreamDoesNotHaveIsNotFound() {
        UpstreamClient upstream = client(registry.url(), UpstreamSettings.Credentials.NONE);
        UpstreamException manifest = assertThrows(UpstreamException.class,
                () -> upstream.getManifest("library/busybase", "missing", ACCEPT, 65536));
        assertEquals(Kind.NOT_FOUND, manifest.kind());
        assertEquals(404, manifest.status());
        assertTrue(manifest.getMessage().contains("MANIFEST_UNKNOWN"), manifest.getMessage());
        assertFalse(manifest.serveStale());
        UpstreamException blob = assertThrows(UpstreamException.class,
                () -> upstream.getBlob("library/busybase", Digest.sha256(new byte[] {1})));
        assertEquals(Kind.NOT_FOUND, blob.kind());
        UpstreamException repository = assertThrows(UpstreamException.class,
                () -> upstream.headManifest("library/nothing-here", "1", ACCEPT));
        assertEquals(Kind.NOT_FOUND, repository.kind());
    }

    @Test
    void aStoppedUpstreamIsUnreachableAtOnce() throws Exception {
        try (ReferenceRegistry stopping = ReferenceRegistry.start(dir.resolve("stopping"))) {
            Image pushed = stopping.push("library/busybase", "1", null, "{}".getBytes(StandardCharsets.UTF_8),
                    "layer".getBytes(StandardCharsets.UTF_8));
            UpstreamClient upstream = client(stopping.url(), UpstreamSettings.Credentials.NONE);
            assertEquals(pushed.manifestDigest(), upstream.headManifest("library/busybase", "1", ACCEPT).digest().toString());
            stopping.stop();
            long start = System.nanoTime();
            for (int i = 0; i < 3; i++) {
                UpstreamException e = assertThrows(UpstreamException.class,
                        () -> upstream.getManifest("library/busybase", "1", ACCEPT, 65536));
                assertEquals(Kind.UNREACHABLE, e.kind(), e.getMessage());
                assertTrue(e.serveStale());
                UpstreamException blob = assertThrows(UpstreamException.class,
                        () -> upstream.getBlob("library/busybase", Digest.parse(pushed.manifestDigest())));
                assertEquals(Kind.UNREACHABLE, blob.kind(), blob.getMessage());
            }
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertTrue(took.compareTo(Duration.ofSeconds(2)) < 0, "refused connections fail at once: " + took);

            stopping.restart();
            assertEquals(pushed.manifestDigest(), upstream.headManifest("library/busybase", "1", ACCEPT).digest().toString(),
                    "the same client reaches the upstream again once it is back");
        }
    }

    @Test
    void basicAuthWithHtpasswd() throws Exception {
        try (ReferenceRegistry locked = ReferenceRegistry.startWithHtpasswd(dir.resolve("htpasswd"),
                Map.of("mirror", "s3cret-pw"))) {
            Image pushed = locked.push("team/app", "v1", ReferenceRegistry.basic("mirror", "s3cret-pw"),
                    "{}".getBytes(StandardCharsets.UTF_8), "app layer".getBytes(StandardCharsets.UTF_8));
            UpstreamClient right = client(locked.url(), new UpstreamSettings.Credentials("mirror", "s3cret-pw"));
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(pushed.manifest(), right.getManifest("team/app", "v1", ACCEPT, 65536).content());
            }
            try (BlobBody blob = right.getBlob("team/app", Digest.sha256("app layer".getBytes(StandardCharsets.UTF_8)))) {
                assertArrayEquals("app layer".getBytes(StandardCharsets.UTF_8), blob.stream().readAllBytes());
            }
            // The first request learns that the upstream wants Basic; the others send it from the start.
            String log = locked.logText();
            long refused = log.lines().filter(l -> l.contains("\"GET /v2/team/app/") && l.contains("\" 401 ")).count();
            assertEquals(1, refused, log);

            UpstreamException wrong = assertThrows(UpstreamException.class,
                    () -> client(locked.url(), new UpstreamSettings.Credentials("mirror", "wrong-pw"))
                            .getManifest("team/app", "v1", ACCEPT, 65536));
            assertEquals(Kind.DENIED, wrong.kind(), wrong.getMessage());
            assertEquals(401, wrong.status());
            assertFalse(wrong.getMessage().contains("wrong-pw"), wrong.getMessage());
            assertFalse(wrong.serveStale());

            UpstreamException none = assertThrows(UpstreamException.class,
                    () -> client(locked.url(), UpstreamSettings.Credentials.NONE).headManifest("team/app", "v1", ACCEPT));
            assertEquals(Kind.DENIED, none.kind(), none.getMessage());
            assertTrue(none.getMessage().contains("none are configured"), none.getMessage());
        }
    }
}
