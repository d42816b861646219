package dev.layercache.server.testing;

import dev.layercache.server.http.HttpPipeline;
import dev.layercache.server.http.HttpServer;
import dev.layercache.server.http.HttpSurface;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The node's HTTP pipeline ({@link HttpPipeline}: codec, timeouts, dispatcher, the handlers of an
 * {@link HttpSurface}) on Netty's {@link EmbeddedChannel}: requests go in as bytes, responses come
 * out as bytes, with no socket, no port and no event-loop thread.
 *
 * <p>One thread drives everything. The pools the dispatcher hands work to are one queue
 * ({@link #executor()}) that only the test's thread runs, when it {@linkplain Connection#pump pumps};
 * other threads (a bcrypt check, the disk writer of an upload) may add to the queue, never touch
 * the channel. So a test can also stop between two steps: write a body and look at the channel
 * (is reading paused?) before the handler has taken a byte.
 */
public final class EmbeddedHttp {
    private static final Duration PATIENCE = Duration.ofSeconds(30);

    private final HttpSurface surface;
    private final HttpServer.Options options;
    private final LinkedBlockingQueue<Runnable> tasks = new LinkedBlockingQueue<>();
    private final Executor executor = tasks::add;

    /** The pipeline of a plain-HTTP port with the configuration's default settings. */
    public EmbeddedHttp(HttpSurface surface) {
        this(surface, HttpServer.Options.builder().build());
    }

    /** The pipeline with other settings (header limit, timeouts); {@code sendfile} is not supported here. */
    public EmbeddedHttp(HttpSurface surface, HttpServer.Options options) {
        if (options.sendfile() || options.tls() != null) {
            throw new IllegalArgumentException("an embedded channel carries plain HTTP with copied file bodies");
        }
        this.surface = surface;
        this.options = options;
    }

    /** The surface served. */
    public HttpSurface surface() {
        return surface;
    }

    /** What the dispatcher runs its requests' and uploads' work on: a queue the test's thread runs. */
    public Executor executor() {
        return executor;
    }

    /** A new connection. */
    public Connection connect() {
        return new Connection();
    }

    /**
     * One request on a new connection ({@code Connection: close}), as {@link Http#exchange} sends
     * it on a socket: {@code headerLines} as given, a {@code Content-Length} for a body unless a
     * length or transfer coding is among them.
     */
    public Http.Reply exchange(String method, String path, List<String> headerLines, byte[] body) {
        boolean head = method.equals("HEAD");
        return parse(roundTrip(request(method, path, headerLines, body), head), head);
    }

    /**
     * The bytes of one request as {@link #exchange} writes them: {@code headerLines} as given, a
     * {@code Content-Length} for a non-null body unless a length or transfer coding is among
     * them, and {@code Connection: close}. {@code body} is written as given.
     */
    public static byte[] request(String method, String path, List<String> headerLines, byte[] body) {
        StringBuilder head = new StringBuilder();
        head.append(method).append(' ').append(path).append(" HTTP/1.1\r\n");
        head.append("Host: embedded\r\n");
        boolean hasLength = false;
        for (String h : headerLines) {
            head.append(h).append("\r\n");
            String lower = h.toLowerCase(Locale.ROOT);
            hasLength |= lower.startsWith("content-length:") || lower.startsWith("transfer-encoding:");
        }
        if (body != null && !hasLength) {
            head.append("Content-Length: ").append(body.length).append("\r\n");
        }
        head.append("Connection: close\r\n\r\n");
        ByteArrayOutputStream request = new ByteArrayOutputStream();
        request.writeBytes(head.toString().getBytes(StandardCharsets.ISO_8859_1));
        if (body != null) {
            request.writeBytes(body);
        }
        return request.toByteArray();
    }

    /**
     * Writes {@code request} (one or more requests, as raw bytes) on a new connection and returns
     * every byte written back, once the connection is closed or its last response is complete
     * and nothing is left to run.
     */
    public byte[] roundTrip(byte[] request, boolean head) {
        try (Connection c = connect()) {
            c.write(request);
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            c.pumpUntil(() -> {
                all.writeBytes(c.read());
                return !c.isOpen() || (complete(all.toByteArray(), head) && c.idle());
            });
            all.writeBytes(c.read());
            return all.toByteArray();
        }
    }

    /** Parses one response from raw bytes. */
    public static Http.Reply parse(byte[] response, boolean head) {
        try {
            return Http.read(new ByteArrayInputStream(response), head);
        } catch (IOException e) {
            throw new UncheckedIOException("not a response: " + new String(response, StandardCharsets.ISO_8859_1), e);
        }
    }

    /** True when {@code bytes} hold a whole response (headers, and the body they announce). */
    static boolean complete(byte[] bytes, boolean head) {
        String text = new String(bytes, StandardCharsets.ISO_8859_1);
        int end = text.indexOf("\r\n\r\n");
        if (end < 0) {
            return false;
        }
        String headers = text.substring(0, end).toLowerCase(Locale.ROOT);
        if (head) {
            return true;
        }
        int length = headers.indexOf("\ncontent-length:");
        if (length >= 0) {
            int eol = headers.indexOf('\n', length + 1);
            long declared = Long.parseLong(headers.substring(length + 16, eol < 0 ? headers.length() : eol).trim());
            return bytes.length - end - 4 >= declared;
        }
        if (headers.contains("\ntransfer-encoding: chunked")) {
            return text.endsWith("\r\n0\r\n\r\n");
        }
        return true;
    }

    /** One connection: an embedded channel with the pipeline installed and active. */
    public final class Connection implements AutoCloseable {
        private final EmbeddedChannel channel = new EmbeddedChannel(new HttpPipeline(options, surface, executor,
                executor));

        /** Hands {@code bytes} to the pipeline; the event loop's part runs now, the pools' part on {@link #pump}. */
        public void write(byte[] bytes) {
            if (channel.isOpen()) {
                channel.writeInbound(Unpooled.wrappedBuffer(bytes));
            }
        }

        /** Writes {@code bytes} as the client would, then runs everything they cause. */
        public void send(byte[] bytes) {
            write(bytes);
            pump();
        }

        /** Runs the pools' tasks and the event loop's until neither has any left. */
        public void pump() {
            pumpUntil(this::idle);
        }

        /**
         * Runs the pools' tasks and the event loop's until {@code done}; waits for tasks that other
         * threads add when there is nothing to run. Fails after 30 seconds.
         */
        public void pumpUntil(BooleanSupplier done) {
            long deadline = System.nanoTime() + PATIENCE.toNanos();
            while (true) {
                Runnable task;
                while ((task = tasks.poll()) != null) {
                    task.run();
                }
                channel.runPendingTasks();
                channel.runScheduledPendingTasks();
                if (done.getAsBoolean()) {
                    return;
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("the pipeline did not settle within " + PATIENCE);
                }
                try {
                    task = tasks.poll(5, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError(e);
                }
                if (task != null) {
                    task.run();
                }
            }
        }

        /** True when neither the pools nor the event loop have a task waiting. */
        public boolean idle() {
            return tasks.isEmpty() && !channel.hasPendingTasks();
        }

        /** The bytes written back since the last call. */
        public byte[] read() {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            Object msg;
            while ((msg = channel.readOutbound()) != null) {
                try {
                    if (msg instanceof ByteBuf buf) {
                        byte[] bytes = new byte[buf.readableBytes()];
                        buf.readBytes(bytes);
                        out.writeBytes(bytes);
                    } else {
                        throw new AssertionError("unexpected outbound message " + msg);
                    }
                } finally {
                    ReferenceCountUtil.release(msg);
                }
            }
            return out.toByteArray();
        }

        /** The bytes written back since the last {@link #read}, as text. */
        public String readText() {
            return new String(read(), StandardCharsets.ISO_8859_1);
        }

        /** Whether the connection is still open (the server closes it after {@code Connection: close}). */
        public boolean isOpen() {
            return channel.isOpen();
        }

        /** Whether the server is reading from this connection (false while it holds the client back). */
        public boolean reading() {
            return channel.config().isAutoRead();
        }

        /** The channel itself, for what the methods above do not say. */
        public EmbeddedChannel channel() {
            return channel;
        }

        /** The client goes away: the channel closes, and what the server still had to do is run. */
        @Override
        public void close() {
            if (channel.isOpen()) {
                channel.close();
            }
            pump();
            channel.finishAndReleaseAll();
        }
    }
}
