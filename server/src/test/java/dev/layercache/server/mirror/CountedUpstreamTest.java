package dev.layercache.server.mirror;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.Digest;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The counting decorator over a stub upstream: one report per request, with the right outcome. */
class CountedUpstreamTest {
    private static final Digest DIGEST = Digest.sha256(new byte[] {1});

    private final List<String> told = new ArrayList<>();
    private final CountedUpstream.Listener listener = (upstream, operation, outcome, nanos) -> {
        assertTrue(nanos >= 0);
        told.add(upstream + " " + operation + " " + outcome);
    };

    @Test
    void manifestsAreToldOkOrTheirFailuresKind() throws Exception {
        Upstream counted = new CountedUpstream(new Stub() {
            @Override
            public Head head(String repository, String reference, List<String> accept) throws UpstreamException {
                throw new UpstreamException(UpstreamException.Kind.RATE_LIMITED, 429, "slow down");
            }

            @Override
            public Fetched get(String repository, String reference, List<String> accept, int maxBytes) {
                return new Fetched(DIGEST, "application/json", new byte[] {1});
            }
        }, listener);
        assertThrows(UpstreamException.class, () -> counted.head("library/x", "1", List.of()));
        counted.get("library/x", "1", List.of(), 100);
        assertEquals(List.of("stub head_manifest rate_limited", "stub get_manifest ok"), told);
    }

    @Test
    void aBlobIsToldWhenItsBodyEndsOnceWithTheKindOfABrokenRead() throws Exception {
        Upstream whole = new CountedUpstream(new Stub() {
            @Override
            public Body blob(String repository, Digest digest) {
                return new Body(new ByteArrayInputStream(new byte[10]), 10);
            }
        }, listener);
        try (Upstream.Body body = whole.blob("library/x", DIGEST)) {
            assertEquals(List.of(), told, "not before its body is read");
            body.stream().readAllBytes();
        }
        assertEquals(List.of("stub get_blob ok"), told, "once, at its end (closing tells nothing more)");

        told.clear();
        Upstream stalled = new CountedUpstream(new Stub() {
            @Override
            public Body blob(String repository, Digest digest) {
                return new Body(new InputStream() {
                    @Override
                    public int read() throws IOException {
                        throw new SocketTimeoutException("stalled");
                    }
                }, -1);
            }
        }, listener);
        try (Upstream.Body body = stalled.blob("library/x", DIGEST)) {
            assertThrows(IOException.class, () -> body.stream().read(new byte[8]));
        }
        assertEquals(List.of("stub get_blob timeout"), told);

        told.clear();
        Upstream missing = new CountedUpstream(new Stub() {
            @Override
            public Body blob(String repository, Digest digest) throws UpstreamException {
                throw new UpstreamException(UpstreamException.Kind.NOT_FOUND, 404, "no such blob");
            }
        }, listener);
        assertThrows(UpstreamException.class, () -> missing.blob("library/x", DIGEST));
        assertEquals(List.of("stub get_blob not_found"), told);
    }

    /** Fails every call; a test overrides what it asks. */
    private static class Stub implements Upstream {
        @Override
        public String name() {
            return "stub";
        }

        @Override
        public Head head(String repository, String reference, List<String> accept) throws UpstreamException {
            throw new UpstreamException(UpstreamException.Kind.INVALID, 0, "not stubbed");
        }

        @Override
        public Fetched get(String repository, String reference, List<String> accept, int maxBytes)
                throws UpstreamException {
            throw new UpstreamException(UpstreamException.Kind.INVALID, 0, "not stubbed");
        }

        @Override
        public long blobSize(String repository, Digest digest) throws UpstreamException {
            throw new UpstreamException(UpstreamException.Kind.INVALID, 0, "not stubbed");
        }

        @Override
        public Body blob(String repository, Digest digest) throws UpstreamException {
            throw new UpstreamException(UpstreamException.Kind.INVALID, 0, "not stubbed");
        }
    }
}
