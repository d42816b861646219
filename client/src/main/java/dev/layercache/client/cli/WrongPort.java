package dev.layercache.client.cli;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Telling a wrong port from a broken server. A layercache node has two ports, HTTP/1.1 (OCI and
 * administration, 5000 by default) and gRPC (HTTP/2, 9092 by default); pointing one option at the
 * other port fails deep in a protocol stack ("http2 exception", frame bytes, {@code : null}).
 * These checks turn that into "is this the gRPC port?" and a cause people can read.
 */
final class WrongPort {
    private WrongPort() {
    }

    /** The hint added to a gRPC failure whose text shows that an HTTP/1.x server answered. */
    static final String HTTP_PORT_HINT = " (is this the HTTP port? --target wants the node's gRPC port"
            + " (--grpc-port, 9092 by default); the HTTP port goes to --http)";

    /**
     * True when a gRPC failure's message shows an HTTP/1.x peer: grpc-java reports the bytes of an
     * HTTP/1.1 response to its HTTP/2 preface as an "http2 exception" or a bad first frame.
     */
    static boolean looksLikeHttp1Peer(String grpcMessage) {
        String m = grpcMessage.toLowerCase(Locale.ROOT);
        return m.contains("http2 exception") || m.contains("first received frame was not settings")
                || m.contains("http/1.") || m.contains("unexpected http/1");
    }

    /**
     * Asks {@code base}'s port a plain HTTP/1.1 question and says whether the answer is an HTTP/2
     * frame (a gRPC server's SETTINGS frame) rather than an HTTP/1.x status line.
     */
    static boolean speaksHttp2(URI base) {
        if (!"http".equalsIgnoreCase(base.getScheme())) {
            return false;
        }
        int port = base.getPort() < 0 ? 80 : base.getPort();
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(base.getHost(), port), 3000);
            s.setSoTimeout(3000);
            s.getOutputStream().write(("GET / HTTP/1.1\r\nHost: " + base.getHost() + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            InputStream in = s.getInputStream();
            byte[] head = in.readNBytes(9);
            if (head.length < 9 || new String(head, 0, 5, StandardCharsets.US_ASCII).equals("HTTP/")) {
                return false;
            }
            // An HTTP/2 frame header: 24-bit length, type (4 = SETTINGS, 7 = GOAWAY), flags, stream 0.
            return (head[3] == 4 || head[3] == 7) && head[5] == 0 && head[6] == 0 && head[7] == 0 && head[8] == 0;
        } catch (IOException e) {
            return false;
        }
    }

    /** The first message in a failure's causes ("connection refused"), never {@code null}. */
    static String cause(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = t.getMessage();
            if (m != null && !m.isBlank()) {
                return m.startsWith("Connection refused") ? "connection refused" + m.substring(18) : m;
            }
        }
        // java.net.http reports a refused connection as ConnectException with no message at all.
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.net.ConnectException) {
                return "connection refused (nothing listens there)";
            }
        }
        return e.getClass().getSimpleName();
    }
}
