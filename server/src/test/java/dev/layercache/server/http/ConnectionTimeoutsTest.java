package dev.layercache.server.http;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The idle timer counts responses, not every message written: a {@code 100 Continue} ends no
 * request, so with a second request pipelined behind the first, the connection is not idle until
 * both are answered.
 */
class ConnectionTimeoutsTest {
    private static final long IDLE_MILLIS = 200;

    private static void passIdle(EmbeddedChannel ch) throws InterruptedException {
        Thread.sleep(IDLE_MILLIS * 2);
        ch.runScheduledPendingTasks();
        ch.runPendingTasks();
    }

    @Test
    void aContinueIsNotAResponse() throws Exception {
        EmbeddedChannel ch = new EmbeddedChannel(new ConnectionTimeouts(Duration.ofMillis(IDLE_MILLIS),
                Duration.ofSeconds(30), 0));
        ch.writeInbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.PUT, "/a"));
        ch.writeInbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/b")); // pipelined
        ch.writeOutbound(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE));
        ch.writeOutbound(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CREATED));
        passIdle(ch);
        assertTrue(ch.isActive(), "closed while the pipelined GET was still to be answered");

        ch.writeOutbound(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK));
        passIdle(ch);
        assertFalse(ch.isActive(), "idle once both are answered");
        Object m;
        while ((m = ch.readInbound()) != null) {
            ReferenceCountUtil.release(m);
        }
        while ((m = ch.readOutbound()) != null) {
            ReferenceCountUtil.release(m);
        }
    }
}
