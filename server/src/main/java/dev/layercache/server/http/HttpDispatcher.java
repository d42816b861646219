package dev.layercache.server.http;

import dev.layercache.server.auth.Identity;
import dev.layercache.server.core.ErrorCode;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.ReferenceCountUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The per-connection request engine between Netty's HTTP codec and the handlers.
 *
 * <p>Threading: everything in this class runs on the connection's event loop, except the tasks
 * of an {@link Exchange}, which run in order on a pool: an upload's on the transfer pool, every
 * other request's on the request pool, so that a lookup never queues behind an upload's disk
 * writes. Those tasks hand their results back to the event loop, which alone touches connection
 * state. Nothing that can block runs on the event loop: the first task of every exchange checks
 * its credentials (a bcrypt check runs on the verification pool meanwhile, and the exchange's
 * tasks wait for it without holding a thread), and a {@link RequestListener} that
 * {@link RequestListener#mayBlock may block} is told on the request pool.
 *
 * <p>Bodies: an upload body streams chunk by chunk to its handler, with back-pressure (reading
 * pauses while too many bytes wait for the disk); a manifest body is collected up to the limit;
 * other bodies are dropped. Requests on one connection are answered strictly in order: while one
 * is being answered, reading pauses and pipelined requests wait in a backlog.
 *
 * <p>Why one file of nearly 500 lines: this is one connection's state machine (the current
 * {@link Exchange}, the backlog, draining, auto-read), and every transition of that state is here,
 * on the event loop, and nowhere else. What does not touch that state lives beside it: the
 * exchange's own fields ({@link Exchange}), writing a response ({@link ResponseWriter}), reading
 * the request target ({@link RequestTarget}); the pipeline tests drive it on an
 * {@code EmbeddedChannel} ({@code HttpPipelineTest}).
 */
final class HttpDispatcher extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(HttpDispatcher.class);

    /** Pause reading when this many received upload bytes wait for the disk; resume below the low mark. */
    private static final long HIGH_WATER = 8L << 20;
    private static final long LOW_WATER = 2L << 20;
    /** A GET or DELETE has no business sending more than this. */
    private static final long MAX_IGNORED_BODY = 1L << 20;
    /**
     * After answering a request before its body was read (an early error), read and drop up to
     * this much of the body before closing, so that clients that write the whole body before
     * reading still see the error rather than a connection reset.
     */
    private static final long MAX_DRAINED_BODY = 64L << 20;
    private static final long DRAIN_TIMEOUT_SECONDS = 10;

    private final HttpSurface surface;
    private final Executor requests;
    private final Executor transfers;
    private final ResponseWriter responses;

    private Exchange current;
    /**
     * The exchange whose tasks were added during this read and not started yet: they start
     * together when the read ends ({@link #channelReadComplete}), so that a small upload whose
     * headers and body arrive in one read costs one hand-off to the pool, not one per task.
     */
    private Exchange unstarted;
    private final ArrayDeque<Object> backlog = new ArrayDeque<>();
    private long drained = -1;
    private ChannelHandlerContext ctx;

    /**
     * @param requests  runs the tasks of requests without a streamed body (lookups, manifests...)
     * @param transfers runs the tasks of uploads, whose bodies go to disk as they arrive
     */
    HttpDispatcher(HttpSurface surface, Executor requests, Executor transfers, ResponseWriter.FileBodies fileBodies) {
        this.surface = surface;
        this.requests = requests;
        this.transfers = transfers;
        this.responses = new ResponseWriter(fileBodies);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (drained >= 0) {
            drain(msg);
            return;
        }
        if (current != null && current.bodyComplete) {
            backlog.add(msg);
            return;
        }
        if (msg instanceof HttpRequest request) {
            startExchange(request);
        }
        if (msg instanceof HttpContent content) {
            onContent(content);
        } else if (!(msg instanceof HttpRequest)) {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        startAdded();
        ctx.fireChannelReadComplete();
    }

    /** Tasks of {@code ex} were (or are about to be) added on its queue: start them when this read ends. */
    private void startLater(Exchange ex) {
        if (unstarted != ex) {
            startAdded();
            unstarted = ex;
        }
    }

    /** Starts the tasks added during this read (see {@link #unstarted}). */
    private void startAdded() {
        Exchange ex = unstarted;
        if (ex != null) {
            unstarted = null;
            ex.queue.start();
        }
    }

    private void startExchange(HttpRequest http) {
        surface.activeExchanges().incrementAndGet();
        DecoderResult decoded = http.decoderResult();
        QueryStringDecoder uri = new QueryStringDecoder(decoded.isSuccess() ? RequestTarget.decode(http.uri()) : "/");
        Route route = decoded.isSuccess() ? Route.of(uri.rawPath()) : new Route(Route.Resource.NOT_FOUND, null, null);
        Request request = new Request(http.method(), route, http.headers(), uri);
        request.remoteAddress(ctx.channel().remoteAddress());
        Binding binding = surface.routes().find(route.resource(), http.method());
        if (binding == null) {
            binding = surface.routes().knows(route.resource())
                    ? new Binding.Plain(r -> surface.errors()
                            .of(ErrorCode.UNSUPPORTED, "method " + r.method() + " not allowed here", null)
                            .header(HttpHeaderNames.ALLOW, surface.routes().allowed(route.resource())))
                    : new Binding.Plain(r -> surface.errors().of(ErrorCode.NOT_FOUND, "no such endpoint", null));
        }
        Exchange ex = new Exchange(request, binding, HttpUtil.isKeepAlive(http) && decoded.isSuccess(),
                binding instanceof Binding.Streaming ? transfers : requests);
        ex.http10 = http.protocolVersion().equals(io.netty.handler.codec.http.HttpVersion.HTTP_1_0);
        current = ex;

        if (!decoded.isSuccess()) {
            ex.drainable = false;
            respondEarly(ex, malformed(decoded.cause()));
            return;
        }
        try {
            // Decoded once here: a malformed percent-escape in the query is the client's error, not a 500.
            uri.parameters();
        } catch (IllegalArgumentException malformedQuery) {
            respondEarly(ex, surface.errors().of(ErrorCode.BAD_REQUEST, "malformed query string", null));
            return;
        }
        if (binding instanceof Binding.Plain && surface.fastPath() != null) {
            // Admitted, counted and answered here on the event loop when memory has the answer
            // (see FastPath); sent when the request is complete, as the pool's answer would be.
            ex.fast = surface.fastPath().answer(request, clientAddress());
            if (ex.fast != null) {
                return;
            }
        }
        admit(ex);
        if (binding instanceof Binding.Buffered b) {
            long declared = HttpUtil.getContentLength(http, -1L);
            if (declared > b.limit()) {
                respondEarly(ex, tooLarge(b.limit()));
                return;
            }
            ex.buffered = ctx.alloc().compositeBuffer(64);
        } else if (binding instanceof Binding.Streaming s) {
            ex.queue.add(() -> {
                if (ex.failure != null) {
                    return; // refused: answered already, or by the finish task
                }
                try {
                    ex.stream = s.endpoint().open(request);
                } catch (Throwable t) {
                    ex.failure = t;
                    ctx.executor().execute(() -> failedWhileReceiving(ex, t));
                }
            });
        }
    }

    /**
     * Queues the check of the request's credentials ahead of every other task of the exchange.
     * Credentials seen before are answered at once on the pool thread; new ones take a bcrypt
     * check on the verification pool, and the exchange's tasks wait for its answer. A refusal
     * (401, 403, 429) is answered at once when the body is still coming (and the connection then
     * closes after the body is drained), else by the finish task.
     */
    private InetAddress clientAddress() {
        return ctx.channel().remoteAddress() instanceof InetSocketAddress a ? a.getAddress() : null;
    }

    private void admit(Exchange ex) {
        InetAddress client = clientAddress();
        startLater(ex);
        ex.queue.addAwaiting(() -> {
            CompletableFuture<Identity> admitted;
            try {
                admitted = surface.access().admit(ex.request, client);
            } catch (RuntimeException e) {
                admitted = CompletableFuture.failedFuture(e); // never on to the handler unchecked
            }
            return admitted.handle((who, failure) -> admitted(ex, who, failure));
        });
    }

    /** On the pool (or the verification pool): the answer of {@link #admit}. */
    private Void admitted(Exchange ex, Identity who, Throwable failure) {
        if (failure == null) {
            ex.request.identity(who);
        } else {
            Throwable refused = failure instanceof CompletionException && failure.getCause() != null
                    ? failure.getCause() : failure;
            ex.failure = refused;
            ctx.executor().execute(() -> failedWhileReceiving(ex, refused));
        }
        return null;
    }

    private void onContent(HttpContent content) {
        Exchange ex = current;
        boolean last = content instanceof LastHttpContent;
        try {
            if (ex == null || ex.responded || ex.abandoned) {
                return;
            }
            if (content.decoderResult().isFailure()) {
                // The codec could not parse the body (a chunk size that is no hex number, say): it
                // hands over an empty last chunk marked failed and ignores the rest of the
                // connection. That is not the end of the body.
                abandonBody(ex, surface.errors().of(ErrorCode.BAD_REQUEST, "malformed request body: "
                        + "the chunked transfer coding cannot be parsed", null), true);
                return;
            }
            ByteBuf bytes = content.content();
            int n = bytes.readableBytes();
            ex.bodyBytes += n;
            if (n > 0) {
                receive(ex, bytes, n);
                if (ex.responded) {
                    return;
                }
            }
            if (last) {
                ex.bodyComplete = true;
                if (ex.fast != null) {
                    // Usually written at once, and the next request taken: reading pauses (two
                    // epoll_ctl calls) only when the answer could not be written yet. Pipelined
                    // requests read meanwhile wait in the backlog, in order.
                    Response fast = ex.fast;
                    ex.fast = null;
                    send(ex, fast);
                    if (current == ex) {
                        ctx.channel().config().setAutoRead(false);
                    }
                } else {
                    // Answer in order: read nothing more from this connection until this response is out.
                    ctx.channel().config().setAutoRead(false);
                    ex.queue.add(() -> finish(ex));
                    startLater(ex);
                }
            }
        } finally {
            content.release();
        }
    }

    private void receive(Exchange ex, ByteBuf bytes, int n) {
        if (ex.binding instanceof Binding.Streaming) {
            ByteBuf chunk = bytes.retainedSlice();
            if (ex.pendingBytes.addAndGet(n) > HIGH_WATER) {
                ctx.channel().config().setAutoRead(false);
            }
            ex.queue.add(() -> write(ex, chunk, n));
            startLater(ex);
        } else if (ex.binding instanceof Binding.Buffered b) {
            if (ex.bodyBytes > b.limit()) {
                respondEarly(ex, tooLarge(b.limit()));
                return;
            }
            ex.buffered.addComponent(true, bytes.retain());
        } else if (ex.bodyBytes > MAX_IGNORED_BODY) {
            respondEarly(ex, surface.errors().of(ErrorCode.UNSUPPORTED, "this request takes no body", null));
        }
    }

    /** On the blocking pool: hands one upload chunk to the handler. */
    private void write(Exchange ex, ByteBuf chunk, int n) {
        try {
            if (ex.failure == null && !ex.streamClosed) {
                ex.stream.write(chunk);
            }
        } catch (Throwable t) {
            ex.failure = t;
            ex.closeStream(true);
            ctx.executor().execute(() -> failedWhileReceiving(ex, t));
        } finally {
            chunk.release();
            if (ex.pendingBytes.addAndGet(-n) < LOW_WATER && !ex.bodyComplete) {
                ctx.executor().execute(() -> {
                    if (current == ex && !ex.bodyComplete && ctx.channel().isActive()) {
                        ctx.channel().config().setAutoRead(true);
                    }
                });
            }
        }
    }

    /** On the blocking pool: the body is complete; run the handler and send its response. */
    private void finish(Exchange ex) {
        Response response;
        try {
            if (ex.failure != null) {
                response = surface.errors().toResponse(ex.failure, ex.request);
            } else if (ex.binding instanceof Binding.Streaming) {
                ex.streamClosed = true;
                response = ex.stream.finish();
            } else if (ex.binding instanceof Binding.Buffered b) {
                ex.request.body(ex.buffered);
                response = b.endpoint().handle(ex.request);
            } else {
                response = ((Binding.Plain) ex.binding).endpoint().handle(ex.request);
            }
        } catch (Throwable t) {
            response = surface.errors().toResponse(t, ex.request);
        } finally {
            if (ex.buffered != null) {
                ex.buffered.release();
                ex.buffered = null;
            }
        }
        queueResponse(ex, response);
    }

    private void queueResponse(Exchange ex, Response response) {
        if (ctx.executor().inEventLoop()) {
            send(ex, response);
        } else {
            ctx.executor().execute(() -> send(ex, response));
        }
    }

    /**
     * A streamed request failed before its body was read (bad upload id, disk full...): answer now
     * and close the connection rather than read a body nobody will store.
     */
    private void failedWhileReceiving(Exchange ex, Throwable t) {
        if (current != ex || ex.responded || ex.bodyComplete) {
            return; // the finish task will answer with this failure
        }
        respondEarly(ex, surface.errors().toResponse(t, ex.request));
    }

    /**
     * The body cannot be read to its end (malformed, or stalled past the read timeout): undo what
     * the request wrote, then answer and close. The answer waits for the roll-back, so that a
     * client asking where its upload stands right after is told the offset of before this request.
     */
    private void abandonBody(Exchange ex, Response response, boolean drainable) {
        ex.abandoned = true;
        ex.drainable = drainable;
        ctx.channel().config().setAutoRead(false);
        ex.releaseBuffered();
        Response answer = response.closeConnection();
        ex.queue.submit(() -> {
            ex.closeStream(true);
            queueResponse(ex, answer);
        });
    }

    /**
     * {@link ConnectionTimeouts} saw a request body stall or trickle: answer 408 rather than drop
     * the connection without a word (the client would not know whether to retry or where to resume).
     * A trickling client may still be sending: what it sends is read and dropped until the close
     * ({@link #startDraining}), so that the answer is not lost to a reset.
     */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (!(evt instanceof ConnectionTimeouts.BodyTimedOut timedOut)) {
            ctx.fireUserEventTriggered(evt);
            return;
        }
        Exchange ex = current;
        if (ex == null || ex.responded || ex.bodyComplete) {
            // The body of an answered request, or a pipelined one: nobody waits for an answer.
            ctx.close();
        } else if (!ex.abandoned) {
            abandonBody(ex, surface.errors().of(ErrorCode.REQUEST_TIMEOUT, timedOut.reason(), null), true);
        }
    }

    private void respondEarly(Exchange ex, Response response) {
        ex.failure = ex.failure == null ? new IllegalStateException("answered early") : ex.failure;
        if (ex.fast != null) {
            ex.fast.discard();
            ex.fast = null;
        }
        // A manifest body refused part way (over the limit) is not handled: nothing else frees it.
        ex.releaseBuffered();
        if (ex.binding instanceof Binding.Streaming) {
            ex.queue.submit(() -> ex.closeStream(true));
        }
        send(ex, response.closeConnection());
    }

    /** On the event loop: writes the response; the last write decides what happens to the connection. */
    private void send(Exchange ex, Response response) {
        if (ex.responded || !ctx.channel().isActive()) {
            response.discard();
            return;
        }
        ex.responded = true;
        boolean close = !ex.keepAlive || response.closesConnection() || !ex.bodyComplete;
        ChannelFuture done = responses.write(ctx, ex, response, close);
        if (done == null) {
            ctx.close(); // the file to send could not be read
            return;
        }
        done.addListener((ChannelFutureListener) f -> {
            completed(ex);
            if (f.isSuccess() && !ex.bodyComplete && ex.drainable) {
                startDraining();
            } else if (close || !f.isSuccess()) {
                f.channel().close();
            } else {
                next();
            }
        });
    }

    /**
     * The response went out before the request body: drop the rest of the body, then close. On a
     * plain connection the response is ended with a FIN at once, so the client reads it to its end
     * without waiting for the drain; the bytes still arriving are read, never left unread at the
     * close, where the kernel would answer them with a reset that can destroy the response before
     * the client reads it (nginx's lingering close).
     */
    private void startDraining() {
        drained = 0;
        current = null;
        if (ctx.pipeline().get("tls") == null && ctx.channel() instanceof io.netty.channel.socket.DuplexChannel duplex) {
            duplex.shutdownOutput();
        }
        ctx.channel().config().setAutoRead(true);
        ctx.executor().schedule(() -> {
            ctx.close();
        }, DRAIN_TIMEOUT_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
    }

    private void drain(Object msg) {
        if (msg instanceof HttpContent c) {
            drained += c.content().readableBytes();
        }
        boolean last = msg instanceof LastHttpContent;
        ReferenceCountUtil.release(msg);
        if (last || drained > MAX_DRAINED_BODY) {
            ctx.close();
        }
    }

    private void completed(Exchange ex) {
        surface.activeExchanges().decrementAndGet();
        long nanos = System.nanoTime() - ex.startNanos;
        RequestListener listener = surface.listener();
        Runnable tell = () -> {
            try {
                listener.onComplete(ex.request, ex.status, ex.bodyBytes, ex.bytesSent, ex.declaredLength, nanos);
            } catch (RuntimeException e) {
                log.warn("request listener failed", e);
            }
        };
        if (listener.mayBlock(ex.request, ex.status)) {
            requests.execute(tell); // say, a tag's 404 asking the tombstones (in a cluster, the bucket)
        } else {
            tell.run();
        }
    }

    /** On the event loop, after a response: take the next pipelined request, or resume reading. */
    private void next() {
        current = null;
        while (!backlog.isEmpty() && (current == null || !current.bodyComplete)) {
            channelRead(ctx, backlog.poll());
        }
        startAdded(); // requests taken from the backlog: not in a read, so no read completes for them
        if (current == null || !current.bodyComplete) {
            ctx.channel().config().setAutoRead(true);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        startAdded();
        Exchange ex = current;
        if (ex != null && !ex.responded) {
            ex.responded = true;
            surface.activeExchanges().decrementAndGet();
            if (ex.binding instanceof Binding.Streaming) {
                // The client went away mid-request: undo whatever this request had written.
                ex.queue.submit(() -> ex.closeStream(true));
            }
            if (!ex.bodyComplete) {
                ex.releaseBuffered();
            }
        }
        current = null;
        backlog.forEach(ReferenceCountUtil::release);
        backlog.clear();
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("connection error from {}: {}", ctx.channel().remoteAddress(), cause.toString());
        ctx.close();
    }

    private Response malformed(Throwable cause) {
        if (cause instanceof TooLongHttpLineException) {
            return surface.errors().of(ErrorCode.URI_TOO_LONG, "request line too long", null);
        }
        if (cause instanceof TooLongHttpHeaderException || cause instanceof TooLongFrameException) {
            return surface.errors().of(ErrorCode.HEADERS_TOO_LARGE, "request headers too large", null);
        }
        return surface.errors().of(ErrorCode.BAD_REQUEST, "malformed HTTP request", null);
    }

    private Response tooLarge(int limit) {
        return surface.errors().of(ErrorCode.MANIFEST_TOO_LARGE, "manifest exceeds the limit of " + limit + " bytes",
                null);
    }
}
