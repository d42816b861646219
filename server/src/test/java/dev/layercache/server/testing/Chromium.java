package dev.layercache.server.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A headless Chromium with one page, driven over the Chrome DevTools Protocol (CDP), for tests of
 * the dashboard in a real browser: real layout, real {@code fetch}, real JavaScript engine.
 *
 * <p>It speaks CDP itself, over the JDK's built-in {@link java.net.http.WebSocket} with Jackson for
 * the JSON, rather than through Playwright, Puppeteer or Selenium: those need npm, a driver binary
 * or a browser download at build time, which offline and CI builds do not have, while the
 * {@code chromium} package is one {@code apt-get install} away (as {@code .ci/run} does) and the
 * handful of CDP commands a test needs fit in this class. Where Chromium is missing the test is
 * skipped with a reason, or fails under {@code -Dlayercache.requireRealClients=true}
 * ({@link RealTools#require}).
 *
 * <pre>{@code
 * try (Chromium browser = Chromium.start()) {
 *     browser.navigate("http://127.0.0.1:" + port + "/ui/");
 *     browser.waitFor("Number(document.body.dataset.renders) >= 1", Duration.ofSeconds(15));
 *     JsonNode title = browser.evaluate("document.title");
 *     browser.screenshot(Path.of("target/screenshots/page.png"));
 * }
 * }</pre>
 *
 * <p>The browser attaches to its page with {@code Target.attachToTarget(flatten=true)}, so every
 * command goes over the one browser connection with the page's session id. Every wait is bounded;
 * errors carry the page's console messages and the tail of Chromium's stderr.
 * {@link #close()} kills Chromium and its child processes and deletes the temporary profile.
 */
public final class Chromium implements AutoCloseable {
    private static final Pattern DEVTOOLS_LISTENING = Pattern.compile("DevTools listening on (ws://\\S+)");
    private static final Duration STARTUP_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration NAVIGATION_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration POLL_INTERVAL = Duration.ofMillis(100);
    private static final int STDERR_TAIL_LINES = 60;
    private static final int WIDTH = 1280;
    private static final int HEIGHT = 900;

    private final ObjectMapper json = new ObjectMapper();
    private final Process process;
    private final Path profileDir;
    private final Deque<String> stderrTail = new ArrayDeque<>();
    private final CompletableFuture<String> devToolsUrl = new CompletableFuture<>();
    private final AtomicLong nextCommandId = new AtomicLong(1);
    private final Map<Long, CompletableFuture<JsonNode>> pendingCommands = new ConcurrentHashMap<>();
    private final List<EventWaiter> eventWaiters = new CopyOnWriteArrayList<>();
    private final List<String> consoleMessages = new CopyOnWriteArrayList<>();
    private final List<String> uncaughtExceptions = new CopyOnWriteArrayList<>();
    private final Object sendLock = new Object();
    private WebSocket socket;
    private String sessionId;

    /** Someone waiting for the next CDP event {@code method} of the page session. */
    private record EventWaiter(String method, CompletableFuture<JsonNode> params) {
    }

    private Chromium(Process process, Path profileDir) {
        this.process = process;
        this.profileDir = profileDir;
        Thread reader = new Thread(this::readStderr, "chromium-stderr");
        reader.setDaemon(true);
        reader.start();
    }

    /**
     * Starts headless Chromium with a fresh temporary profile and a 1280x900 page on about:blank,
     * or skips the test (fails when real clients are required) where Chromium is not installed.
     */
    public static Chromium start() throws IOException {
        Path executable = RealTools.require("chromium", "the dashboard is tested in a real browser");
        Path profileDir = Files.createTempDirectory("layercache-chromium-");
        List<String> command = List.of(executable.toString(),
                "--headless",
                // Tests run as root in containers, where Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                // No update checks, sync or other traffic to the internet from a test.
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--user-data-dir=" + profileDir,
                // 0: Chromium picks a free port and prints it, so parallel tests never collide.
                "--remote-debugging-port=0",
                "--window-size=" + WIDTH + "," + HEIGHT,
                "about:blank");
        Process process;
        try {
            process = new ProcessBuilder(command)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
        } catch (IOException e) {
            deleteRecursively(profileDir);
            throw e;
        }
        Chromium browser = new Chromium(process, profileDir);
        try {
            browser.connect();
            return browser;
        } catch (RuntimeException | IOException e) {
            browser.close();
            throw e;
        }
    }

    private void connect() throws IOException {
        String url = await(devToolsUrl, STARTUP_TIMEOUT, "Chromium to print \"DevTools listening on\"");
        socket = await(HttpClient.newHttpClient().newWebSocketBuilder()
                .connectTimeout(COMMAND_TIMEOUT)
                .buildAsync(URI.create(url), new Listener()), COMMAND_TIMEOUT, "the DevTools connection to " + url);

        String targetId = null;
        for (JsonNode target : browserCommand("Target.getTargets", json.createObjectNode()).path("targetInfos")) {
            if ("page".equals(target.path("type").asText())) {
                targetId = target.path("targetId").asText();
                break;
            }
        }
        if (targetId == null) {
            targetId = browserCommand("Target.createTarget", json.createObjectNode().put("url", "about:blank"))
                    .path("targetId").asText();
        }
        sessionId = browserCommand("Target.attachToTarget",
                json.createObjectNode().put("targetId", targetId).put("flatten", true)).path("sessionId").asText();
        pageCommand("Page.enable", json.createObjectNode());
        pageCommand("Runtime.enable", json.createObjectNode());
        pageCommand("Log.enable", json.createObjectNode());
        // --window-size sets the window; this pins the page's viewport too, so layouts and
        // screenshots are the same on every machine.
        pageCommand("Emulation.setDeviceMetricsOverride", json.createObjectNode()
                .put("width", WIDTH).put("height", HEIGHT).put("deviceScaleFactor", 1).put("mobile", false));
    }

    /** Loads {@code url} in the page and returns once its load event fired. */
    public void navigate(String url) {
        CompletableFuture<JsonNode> loaded = expectEvent("Page.loadEventFired");
        JsonNode result = pageCommand("Page.navigate", json.createObjectNode().put("url", url));
        if (result.hasNonNull("errorText")) {
            eventWaiters.removeIf(waiter -> waiter.params() == loaded);
            throw new IllegalStateException("navigation to " + url + " failed: " + result.get("errorText").asText());
        }
        try {
            await(loaded, NAVIGATION_TIMEOUT, "the load event of " + url);
        } finally {
            eventWaiters.removeIf(waiter -> waiter.params() == loaded);
        }
    }

    /**
     * Evaluates {@code expression} in the page (awaiting it when it is a promise) and returns its
     * value as JSON: {@code undefined} comes back as JSON null, NaN and the infinities as text.
     * Throws when the expression throws.
     */
    public JsonNode evaluate(String expression) {
        JsonNode result = pageCommand("Runtime.evaluate", json.createObjectNode()
                .put("expression", expression)
                .put("returnByValue", true)
                .put("awaitPromise", true));
        if (result.has("exceptionDetails")) {
            throw new IllegalStateException("JavaScript threw " + describe(result.get("exceptionDetails"))
                    + " evaluating: " + expression);
        }
        JsonNode remote = result.path("result");
        if (remote.has("value")) {
            return remote.get("value");
        }
        if (remote.has("unserializableValue")) {
            return TextNode.valueOf(remote.get("unserializableValue").asText());
        }
        return NullNode.getInstance();
    }

    /**
     * Polls {@code condition} (a JavaScript expression, taken as true or false as {@code if} would)
     * until it holds; throws with the last answer and the page's console once {@code timeout}
     * passes. An expression that throws counts as not yet, so it may read what is still loading.
     */
    public void waitFor(String condition, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        String lastAnswer;
        while (true) {
            try {
                if (evaluate("!!(" + condition + ")").asBoolean()) {
                    return;
                }
                lastAnswer = "it was false";
            } catch (IllegalStateException e) {
                lastAnswer = e.getMessage();
            }
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("timed out after " + timeout.toMillis() + " ms waiting for "
                        + condition + " (" + lastAnswer + "); page console: " + consoleMessages);
            }
            sleep(POLL_INTERVAL);
        }
    }

    /** Saves what the page's 1280x900 viewport shows as a PNG, creating parent directories. */
    public Path screenshot(Path png) throws IOException {
        JsonNode result = pageCommand("Page.captureScreenshot", json.createObjectNode().put("format", "png"));
        byte[] image = Base64.getDecoder().decode(result.path("data").asText());
        Path parent = png.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.write(png, image);
        return png;
    }

    /** What the page logged so far (console calls, browser log entries, uncaught exceptions). */
    public List<String> consoleMessages() {
        return List.copyOf(consoleMessages);
    }

    /** The page's uncaught JavaScript exceptions so far; a healthy page has none. */
    public List<String> uncaughtExceptions() {
        return List.copyOf(uncaughtExceptions);
    }

    /** Kills Chromium with its child processes (renderers, GPU, zygote) and deletes the profile. */
    @Override
    public void close() {
        if (socket != null) {
            socket.abort();
        }
        // Taken before the parent exits: afterwards its children are reparented and out of reach.
        List<ProcessHandle> children = process.descendants().toList();
        process.destroy();
        children.forEach(ProcessHandle::destroy);
        try {
            if (!process.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly().waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            }
            for (ProcessHandle child : children) {
                try {
                    child.onExit().get(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                } catch (TimeoutException | ExecutionException e) {
                    child.destroyForcibly();
                }
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            children.forEach(ProcessHandle::destroyForcibly);
            Thread.currentThread().interrupt();
        }
        failPending(new IllegalStateException("Chromium was closed"));
        deleteRecursively(profileDir);
    }

    // ---- the protocol ------------------------------------------------------------------------

    private JsonNode browserCommand(String method, ObjectNode params) {
        return command(method, params, null);
    }

    private JsonNode pageCommand(String method, ObjectNode params) {
        return command(method, params, sessionId);
    }

    /** Sends one CDP command and waits for its answer (the {@code result} object). */
    private JsonNode command(String method, ObjectNode params, String session) {
        long id = nextCommandId.getAndIncrement();
        ObjectNode message = json.createObjectNode().put("id", id).put("method", method);
        message.set("params", params);
        if (session != null) {
            message.put("sessionId", session);
        }
        CompletableFuture<JsonNode> answer = new CompletableFuture<>();
        pendingCommands.put(id, answer);
        try {
            String text = json.writeValueAsString(message);
            // WebSocket allows one outstanding send at a time; commands may come from several threads.
            synchronized (sendLock) {
                await(socket.sendText(text, true), COMMAND_TIMEOUT, "sending " + method);
            }
            return await(answer, COMMAND_TIMEOUT, "the answer to " + method);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            pendingCommands.remove(id);
        }
    }

    private CompletableFuture<JsonNode> expectEvent(String method) {
        CompletableFuture<JsonNode> params = new CompletableFuture<>();
        eventWaiters.add(new EventWaiter(method, params));
        return params;
    }

    /** Handles one whole message from Chromium: an answer to a command, or an event. */
    private void dispatch(String text) {
        JsonNode message;
        try {
            message = json.readTree(text);
        } catch (IOException e) {
            failPending(new IllegalStateException("unreadable DevTools message: " + text, e));
            return;
        }
        if (message.has("id")) {
            CompletableFuture<JsonNode> answer = pendingCommands.get(message.get("id").asLong());
            if (answer != null) {
                if (message.has("error")) {
                    answer.completeExceptionally(new IllegalStateException("DevTools error " + message.get("error")));
                } else {
                    answer.complete(message.path("result"));
                }
            }
            return;
        }
        String method = message.path("method").asText();
        JsonNode params = message.path("params");
        if (sessionId == null || !sessionId.equals(message.path("sessionId").asText(null))) {
            return;
        }
        recordConsole(method, params);
        for (EventWaiter waiter : eventWaiters) {
            if (waiter.method().equals(method) && waiter.params().complete(params)) {
                eventWaiters.remove(waiter);
            }
        }
    }

    private void recordConsole(String method, JsonNode params) {
        switch (method) {
            case "Runtime.consoleAPICalled" -> {
                StringBuilder line = new StringBuilder("console.").append(params.path("type").asText()).append(':');
                for (JsonNode argument : params.path("args")) {
                    line.append(' ').append(argument.has("value")
                            ? argument.get("value").asText()
                            : argument.path("description").asText(argument.path("type").asText()));
                }
                consoleMessages.add(line.toString());
            }
            case "Runtime.exceptionThrown" -> {
                String description = "uncaught " + describe(params.path("exceptionDetails"));
                uncaughtExceptions.add(description);
                consoleMessages.add(description);
            }
            case "Log.entryAdded" -> {
                JsonNode entry = params.path("entry");
                consoleMessages.add("log." + entry.path("level").asText() + ": " + entry.path("text").asText()
                        + (entry.has("url") ? " (" + entry.get("url").asText() + ")" : ""));
            }
            default -> {
            }
        }
    }

    private static String describe(JsonNode exceptionDetails) {
        String description = exceptionDetails.path("exception").path("description").asText("");
        return description.isEmpty() ? exceptionDetails.path("text").asText("an exception") : description;
    }

    private void failPending(RuntimeException cause) {
        pendingCommands.values().forEach(answer -> answer.completeExceptionally(cause));
        eventWaiters.forEach(waiter -> waiter.params().completeExceptionally(cause));
    }

    /** Reassembles messages Chromium sends in several frames (screenshots, large results). */
    private final class Listener implements WebSocket.Listener {
        private final StringBuilder partial = new StringBuilder();

        @Override
        public void onOpen(WebSocket webSocket) {
            webSocket.request(1);
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                String message = partial.toString();
                partial.setLength(0);
                dispatch(message);
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            failPending(new IllegalStateException("DevTools connection closed: " + statusCode + " " + reason));
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            failPending(new IllegalStateException("DevTools connection failed: " + error, error));
        }
    }

    // ---- the process -------------------------------------------------------------------------

    /**
     * Reads Chromium's stderr to its end: finds the DevTools address, keeps the last lines for
     * error messages, and keeps the pipe drained so Chromium never blocks writing its log.
     */
    private void readStderr() {
        try (BufferedReader reader = new BufferedReader(
                new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = reader.readLine()) != null) {
                Matcher listening = DEVTOOLS_LISTENING.matcher(line);
                if (listening.find()) {
                    devToolsUrl.complete(listening.group(1));
                }
                // D-Bus complaints are normal in a container and crowd out what matters.
                if (!line.contains("dbus")) {
                    synchronized (stderrTail) {
                        stderrTail.addLast(line);
                        if (stderrTail.size() > STDERR_TAIL_LINES) {
                            stderrTail.removeFirst();
                        }
                    }
                }
            }
        } catch (IOException e) {
            // The stream closes when Chromium is killed; what was read is all there is.
        }
        devToolsUrl.completeExceptionally(new IllegalStateException("Chromium exited before DevTools listened"));
    }

    private String stderrTail() {
        synchronized (stderrTail) {
            return String.join("\n", stderrTail);
        }
    }

    private <T> T await(CompletableFuture<T> future, Duration timeout, String what) {
        try {
            return future.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new IllegalStateException("no " + what + " within " + timeout.toSeconds() + " s"
                    + diagnostics(), e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("failed waiting for " + what + ": " + e.getCause().getMessage()
                    + diagnostics(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for " + what, e);
        }
    }

    private String diagnostics() {
        String exit = process.isAlive() ? "" : "\nChromium exited with " + process.exitValue();
        return exit + "\npage console: " + consoleMessages + "\nChromium stderr (last lines):\n" + stderrTail();
    }

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** Deletes the profile; tries a few times since Chromium's helpers may still be writing. */
    private static void deleteRecursively(Path dir) {
        for (int attempt = 0; attempt < 5 && Files.exists(dir); attempt++) {
            try (Stream<Path> paths = Files.walk(dir)) {
                for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(path);
                }
            } catch (IOException | UncheckedIOException e) {
                sleep(Duration.ofMillis(200));
            }
        }
    }

    /** The page's console so far, for assertion messages. */
    @Override
    public String toString() {
        return "Chromium[pid " + process.pid() + ", console " + new ArrayList<>(consoleMessages) + "]";
    }
}
