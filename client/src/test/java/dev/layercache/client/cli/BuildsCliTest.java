package dev.layercache.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code layercache builds} against a local HTTP server that answers {@code GET /api/v1/builds}
 * with documents of the contract: each kind of build is printed from exactly the JSON the server
 * would send, including kinds (unparsable, buildah) that a node makes only from real builders.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class BuildsCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static HttpServer server;
    private static String http;

    /** What the fake server answers next, and what it was asked. */
    private static volatile int status;
    private static volatile String body;
    private static final List<String> asked = new CopyOnWriteArrayList<>();
    private static final List<String> authorizations = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            asked.add(exchange.getRequestMethod() + " " + exchange.getRequestURI().getRawPath()
                    + "?" + exchange.getRequestURI().getRawQuery());
            authorizations.add(String.valueOf(exchange.getRequestHeaders().getFirst("Authorization")));
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(status, bytes.length);
            exchange.getResponseBody().write(bytes);
            exchange.close();
        });
        server.start();
        http = "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @AfterAll
    static void stop() {
        server.stop(0);
    }

    @BeforeEach
    void reset() {
        asked.clear();
        authorizations.clear();
    }

    record Run(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\nstdout:\n" + out + "stderr:\n" + err;
        }
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out), new PrintWriter(err), args);
        return new Run(code, out.toString(), err.toString());
    }

    private static void answer(int code, String json) {
        status = code;
        body = json.replace('\'', '"');
    }

    private static String builds(String... builds) {
        return "{'repository': 'app/web', 'builds': [" + String.join(",", builds) + "]}";
    }

    private static final String COMPARED = "{'builder': 'buildkit', 'repository': 'app/web', 'reference': 'cache',"
            + " 'at': '2026-12-06T14:03:11.482Z', 'steps': 9, 'reused': 4, 'rebuilt': 5, 'status': 'compared',"
            + " 'root_cause': {'instruction': '[3/9] COPY in.txt /in.txt', 'reason': 'content', 'cascade': 4,"
            + " 'key': 'sha256:aa'}, 'shape': 'index', 'who': 'ci', 'manifest': 'sha256:bb',"
            + " 'warnings': ['cache config is 1.2 MiB; BuildKit refuses to import cache configs over 1 MiB'],"
            + " 'step_list': [], 'truncated': false}";

    private static final String ALL_REUSED = "{'builder': 'buildkit', 'repository': 'app/web', 'reference': 'cache',"
            + " 'at': '2026-12-06T13:58:02Z', 'steps': 9, 'reused': 9, 'rebuilt': 0, 'status': 'compared',"
            + " 'root_cause': null, 'shape': 'index', 'who': 'ci', 'manifest': 'sha256:cc', 'warnings': [],"
            + " 'step_list': [], 'truncated': false}";

    @Test
    void comparedBuildsNewestFirstWithRootCauseCascadeAndWarnings() {
        answer(200, builds(COMPARED, ALL_REUSED));
        Run r = run("builds", "--http", http, "app/web", "--limit", "5");
        assertEquals(0, r.code(), r.toString());
        assertEquals("""
                2026-12-06 14:03:11Z  buildkit  app/web:cache  9 steps: 4 reused, 5 rebuilt
                  root cause: [3/9] COPY in.txt /in.txt (content changed), 4 more rebuilt because of it
                  warning: cache config is 1.2 MiB; BuildKit refuses to import cache configs over 1 MiB

                2026-12-06 13:58:02Z  buildkit  app/web:cache  9 steps: 9 reused, 0 rebuilt
                """, r.out());
        assertEquals("", r.err());
        assertEquals(List.of("GET /api/v1/builds?repository=app%2Fweb&limit=5"), asked);
    }

    @Test
    void anInstructionChangeAndALongMultiLineInstructionStayOnOneLine() {
        String longRun = "RUN apt-get update && \\n    apt-get install -y " + "pkg ".repeat(60);
        answer(200, builds(COMPARED.replace("[3/9] COPY in.txt /in.txt", longRun)
                .replace("'reason': 'content', 'cascade': 4", "'reason': 'instruction', 'cascade': 0")));
        Run r = run("builds", "--http", http, "app/web");
        assertEquals(0, r.code(), r.toString());
        String line = r.out().lines().filter(l -> l.startsWith("  root cause:")).findFirst().orElseThrow();
        assertTrue(line.startsWith("  root cause: RUN apt-get update && apt-get install -y pkg pkg"), line);
        assertTrue(line.endsWith("… (instruction changed)"), "clipped, no cascade clause: " + line);
        assertEquals(List.of("GET /api/v1/builds?repository=app%2Fweb"), asked, "no limit unless asked");
    }

    @Test
    void aFirstExportHasNothingToCompareWith() {
        answer(200, builds("{'builder': 'buildkit', 'repository': 'app/web', 'reference': 'main',"
                + " 'at': '2026-12-06T09:00:00Z', 'steps': 6, 'reused': 0, 'rebuilt': 6, 'status': 'first_export',"
                + " 'root_cause': null, 'shape': 'inline', 'who': 'ci', 'manifest': 'sha256:dd', 'warnings': [],"
                + " 'step_list': [], 'truncated': false}"));
        Run r = run("builds", "--http", http, "app/web");
        assertEquals(0, r.code(), r.toString());
        assertEquals("""
                2026-12-06 09:00:00Z  buildkit  app/web:main  6 steps
                  first export: nothing to compare with
                """, r.out());
    }

    @Test
    void anUnparsableExportSaysSoWithItsWarnings() {
        answer(200, builds("{'builder': 'buildkit', 'repository': 'app/web', 'reference': 'cache',"
                + " 'at': '2026-12-06T10:00:00Z', 'steps': 0, 'reused': 0, 'rebuilt': 0, 'status': 'unparsable',"
                + " 'root_cause': null, 'shape': 'image_manifest', 'who': 'ci', 'manifest': 'sha256:ee',"
                + " 'warnings': ['cache config is not valid JSON', 'record 3 has an input out of range'],"
                + " 'step_list': [], 'truncated': false}"));
        Run r = run("builds", "--http", http, "app/web");
        assertEquals(0, r.code(), r.toString());
        assertEquals("""
                2026-12-06 10:00:00Z  buildkit  app/web:cache  unparsable: the cache config could not be read
                  warning: cache config is not valid JSON
                  warning: record 3 has an input out of range
                """, r.out());
    }

    @Test
    void aBuildahBuildNamesItsFirstRebuiltStep() {
        answer(200, builds("{'builder': 'buildah', 'repository': 'app/web-cache', 'reference': '',"
                + " 'at': '2026-12-06T11:30:45.9Z', 'steps': 5, 'reused': 2, 'rebuilt': 3, 'status': 'grouped',"
                + " 'root_cause': {'instruction': 'COPY src/ /app/src/', 'reason': 'first_rebuilt', 'cascade': 2,"
                + " 'key': 'sha256:ff'}, 'shape': null, 'who': 'alice', 'manifest': null, 'warnings': [],"
                + " 'step_list': [], 'truncated': false}", ALL_REUSED));
        Run r = run("builds", "--http", http, "app/web-cache");
        assertEquals(0, r.code(), r.toString());
        assertEquals("""
                2026-12-06 11:30:45Z  buildah   app/web-cache  5 steps: 2 reused, 3 rebuilt
                  root cause: COPY src/ /app/src/ (first step rebuilt), 2 more rebuilt because of it

                2026-12-06 13:58:02Z  buildkit  app/web:cache  9 steps: 9 reused, 0 rebuilt
                """, r.out());
    }

    @Test
    void anEmptyListSaysSo() {
        answer(200, "{'repository': 'app/web', 'builds': []}");
        Run r = run("builds", "--http", http, "app/web");
        assertEquals(0, r.code(), r.toString());
        assertEquals("no builds recorded for app/web\n", r.out());
    }

    @Test
    void jsonPrintsTheServersDocument() throws Exception {
        answer(200, builds(COMPARED));
        Run r = run("builds", "--http", http, "--json", "app/web");
        assertEquals(0, r.code(), r.toString());
        assertEquals(JSON.readTree(body), JSON.readTree(r.out()));
    }

    @Test
    void aRefusedRepositoryIsInvalidInputWithTheRegistryError() {
        answer(400, "{'errors': [{'code': 'NAME_INVALID', 'message': 'invalid repository name', 'detail': 'App//Web'}]}");
        Run r = run("builds", "--http", http, "App//Web");
        assertEquals(ExitCodes.INVALID, r.code(), r.toString());
        assertEquals("", r.out());
        assertTrue(r.err().startsWith("layercache: " + http + " answered 400: NAME_INVALID: invalid repository name"),
                r.toString());
        assertEquals(List.of("GET /api/v1/builds?repository=App%2F%2FWeb"), asked);
    }

    @Test
    void anUnauthenticatedRequestSaysHowToGiveCredentials() {
        answer(401, "{'errors': [{'code': 'UNAUTHORIZED', 'message': 'authentication required'}]}");
        Run r = run("builds", "--http", http, "--token=", "app/web");
        assertEquals(ExitCodes.SERVER, r.code(), r.toString());
        assertTrue(r.err().contains("answered 401: UNAUTHORIZED: authentication required (give credentials with --token"),
                r.toString());
        assertEquals(List.of("null"), authorizations, "no Authorization header without a token");

        Run refused = run("builds", "--http", http, "--token", "s3cret", "app/web");
        assertEquals(ExitCodes.SERVER, refused.code(), refused.toString());
        assertTrue(refused.err().contains("(the server refused the token"), refused.toString());
        assertEquals("Bearer s3cret", authorizations.get(1));
    }

    @Test
    void badArgumentsAreRefusedBeforeAnyRequest() {
        answer(200, builds());
        Run zero = run("builds", "--http", http, "--limit", "0", "app/web");
        assertEquals(ExitCodes.INVALID, zero.code(), zero.toString());
        assertTrue(zero.err().contains("--limit must be at least 1"), zero.toString());
        Run word = run("builds", "--http", http, "--limit", "many", "app/web");
        assertEquals(ExitCodes.INVALID, word.code(), word.toString());
        assertTrue(word.err().contains("Try 'layercache builds --help'"), word.toString());
        Run none = run("builds", "--http", http);
        assertEquals(ExitCodes.INVALID, none.code(), none.toString());
        assertTrue(none.err().contains("REPO"), none.toString());
        Run badUrl = run("builds", "--http", "not a url", "app/web");
        assertEquals(ExitCodes.INVALID, badUrl.code(), badUrl.toString());
        assertEquals(List.of(), asked, "nothing reached the server");
    }

    @Test
    void anUnreachableServerIsExitCode3() {
        Run r = run("builds", "--http", "http://127.0.0.1:1", "app/web");
        assertEquals(ExitCodes.UNREACHABLE, r.code(), r.toString());
        assertTrue(r.err().startsWith("layercache: cannot reach http://127.0.0.1:1"), r.toString());
    }
}
