package dev.layercache.server.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A minimal raw HTTP/1.1 client over a socket, for tests that need what java.net.http refuses to
 * send (any header, a wrong Content-Length, a body cut short) or to read exactly what came back.
 */
public final class Http {
    private Http() {
    }

    /** A parsed response. Header names are lower case; repeated headers are joined with ", ". */
    public record Reply(int status, Map<String, String> headers, byte[] body) {
        public String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }

        public String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    /**
     * Sends one request and reads one response on a new connection. {@code headerLines} are
     * written as given ("Name: value"); Content-Length is added for a non-null body unless present.
     */
    public static Reply exchange(int port, String method, String path, List<String> headerLines, byte[] body)
            throws IOException {
        return exchangeFrom(null, port, method, path, headerLines, body);
    }

    /**
     * As {@link #exchange}, from the local address {@code from} (say 127.0.0.2: any address of
     * 127.0.0.0/8 reaches the node), so that a test can play several clients; null for any.
     */
    public static Reply exchangeFrom(String from, int port, String method, String path, List<String> headerLines,
                                     byte[] body) throws IOException {
        try (Socket s = from == null ? new Socket("127.0.0.1", port)
                : new Socket(java.net.InetAddress.getByName("127.0.0.1"), port, java.net.InetAddress.getByName(from), 0)) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            StringBuilder head = new StringBuilder();
            head.append(method).append(' ').append(path).append(" HTTP/1.1\r\n");
            head.append("Host: 127.0.0.1:").append(port).append("\r\n");
            boolean hasLength = false;
            for (String h : headerLines) {
                head.append(h).append("\r\n");
                hasLength |= h.toLowerCase(Locale.ROOT).startsWith("content-length:")
                        || h.toLowerCase(Locale.ROOT).startsWith("transfer-encoding:");
            }
            if (body != null && !hasLength) {
                head.append("Content-Length: ").append(body.length).append("\r\n");
            }
            head.append("Connection: close\r\n\r\n");
            out.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
            if (body != null) {
                out.write(body);
            }
            out.flush();
            return read(s.getInputStream(), method.equals("HEAD"));
        }
    }

    /** Reads one response from {@code in}. */
    public static Reply read(InputStream in, boolean head) throws IOException {
        String statusLine = line(in);
        if (statusLine == null) {
            throw new IOException("connection closed before a response");
        }
        int status = Integer.parseInt(statusLine.split(" ")[1]);
        Map<String, String> headers = new LinkedHashMap<>();
        String l;
        while ((l = line(in)) != null && !l.isEmpty()) {
            int colon = l.indexOf(':');
            String name = l.substring(0, colon).trim().toLowerCase(Locale.ROOT);
            String value = l.substring(colon + 1).trim();
            headers.merge(name, value, (a, b) -> a + ", " + b);
        }
        byte[] body = new byte[0];
        String length = headers.get("content-length");
        if (!head && length != null) {
            body = in.readNBytes(Integer.parseInt(length));
        } else if (!head && "chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            while (true) {
                int n = Integer.parseInt(line(in).trim(), 16);
                if (n == 0) {
                    line(in);
                    break;
                }
                all.write(in.readNBytes(n));
                line(in);
            }
            body = all.toByteArray();
        }
        return new Reply(status, headers, body);
    }

    private static String line(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) >= 0) {
            if (c == '\n') {
                break;
            }
            if (c != '\r') {
                b.write(c);
            }
        }
        if (c < 0 && b.size() == 0) {
            return null;
        }
        return b.toString(StandardCharsets.ISO_8859_1);
    }
}
