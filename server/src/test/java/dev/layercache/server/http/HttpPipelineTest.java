package dev.layercache.server.http;

import static io.netty.handler.codec.http.HttpMethod.GET;
import static io.netty.handler.codec.http.HttpMethod.POST;
import static io.netty.handler.codec.http.HttpMethod.PUT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.testing.EmbeddedHttp;
import dev.layercache.server.testing.Http;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The HTTP pipeline ({@link HttpPipeline}: codec, timeouts, {@link HttpDispatcher}) on an embedded
 * channel, over a route table of endpoints that record what they are given: how bodies reach a
 * handler (streamed, collected, dropped), how a slow consumer holds the client back, and what
 * happens to the rest of a body the server answered early. No socket, no store.
 */
class HttpPipelineTest {
    /** An upload endpoint that keeps what it receives, or refuses at {@code open}. */
    private static final class Recorder implements StreamingEndpoint {
        final ByteArrayOutputStream received = new ByteArrayOutputStream();
        final List<Integer> chunks = new ArrayList<>();
        final AtomicInteger opened = new AtomicInteger();
        final AtomicInteger finished = new AtomicInteger();
        final AtomicInteger aborted = new AtomicInteger();
        volatile RegistryException refuse;

        @Override
        public BodyStream open(Request request) {
            opened.incrementAndGet();
            if (refuse != null) {
                throw refuse;
            }
            return new BodyStream() {
                @Override
                public void write(ByteBuf chunk) {
                    chunks.add(chunk.readableBytes());
                    byte[] bytes = new byte[chunk.readableBytes()];
                    chunk.getBytes(chunk.readerIndex(), bytes);
                    received.writeBytes(bytes);
                }

                @Override
                public Response finish() {
                    finished.incrementAndGet();
                    return Response.text(HttpResponseStatus.CREATED, "stored " + received.size());
                }

                @Override
                public void abort() {
                    aborted.incrementAndGet();
                }
            };
        }
    }

    private final Recorder upload = new Recorder();
    private final AtomicInteger plainCalls = new AtomicInteger();
    private final List<String> collected = new ArrayList<>();
    private final EmbeddedHttp http = new EmbeddedHttp(HttpSurface.of(routes()).build());

    private Routes routes() {
        Routes routes = new Routes();
        routes.bind(Route.Resource.UPLOADS, POST, new Binding.Streaming(upload));
        routes.plain(Route.Resource.HEALTHZ, GET, r -> {
            plainCalls.incrementAndGet();
            return Response.text(HttpResponseStatus.OK, "ok " + plainCalls.get());
        });
        routes.bind(Route.Resource.MANIFEST, PUT, new Binding.Buffered(r -> {
            collected.add(r.body().toString(StandardCharsets.UTF_8));
            return Response.status(HttpResponseStatus.CREATED);
        }, 1024));
        return routes;
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }

    private static String uploadHead(String length) {
        return "POST /v2/team/app/blobs/uploads/ HTTP/1.1\r\nHost: x\r\n" + length + "\r\n\r\n";
    }

    /**
     * A small upload whose headers and body come in one read hands its tasks (admission, open,
     * write, finish) to the pool once, when the read ends, not once each: on a busy node each
     * hand-off is a thread woken. The pool here runs tasks at once on the caller, so every start
     * of the exchange's queue is one call.
     */
    @Test
    void aSmallUploadReadAtOnceGoesToThePoolInOneHandOff() {
        AtomicInteger handOffs = new AtomicInteger();
        java.util.concurrent.Executor inline = task -> {
            handOffs.incrementAndGet();
            task.run();
        };
        io.netty.channel.embedded.EmbeddedChannel channel = new io.netty.channel.embedded.EmbeddedChannel(
                new HttpPipeline(HttpServer.Options.builder().build(), HttpSurface.of(routes()).build(), inline, inline));
        try {
            byte[] body = random(4096);
            channel.writeInbound(io.netty.buffer.Unpooled.wrappedBuffer(ascii(uploadHead("Content-Length: 4096")), body));
            channel.runPendingTasks();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (Object msg; (msg = channel.readOutbound()) != null; ) {
                ByteBuf buf = (ByteBuf) msg;
                byte[] bytes = new byte[buf.readableBytes()];
                buf.readBytes(bytes);
                out.writeBytes(bytes);
                buf.release();
            }
            Http.Reply reply = EmbeddedHttp.parse(out.toByteArray(), false);
            assertEquals(201, reply.status(), reply.text());
            assertArrayEquals(body, upload.received.toByteArray());
            assertEquals(1, handOffs.get(), "admission, open, write and finish in one hand-off");
        } finally {
            channel.finishAndReleaseAll();
        }
    }

    @Test
    void aBodyWithALengthStreamsToTheHandlerInPiecesAndInOrder() {
        byte[] body = random(300_000);
        try (EmbeddedHttp.Connection c = http.connect()) {
            c.send(ascii(uploadHead("Content-Length: " + body.length)));
            assertEquals(1, upload.opened.get(), "the handler is opened when the headers arrive, before any body");
            assertEquals(0, upload.received.size());
            for (int off = 0; off < body.length; off += 100_000) {
                c.send(java.util.Arrays.copyOfRange(body, off, off + 100_000));
                assertEquals(off + 100_000, upload.received.size(), "each piece reaches the handler as it arrives");
            }
            Http.Reply reply = EmbeddedHttp.parse(c.read(), false);
            assertEquals(201, reply.status());
            assertEquals("stored " + body.length, reply.text());
            assertArrayEquals(body, upload.received.toByteArray());
            assertTrue(upload.chunks.size() >= 3, "streamed, not collected: " + upload.chunks);
            assertEquals(1, upload.finished.get());
            assertEquals(0, upload.aborted.get());
            assertTrue(c.isOpen(), "a keep-alive connection stays open");
        }
    }

    @Test
    void aChunkedBodyArrivesWithoutItsFraming() {
        try (EmbeddedHttp.Connection c = http.connect()) {
            c.send(ascii(uploadHead("Transfer-Encoding: chunked")
                    + "5\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n"));
            Http.Reply reply = EmbeddedHttp.parse(c.read(), false);
            assertEquals(201, reply.status());
            assertEquals("hello world!", upload.received.toString(StandardCharsets.UTF_8));
            assertEquals(1, upload.finished.get());
        }
    }

    @Test
    void aMalformedChunkIsA400ThatRollsTheUploadBackAndCloses() {
        try (EmbeddedHttp.Connection c = http.connect()) {
            c.send(ascii(uploadHead("Transfer-Encoding: chunked") + "5\r\nhello\r\nzz\r\nmore\r\n"));
            Http.Reply reply = EmbeddedHttp.parse(c.read(), false);
            assertEquals(400, reply.status());
            assertTrue(reply.text().contains("chunked transfer coding"), reply.text());
            assertEquals("close", reply.header("Connection"));
            assertEquals(1, upload.aborted.get(), "what the request wrote is undone");
            assertEquals(0, upload.finished.get());
            assertEquals("hello", upload.received.toString(StandardCharsets.UTF_8));
            assertTrue(c.isOpen() && c.reading(),
                    "what the client still sends is read and dropped for a while, so that it sees the answer");
            c.channel().advanceTimeBy(10, TimeUnit.SECONDS);
            c.pump();
            assertFalse(c.isOpen(), "then the connection closes: nothing after a malformed body can be parsed");
        }
    }

    @Test
    void aSmallBodyOnARequestThatTakesNoneIsDroppedAndTheConnectionGoesOn() {
        try (EmbeddedHttp.Connection c = http.connect()) {
            c.send(ascii("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"
                    + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
            String both = c.readText();
            assertTrue(both.contains("ok 1") && both.contains("ok 2"), both);
            assertTrue(both.indexOf("ok 1") < both.indexOf("ok 2"), "answered in order: " + both);
            assertTrue(c.isOpen());
        }
    }

    @Test
    void aLargeBodyOnARequestThatTakesNoneIsRefusedAndDrained() {
        try (EmbeddedHttp.Connection c = http.connect()) {
            int length = (1 << 20) + 100_000;
            c.send(ascii("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + "\r\n\r\n"));
            c.send(random(1 << 20));
            assertEquals("", c.readText(), "a body up to 1 MiB is read and dropped");
            c.send(random(50_000));
            Http.Reply reply = EmbeddedHttp.parse(c.read(), false);
            assertEquals(ErrorCode.UNSUPPORTED.httpStatus(), reply.status());
            assertEquals("close", reply.header("Connection"));
            assertEquals(0, plainCalls.get(), "the handler never runs");
            assertTrue(c.isOpen(), "the rest of the body is still read, so the client sees the answer");
            assertTrue(c.reading());
            c.send(random(50_000));
            assertFalse(c.isOpen(), "closed once the body has ended");
        }
    }

    @Test
    void aManifestBodyIsCollectedWholeUpToItsLimit() {
        try (EmbeddedHttp.Connection c = http.connect()) {
            c.send(ascii("PUT /v2/team/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n"));
            assertEquals(201, EmbeddedHttp.parse(c.read(), false).status());
            assertEquals(List.of("{\"a\":1}"), collected);
        }
    }

    @Test
    void aManifestOverTheLimitIsRefusedBeforeItsBodyIsRead() {
        try (EmbeddedHttp.Connection c = http.connect()) {
            c.send(ascii("PUT /v2/team/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"));
            Http.Reply reply = EmbeddedHttp.parse(c.read(), false);
            assertEquals(413, reply.status());
            assertTrue(c.isOpen(), "draining the body the client is still sending");
            c.send(random(5000));
            assertFalse(c.isOpen());
            assertTrue(collected.isEmpty());
        }
    }

    @Test
    void aSlowConsumerStopsReadingAboveTheHighWatermarkAndResumesBelowTheLow() {
        int length = 12 << 20;
        try (EmbeddedHttp.Connection c = http.connect()) {
            c.send(ascii(uploadHead("Content-Length: " + length)));
            // The handler's pool does not run: every byte written waits for it.
            int written = 0;
            while (written < (8 << 20) + (1 << 20)) {
                c.write(random(1 << 20));
                written += 1 << 20;
            }
            assertFalse(c.reading(), "more than 8 MiB waiting for the disk: the client is held back");
            assertEquals(0, upload.received.size());
            c.pump();
            assertTrue(c.reading(), "the handler caught up: reading resumes");
            assertEquals(written, upload.received.size());
            c.send(random(length - written));
            assertEquals(201, EmbeddedHttp.parse(c.read(), false).status());
            assertEquals(length, upload.received.size());
        }
    }

    @Test
    void anUploadRefusedAtItsHeadersIsAnsweredAtOnceAndTheRestOfItsBodyDrained() {
        upload.refuse = new RegistryException(ErrorCode.NAME_UNKNOWN, "no such repository");
        try (EmbeddedHttp.Connection c = http.connect()) {
            c.send(ascii(uploadHead("Content-Length: 200000")));
            Http.Reply reply = EmbeddedHttp.parse(c.read(), false);
            assertEquals(404, reply.status(), "answered before the body");
            assertTrue(reply.text().contains("NAME_UNKNOWN"), reply.text());
            assertEquals("close", reply.header("Connection"));
            assertTrue(c.isOpen() && c.reading(), "the body still coming is read, not left for a reset");
            c.send(random(100_000));
            assertTrue(c.isOpen());
            assertEquals("", c.readText(), "one answer only");
            c.send(random(100_000));
            assertFalse(c.isOpen(), "closed at the body's end");
            assertEquals(0, upload.received.size(), "nothing reached the refused handler");
        }
    }

    @Test
    void aClientThatGoesAwayMidUploadHasItsWritesUndone() {
        EmbeddedHttp.Connection c = http.connect();
        c.send(ascii(uploadHead("Content-Length: 100000")));
        c.send(random(40_000));
        c.close();
        assertEquals(1, upload.aborted.get());
        assertEquals(0, upload.finished.get());
        assertEquals(0, http.surface().requestsInProgress(), "the request counts as ended");
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrderAfterAnUpload() {
        try (EmbeddedHttp.Connection c = http.connect()) {
            c.send(ascii(uploadHead("Content-Length: 3") + "abc" + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
            String both = c.readText();
            assertTrue(both.startsWith("HTTP/1.1 201"), both);
            assertTrue(both.indexOf("stored 3") < both.indexOf("ok 1"), both);
        }
    }

    @Test
    void anUnknownPathIs404AndAKnownPathWithAnotherMethodIs405WithAllow() {
        Http.Reply missing = http.exchange("GET", "/nothing/here", List.of(), null);
        assertEquals(404, missing.status());
        Http.Reply method = http.exchange("DELETE", "/healthz", List.of(), null);
        assertEquals(405, method.status());
        assertEquals("GET", method.header("Allow"));
    }
}
