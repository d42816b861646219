package dev.layercache.server.mirror;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A forwarding proxy a test puts between a node and a real registry, to make the upstream
 * misbehave on demand: answer 429 or 503 to everything, alter or swap a blob's bytes, declare a
 * wrong {@code Content-Length}, stall a body half-way, or trickle it. It counts what it was asked
 * ({@link #requests}), so a test sees how often the node went upstream.
 *
 * <p>Each request is first forwarded whole to the registry (answers here are a few MiB at most);
 * the current {@link Behaviour} then decides what the node gets. The JDK's server runs each
 * exchange on a thread of its own, so one stalled answer holds up no other.
 */
final class HostileUpstream implements AutoCloseable {
    /** What the proxy does with one request. */
    interface Behaviour {
        void answer(Exchange exchange) throws IOException, InterruptedException;
    }

    /** Forwards everything as the registry answered it. */
    static final Behaviour HONEST = Exchange::relay;

    /** Headers of the registry's answer not copied: the JDK server sets its own framing. */
    private static final Set<String> HOP = Set.of("content-length", "transfer-encoding", "connection", "date",
            "keep-alive");

    /**
     * A real registry ({@code ReferenceRegistry}) behind a proxy, both started on first use: a
     * mirroring node's configuration needs the proxy's address when the node starts, which is
     * before any of the test class's own {@code @BeforeAll} methods run.
     */
    static final class Lazy implements AutoCloseable {
        private final String folderPrefix;
        private dev.layercache.server.testing.ReferenceRegistry registry;
        private HostileUpstream proxy;

        Lazy(String folderPrefix) {
            this.folderPrefix = folderPrefix;
        }

        /** The proxy, started now (with its registry) if it is not yet. */
        synchronized HostileUpstream proxy() {
            if (proxy == null) {
                try {
                    registry = dev.layercache.server.testing.ReferenceRegistry.start(
                            java.nio.file.Files.createTempDirectory(folderPrefix));
                    proxy = new HostileUpstream(registry.url());
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(e);
                }
            }
            return proxy;
        }

        /** The registry behind the proxy. */
        synchronized dev.layercache.server.testing.ReferenceRegistry registry() {
            proxy();
            return registry;
        }

        @Override
        public synchronized void close() throws InterruptedException {
            if (proxy != null) {
                proxy.close();
                proxy = null;
            }
            if (registry != null) {
                registry.close();
                registry = null;
            }
        }
    }

    private final URI target;
    private final HttpServer server;
    private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "hostile-upstream");
        t.setDaemon(true);
        return t;
    });
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private final List<String> requests = new CopyOnWriteArrayList<>();
    /** Released by {@link #close} or {@link #releaseStalls}: stalled answers then end, cut short. */
    private volatile CountDownLatch stalls = new CountDownLatch(1);
    private volatile Behaviour behaviour = HONEST;

    HostileUpstream(URI target) throws IOException {
        this.target = target;
        this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        server.createContext("/", this::handle);
        server.setExecutor(threads);
        server.start();
    }

    /** Where the node is to find "the upstream". */
    URI url() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    /** From now on, answer as {@code b} says. */
    void behave(Behaviour b) {
        behaviour = b;
    }

    /** From now on, forward honestly; stalled answers end. */
    void honest() {
        behaviour = HONEST;
        releaseStalls();
    }

    /** Ends the answers stalled so far (cut short: the connection closes before the declared length). */
    void releaseStalls() {
        CountDownLatch old = stalls;
        stalls = new CountDownLatch(1);
        old.countDown();
    }

    /** Requests received, as {@code "GET /v2/..."}, in order. */
    List<String> requests() {
        return List.copyOf(requests);
    }

    /** How many requests of {@code method} to paths starting with {@code pathPrefix} it received. */
    long requests(String method, String pathPrefix) {
        String needle = method + " " + pathPrefix;
        return requests.stream().filter(r -> r.startsWith(needle)).count();
    }

    /** Waits until {@link #requests(String, String)} reaches {@code n}. */
    void awaitRequests(String method, String pathPrefix, long n, Duration within) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        while (requests(method, pathPrefix) < n) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("expected " + n + " " + method + " " + pathPrefix + "; saw " + requests);
            }
            Thread.sleep(10);
        }
    }

    @Override
    public void close() {
        releaseStalls();
        server.stop(0);
        threads.shutdownNow();
    }

    private void handle(HttpExchange raw) throws IOException {
        String path = raw.getRequestURI().getRawPath();
        requests.add(raw.getRequestMethod() + " " + path);
        try (raw) {
            behaviour.answer(new Exchange(raw, path));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException closedByTheNode) {
            // the node gave up on this answer (its timeout, or a cut-short answer made here)
        }
    }

    /** The registry's answer to a request, whole. */
    record Answer(int status, Map<String, List<String>> headers, byte[] body) {
    }

    /** One request to the proxy, with the ways to answer it. */
    final class Exchange {
        private final HttpExchange raw;
        private final String path;

        Exchange(HttpExchange raw, String path) {
            this.raw = raw;
            this.path = path;
        }

        String method() {
            return raw.getRequestMethod();
        }

        String path() {
            return path;
        }

        boolean isBlob() {
            return path.contains("/blobs/");
        }

        boolean isManifest() {
            return path.contains("/manifests/");
        }

        /** The registry's answer to this request, asked now. */
        Answer forward() throws IOException, InterruptedException {
            URI uri = URI.create(target + raw.getRequestURI().toString());
            HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30))
                    .method(method(), HttpRequest.BodyPublishers.noBody());
            for (String name : List.of("Accept", "Authorization")) {
                for (String v : raw.getRequestHeaders().getOrDefault(name, List.of())) {
                    b.header(name, v);
                }
            }
            HttpResponse<byte[]> r = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
            return new Answer(r.statusCode(), r.headers().map(), r.body());
        }

        /** Forwards honestly. */
        void relay() throws IOException, InterruptedException {
            send(forward());
        }

        /** Sends {@code a} as it is. */
        void send(Answer a) throws IOException {
            sendDeclaring(a, a.body(), a.body().length);
        }

        /** Sends {@code a}'s status and headers with {@code body}, declared as {@code declared} bytes. */
        void sendDeclaring(Answer a, byte[] body, long declared) throws IOException {
            copyHeaders(a);
            if (method().equals("HEAD")) {
                raw.getResponseHeaders().set("Content-Length", Long.toString(declared));
                raw.sendResponseHeaders(a.status(), -1);
                return;
            }
            raw.sendResponseHeaders(a.status(), declared == 0 ? -1 : declared);
            OutputStream out = raw.getResponseBody();
            out.write(body, 0, (int) Math.min(body.length, declared));
            out.flush();
            // When fewer bytes were written than declared, closing the exchange closes the
            // connection: the node sees the body end early.
        }

        /** A registry error answer ({@code 429 TOOMANYREQUESTS}, {@code 503 UNAVAILABLE}) with extra headers. */
        void error(int status, String code, Map<String, String> headers) throws IOException {
            byte[] body = ("{\"errors\":[{\"code\":\"" + code + "\",\"message\":\"hostile upstream\"}]}")
                    .getBytes(StandardCharsets.UTF_8);
            raw.getResponseHeaders().set("Content-Type", "application/json");
            headers.forEach((k, v) -> raw.getResponseHeaders().set(k, v));
            if (method().equals("HEAD")) {
                raw.sendResponseHeaders(status, -1);
                return;
            }
            raw.sendResponseHeaders(status, body.length);
            raw.getResponseBody().write(body);
        }

        /** Sends {@code a}'s headers and the first {@code bytes} of its body, then nothing until the stalls are released. */
        void stallAfter(Answer a, int bytes) throws IOException, InterruptedException {
            CountDownLatch release = stalls;
            copyHeaders(a);
            raw.sendResponseHeaders(a.status(), a.body().length);
            OutputStream out = raw.getResponseBody();
            out.write(a.body(), 0, Math.min(bytes, a.body().length));
            out.flush();
            release.await(2, TimeUnit.MINUTES);
        }

        /**
         * Sends {@code a}'s headers and the first {@code bytes} of its body, waits for
         * {@code resume}, then sends the rest: an upstream that pauses, then goes on.
         */
        void pauseAfter(Answer a, int bytes, CountDownLatch resume) throws IOException, InterruptedException {
            copyHeaders(a);
            raw.sendResponseHeaders(a.status(), a.body().length);
            OutputStream out = raw.getResponseBody();
            int first = Math.min(bytes, a.body().length);
            out.write(a.body(), 0, first);
            out.flush();
            if (!resume.await(2, TimeUnit.MINUTES)) {
                return; // cut short
            }
            out.write(a.body(), first, a.body().length - first);
            out.flush();
        }

        /** Sends no answer at all (not even headers) until the stalls are released. */
        void stallBeforeHeaders() throws InterruptedException {
            stalls.await(2, TimeUnit.MINUTES);
        }

        /** Sends {@code a} in pieces of {@code chunk} bytes, {@code pause} apart: slow but steady. */
        void trickle(Answer a, int chunk, Duration pause) throws IOException, InterruptedException {
            copyHeaders(a);
            raw.sendResponseHeaders(a.status(), a.body().length);
            OutputStream out = raw.getResponseBody();
            for (int off = 0; off < a.body().length; off += chunk) {
                out.write(a.body(), off, Math.min(chunk, a.body().length - off));
                out.flush();
                Thread.sleep(pause.toMillis());
            }
        }

        private void copyHeaders(Answer a) {
            a.headers().forEach((name, values) -> {
                if (!HOP.contains(name.toLowerCase(Locale.ROOT)) && !name.startsWith(":")) {
                    raw.getResponseHeaders().put(name, values);
                }
            });
        }
    }
}
