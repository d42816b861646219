package dev.layercache.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

/**
 * The container image's {@code HEALTHCHECK}: {@code java -cp layercache-server.jar
 * dev.layercache.server.HealthCheck [PORT]} asks this node's {@code GET /readyz} and exits 0 when
 * it answers 200, 1 otherwise (503 while stopping or while the cluster's bucket is unreachable, a
 * refused connection, no answer within {@link #TIMEOUT}).
 *
 * <p>It exists because the image's base is any JRE image (see {@code deploy/Dockerfile}): the
 * Debian JRE base has no curl or wget, and a distro's tools should not decide whether the health
 * check works. Only the JDK is used, and nothing of the server is loaded, so a probe costs one
 * short JVM start.
 *
 * <p>The port is the first argument if there is one, else {@code LAYERCACHE_HTTP_PORT} (the image
 * sets it, and Docker runs the check with the container's environment), else 5000. The host is
 * 127.0.0.1, or {@code LAYERCACHE_BIND_ADDRESS} when that names one address rather than all of
 * them (a node bound to one interface does not answer on loopback).
 */
public final class HealthCheck {
    /** How long one check may take, connecting and reading together. */
    static final Duration TIMEOUT = Duration.ofSeconds(2);
    static final int DEFAULT_PORT = 5000;

    private HealthCheck() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.getenv(), System.out));
    }

    /** The exit code for {@code args} and {@code env}: 0 ready, 1 not; one line on {@code out} says why. */
    static int run(String[] args, Map<String, String> env, PrintStream out) {
        String portText = args.length > 0 ? args[0] : env.getOrDefault("LAYERCACHE_HTTP_PORT", "").trim();
        int port = DEFAULT_PORT;
        if (!portText.isEmpty()) {
            try {
                port = Integer.parseInt(portText);
            } catch (NumberFormatException e) {
                port = -1;
            }
            if (port < 1 || port > 65535) {
                out.println("not ready: no HTTP port to check (got '" + portText + "')");
                return 1;
            }
        }
        String host = host(env.getOrDefault("LAYERCACHE_BIND_ADDRESS", "").trim());
        String uri = host + ":" + port + "/readyz";
        int status;
        try {
            status = get(host, port, TIMEOUT);
        } catch (IOException | RuntimeException e) {
            out.println("not ready: " + uri + ": " + e);
            return 1;
        }
        if (status == 200) {
            out.println("ready: " + uri + " answered 200");
            return 0;
        }
        out.println("not ready: " + uri + " answered " + status);
        return 1;
    }

    /** Where the node listens for this container: loopback unless it is bound to one address. */
    static String host(String bindAddress) {
        switch (bindAddress) {
            case "", "0.0.0.0", "::", "[::]", "::0", "0:0:0:0:0:0:0:0":
                return "127.0.0.1";
            default:
                return bindAddress.contains(":") && !bindAddress.startsWith("[") ? "[" + bindAddress + "]" : bindAddress;
        }
    }

    /**
     * The status of {@code GET /readyz} on {@code host:port}, within {@code timeout} for connecting
     * and reading together. A plain socket rather than {@code HttpURLConnection}, whose read
     * timeout cannot be set once connected, so that the whole exchange has one deadline. A port
     * that closes a plain request without a word speaks TLS ({@code tls-cert}): the request is
     * made again over TLS, without checking the certificate (this is the node's own loopback, and
     * its certificate need not name 127.0.0.1).
     */
    static int get(String host, int port, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            return ask(host, port, deadline, false);
        } catch (SilentPort e) {
            return ask(host, port, deadline, true);
        }
    }

    /** The port closed the connection without answering anything. */
    private static final class SilentPort extends IOException {
        private static final long serialVersionUID = 1L;

        SilentPort() {
            super("the connection closed without an answer");
        }
    }

    private static int ask(String host, int port, long deadline, boolean tls) throws IOException {
        try (Socket plain = new Socket()) {
            plain.connect(new InetSocketAddress(host, port), Math.max(1, remainingMillis(deadline)));
            plain.setSoTimeout(remainingMillis(deadline));
            Socket socket = tls ? tls(plain, host, port) : plain;
            OutputStream out = socket.getOutputStream();
            out.write(("GET /readyz HTTP/1.1\r\nHost: " + host + ":" + port + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            StringBuilder line = new StringBuilder();
            int c = 0;
            while (line.length() < 200) {
                socket.setSoTimeout(remainingMillis(deadline));
                try {
                    c = in.read();
                } catch (java.net.SocketException reset) {
                    c = -1;
                    if (line.length() > 0 || tls) {
                        throw reset;
                    }
                }
                if (c < 0 || c == '\n') {
                    break;
                }
                line.append((char) c);
            }
            if (c < 0 && line.length() == 0 && !tls) {
                throw new SilentPort();
            }
            // HTTP/1.1 200 OK
            String[] parts = line.toString().trim().split(" ", 3);
            if (parts.length < 2 || !parts[0].startsWith("HTTP/")) {
                throw new IOException("not an HTTP answer: '" + line.toString().trim() + "'");
            }
            try {
                return Integer.parseInt(parts[1]);
            } catch (NumberFormatException e) {
                throw new IOException("not an HTTP status line: '" + line.toString().trim() + "'", e);
            }
        }
    }

    private static Socket tls(Socket plain, String host, int port) throws IOException {
        javax.net.ssl.TrustManager trustAny = new javax.net.ssl.X509TrustManager() {
            @Override
            public void checkClientTrusted(java.security.cert.X509Certificate[] chain, String authType) {
            }

            @Override
            public void checkServerTrusted(java.security.cert.X509Certificate[] chain, String authType) {
            }

            @Override
            public java.security.cert.X509Certificate[] getAcceptedIssuers() {
                return new java.security.cert.X509Certificate[0];
            }
        };
        try {
            javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLS");
            context.init(null, new javax.net.ssl.TrustManager[] {trustAny}, null);
            javax.net.ssl.SSLSocket socket = (javax.net.ssl.SSLSocket) context.getSocketFactory()
                    .createSocket(plain, host, port, true);
            socket.startHandshake();
            return socket;
        } catch (java.security.GeneralSecurityException e) {
            throw new IOException("no TLS in this JVM: " + e, e);
        }
    }

    private static int remainingMillis(long deadline) throws SocketTimeoutException {
        long left = (deadline - System.nanoTime()) / 1_000_000;
        if (left <= 0) {
            throw new SocketTimeoutException("no answer within " + TIMEOUT.toMillis() + " ms");
        }
        return (int) left;
    }
}
