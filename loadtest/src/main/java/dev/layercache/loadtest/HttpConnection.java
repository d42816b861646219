package dev.layercache.loadtest;

import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * One keep-alive HTTP/1.1 connection with a minimal client: the load generator must cost little per
 * request and per byte, so that the server's cost shows on a machine where both share the cores.
 * Request bodies go out from memory or straight from a file ({@code sendfile}); response bodies are
 * discarded into one reused direct buffer, kept (small ones), or hashed, and may be chunked.
 *
 * <p>A blocking {@link SocketChannel} ignores socket timeouts, so a watchdog thread closes any
 * connection that has made no progress for {@link #STALL_NANOS}: a stuck server fails the
 * benchmark instead of hanging it.
 */
final class HttpConnection implements Closeable {
    static final long STALL_NANOS = TimeUnit.SECONDS.toNanos(60);
    private static final Set<HttpConnection> OPEN = ConcurrentHashMap.newKeySet();

    static {
        Thread watchdog = new Thread(() -> {
            while (true) {
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException e) {
                    return;
                }
                long now = System.nanoTime();
                for (HttpConnection c : OPEN) {
                    if (c.busy && now - c.progress > STALL_NANOS) {
                        c.close();
                    }
                }
            }
        }, "http-connection-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
    }

    /** What came back: status, headers (names in lower case) and the body, when it was kept. */
    record Response(int status, Map<String, String> headers, long bodyLength, byte[] body) {
        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    /** What to do with a response body. */
    enum Body {
        /** Count the bytes and drop them. */
        DISCARD,
        /** Keep them (small bodies only: JSON, test checks). */
        KEEP
    }

    private final URI base;
    private final SocketChannel channel;
    private final ByteBuffer in;
    private final ByteBuffer sink;
    private boolean open = true;
    private volatile boolean busy;
    private volatile long progress;

    /** Connects to {@code base}'s host and port; {@code sinkBytes} is the buffer big bodies are read into. */
    HttpConnection(URI base, int sinkBytes) throws IOException {
        this.base = base;
        this.channel = SocketChannel.open();
        channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
        channel.socket().connect(new InetSocketAddress(base.getHost(), base.getPort()), 5000);
        this.in = ByteBuffer.allocate(16 << 10).flip();
        this.sink = ByteBuffer.allocateDirect(sinkBytes);
        OPEN.add(this);
    }

    HttpConnection(URI base) throws IOException {
        this(base, 64 << 10);
    }

    /** False once the server asked to close or an exchange failed: open a new one. */
    boolean isOpen() {
        return open && channel.isOpen();
    }

    /** A request without a body. */
    Response send(String method, String target, Map<String, String> headers, Body body) throws IOException {
        return exchange(method, target, headers, null, null, 0, 0, body, null);
    }

    /** A request with a body from memory. */
    Response send(String method, String target, Map<String, String> headers, byte[] content, Body body)
            throws IOException {
        return exchange(method, target, headers, content, null, 0, content.length, body, null);
    }

    /** A request whose body is {@code length} bytes of {@code file} from {@code position}, sent with sendfile. */
    Response send(String method, String target, Map<String, String> headers, FileChannel file, long position,
                  long length, Body body) throws IOException {
        return exchange(method, target, headers, null, file, position, length, body, null);
    }

    /**
     * A request already encoded (request line, headers, blank line; no body), sent as it is: the
     * request-rate workloads build it once per connection. Returns the status; the body is dropped.
     */
    int sendPrepared(byte[] request, boolean head) throws IOException {
        if (!isOpen()) {
            throw new IOException("connection closed");
        }
        busy = true;
        progress = System.nanoTime();
        try {
            writeFully(ByteBuffer.wrap(request));
            return readResponse(head, Body.DISCARD, null).status();
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        } finally {
            busy = false;
        }
    }

    /** A GET whose body is fed to {@code sha} as it arrives (for checks; the benchmark itself never hashes). */
    Response get(String target, MessageDigest sha) throws IOException {
        return exchange("GET", target, Map.of(), null, null, 0, 0, Body.DISCARD, sha);
    }

    private Response exchange(String method, String target, Map<String, String> headers, byte[] content,
                              FileChannel file, long position, long length, Body body, MessageDigest sha)
            throws IOException {
        if (!isOpen()) {
            throw new IOException("connection closed");
        }
        busy = true;
        progress = System.nanoTime();
        try {
            StringBuilder head = new StringBuilder(256).append(method).append(' ').append(target)
                    .append(" HTTP/1.1\r\nHost: ").append(base.getAuthority()).append("\r\n");
            headers.forEach((k, v) -> head.append(k).append(": ").append(v).append("\r\n"));
            if (content != null || file != null || !method.equals("GET") && !method.equals("HEAD")) {
                head.append("Content-Length: ").append(length).append("\r\n");
            }
            head.append("\r\n");
            ByteBuffer h = ByteBuffer.wrap(head.toString().getBytes(StandardCharsets.ISO_8859_1));
            if (content != null && content.length <= 64 << 10) {
                // One write, one segment: small bodies go out with their headers.
                ByteBuffer both = ByteBuffer.allocate(h.remaining() + content.length).put(h).put(content).flip();
                writeFully(both);
            } else {
                writeFully(h);
                if (content != null) {
                    writeFully(ByteBuffer.wrap(content));
                } else if (file != null) {
                    for (long sent = 0; sent < length; ) {
                        long n = file.transferTo(position + sent, length - sent, channel);
                        if (n <= 0 && !channel.isOpen()) {
                            throw new IOException("connection closed while sending the body");
                        }
                        sent += n;
                        progress = System.nanoTime();
                    }
                }
            }
            return readResponse(method.equals("HEAD"), body, sha);
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        } finally {
            busy = false;
        }
    }

    private void writeFully(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            channel.write(b);
            progress = System.nanoTime();
        }
    }

    private Response readResponse(boolean head, Body body, MessageDigest sha) throws IOException {
        String statusLine = line();
        if (statusLine.length() < 12 || !statusLine.startsWith("HTTP/1.")) {
            throw new IOException("not an HTTP response: " + statusLine);
        }
        int status = Integer.parseInt(statusLine.substring(9, 12));
        Map<String, String> headers = new LinkedHashMap<>();
        for (String header = line(); !header.isEmpty(); header = line()) {
            int colon = header.indexOf(':');
            if (colon > 0) {
                headers.merge(header.substring(0, colon).trim().toLowerCase(Locale.ROOT),
                        header.substring(colon + 1).trim(), (a, b) -> a + "," + b);
            }
        }
        if ("close".equalsIgnoreCase(headers.get("connection"))) {
            open = false;
        }
        if (head || status == 204 || status == 304 || status / 100 == 1) {
            String cl = headers.get("content-length");
            return new Response(status, headers, cl == null ? 0 : Long.parseLong(cl), null);
        }
        java.io.ByteArrayOutputStream kept = body == Body.KEEP ? new java.io.ByteArrayOutputStream() : null;
        long total;
        if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            total = 0;
            while (true) {
                String size = line();
                int semicolon = size.indexOf(';');
                long n = Long.parseLong((semicolon < 0 ? size : size.substring(0, semicolon)).trim(), 16);
                if (n == 0) {
                    while (!line().isEmpty()) {
                        // trailers, ignored
                    }
                    break;
                }
                body(n, kept, sha);
                total += n;
                line();
            }
        } else if (headers.containsKey("content-length")) {
            total = Long.parseLong(headers.get("content-length"));
            body(total, kept, sha);
        } else {
            throw new IOException("a response body without length or chunking is not supported");
        }
        return new Response(status, headers, total, kept == null ? null : kept.toByteArray());
    }

    /** Consumes {@code n} body bytes: what is buffered first, then straight from the socket. */
    private void body(long n, java.io.ByteArrayOutputStream kept, MessageDigest sha) throws IOException {
        long left = n;
        while (left > 0 && in.hasRemaining()) {
            int take = (int) Math.min(left, in.remaining());
            if (kept != null) {
                kept.write(in.array(), in.arrayOffset() + in.position(), take);
            }
            if (sha != null) {
                sha.update(in.array(), in.arrayOffset() + in.position(), take);
            }
            in.position(in.position() + take);
            left -= take;
        }
        if (left > 0 && (kept != null || left < in.capacity())) {
            // Small remainders go through the header buffer, so what follows stays buffered.
            while (left > 0) {
                fill();
                int take = (int) Math.min(left, in.remaining());
                if (kept != null) {
                    kept.write(in.array(), in.arrayOffset() + in.position(), take);
                }
                if (sha != null) {
                    sha.update(in.array(), in.arrayOffset() + in.position(), take);
                }
                in.position(in.position() + take);
                left -= take;
            }
            return;
        }
        while (left > 0) {
            sink.clear();
            if (left < sink.capacity()) {
                sink.limit((int) left);
            }
            int got = channel.read(sink);
            if (got < 0) {
                throw new IOException("connection closed in a body, " + left + " bytes missing");
            }
            if (sha != null) {
                sink.flip();
                sha.update(sink);
            }
            progress = System.nanoTime();
            left -= got;
        }
    }

    private void fill() throws IOException {
        in.compact();
        try {
            int got = channel.read(in);
            if (got < 0) {
                throw new IOException("connection closed by the server");
            }
            progress = System.nanoTime();
        } finally {
            in.flip();
        }
    }

    private String line() throws IOException {
        StringBuilder sb = new StringBuilder(64);
        while (true) {
            if (!in.hasRemaining()) {
                fill();
            }
            byte c = in.get();
            if (c == '\n') {
                return sb.toString();
            }
            if (c != '\r') {
                sb.append((char) (c & 0xff));
            }
            if (sb.length() > 64 << 10) {
                throw new IOException("header line too long");
            }
        }
    }

    /** The path and query of a {@code Location} header, which may be absolute or relative. */
    static String pathOf(String location) {
        if (location == null) {
            throw new IllegalStateException("no Location header");
        }
        if (location.startsWith("/")) {
            return location;
        }
        URI uri = URI.create(location);
        return uri.getRawQuery() == null ? uri.getRawPath() : uri.getRawPath() + "?" + uri.getRawQuery();
    }

    @Override
    public void close() {
        open = false;
        OPEN.remove(this);
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
