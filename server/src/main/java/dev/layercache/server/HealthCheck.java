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
        String uri = "http://" + host + ":" + port + "/readyz";
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
     * timeout cannot be set once connected, so that the whole exchange has one deadline.
     */
    static int get(String host, int port, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), (int) Math.max(1, timeout.toMillis()));
            socket.setSoTimeout(remainingMillis(deadline));
            OutputStream out = socket.getOutputStream();
            out.write(("GET /readyz HTTP/1.1\r\nHost: " + host + ":" + port + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            StringBuilder line = new StringBuilder();
            while (line.length() < 200) {
                socket.setSoTimeout(remainingMillis(deadline));
                int c = in.read();
                if (c < 0 || c == '\n') {
                    break;
                }
                line.append((char) c);
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

    private static int remainingMillis(long deadline) throws SocketTimeoutException {
        long left = (deadline - System.nanoTime()) / 1_000_000;
        if (left <= 0) {
            throw new SocketTimeoutException("no answer within " + TIMEOUT.toMillis() + " ms");
        }
        return (int) left;
    }
}
