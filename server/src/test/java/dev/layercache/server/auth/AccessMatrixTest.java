package dev.layercache.server.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import at.favre.lib.crypto.bcrypt.BCrypt;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.layercache.api.v1.BatchUpdateBlobsRequest;
import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.DeleteEntryRequest;
import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.api.v1.FindMissingBlobsRequest;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.TestServer;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The authorization matrix, identity x action x namespace, on both surfaces of a real node with
 * an htpasswd file, a tokens file and rules. The expected outcome of every cell comes from the
 * table in this test (not from the server's rule code): allowed, 401 for a request without or
 * with wrong credentials, 403 for a known identity without the right.
 */
class AccessMatrixTest {
    static final Path DIR;

    static {
        try {
            DIR = Files.createTempDirectory("layercache-auth");
            Files.writeString(DIR.resolve("htpasswd"), "alice:"
                    + BCrypt.with(BCrypt.Version.VERSION_2Y).hashToString(4, "alice-pw".toCharArray()) + "\n");
            Files.writeString(DIR.resolve("tokens"), String.join("\n",
                    "# identity and the SHA-256 of its token",
                    "ci-main sha256:" + Credentials.sha256("main-token"),
                    "ci-pr sha256:" + Credentials.sha256("pr-token"),
                    "ops sha256:" + Credentials.sha256("ops-token"), ""));
            Files.writeString(DIR.resolve("rules.yaml"), String.join("\n",
                    "rules:",
                    "  - identity: ci-main",
                    "    namespaces: [\"team/*\"]",
                    "    actions: [read, write]",
                    "  - identity: ci-pr",
                    "    namespaces: [\"team/*\"]",
                    "    actions: [read]",
                    "  - identity: alice",
                    "    namespaces: [alice]",
                    "    actions: [read, write, delete]",
                    "  - identity: ops",
                    "    namespaces: [\"*\"]",
                    "    actions: [read, write, delete, admin]",
                    "  - identity: anonymous",
                    "    namespaces: [\"public/*\"]",
                    "    actions: [read]", ""));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @RegisterExtension
    static TestServer server = new TestServer(c -> c.withAuth(new ServerConfig.Auth(DIR.resolve("htpasswd"),
            DIR.resolve("tokens"), DIR.resolve("rules.yaml"), false, "")));

    /** Who, and the Authorization header that says so. */
    enum Caller {
        ANONYMOUS(null),
        WRONG_PASSWORD(basic("alice", "not-her-password")),
        ALICE(basic("alice", "alice-pw")),
        CI_MAIN("Bearer main-token"),
        CI_PR(basic("anything", "pr-token")), // docker login with a token as the password
        OPS("Bearer ops-token");

        final String authorization;

        Caller(String authorization) {
            this.authorization = authorization;
        }
    }

    /** The expected table: which caller may do which action in which namespace. */
    static boolean allowed(Caller c, Action a, String ns) {
        return switch (c) {
            case ANONYMOUS -> a == Action.READ && ns.startsWith("public/");
            case WRONG_PASSWORD -> false;
            case ALICE -> ns.startsWith("alice/") && a != Action.ADMIN;
            case CI_MAIN -> ns.startsWith("team/") && (a == Action.READ || a == Action.WRITE);
            case CI_PR -> ns.startsWith("team/") && a == Action.READ;
            case OPS -> true;
        };
    }

    static final List<String> NAMESPACES = List.of("team/app", "alice/app", "public/app", "other/app");
    static ManagedChannel channel;

    @BeforeAll
    static void connect() {
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
    }

    @AfterAll
    static void disconnect() {
        channel.shutdownNow();
    }

    @Test
    void everyCellOnTheOciSurface() throws Exception {
        List<String> wrong = new ArrayList<>();
        for (Caller c : Caller.values()) {
            for (String ns : NAMESPACES) {
                byte[] blob = (c + " in " + ns).getBytes(StandardCharsets.UTF_8);
                check(wrong, c, Action.READ, ns, http(c, "GET", "/v2/" + ns + "/tags/list", null));
                check(wrong, c, Action.WRITE, ns,
                        http(c, "POST", "/v2/" + ns + "/blobs/uploads/?digest=" + Registry.sha256(blob), blob));
                check(wrong, c, Action.DELETE, ns, http(c, "DELETE", "/v2/" + ns + "/manifests/"
                        + Registry.sha256("none".getBytes(StandardCharsets.UTF_8)), null));
            }
            boolean admin = c == Caller.OPS;
            Http.Reply store = http(c, "GET", "/api/v1/store", null);
            if ((store.status() == 200) != admin) {
                wrong.add(c + " admin: " + store.status());
            }
            // A namespace's purge (dry, so the matrix's repositories stay) needs admin too.
            Http.Reply purge = http(c, "DELETE", "/api/v1/namespaces/nothing/here?dry_run=true", null);
            int purgeWant = admin ? 200 : c == Caller.ANONYMOUS || c == Caller.WRONG_PASSWORD ? 401 : 403;
            if (purge.status() != purgeWant) {
                wrong.add(c + " purge: " + purge.status() + " (should be " + purgeWant + ")");
            }
        }
        assertEquals(List.of(), wrong, "cells that disagree with the table");
    }

    private static void check(List<String> wrong, Caller c, Action a, String ns, Http.Reply r) {
        boolean expected = allowed(c, a, ns);
        int status = r.status();
        String cell = c + " " + a + " " + ns + ": " + status + " " + r.text();
        if (expected) {
            if (status == 401 || status == 403) {
                wrong.add(cell + " (should be allowed)");
            }
        } else {
            boolean anonymousOrWrong = c == Caller.ANONYMOUS || c == Caller.WRONG_PASSWORD;
            int want = anonymousOrWrong ? 401 : 403;
            if (status != want) {
                wrong.add(cell + " (should be " + want + ")");
            } else if (want == 401 && !String.valueOf(r.header("WWW-Authenticate")).startsWith("Basic realm=")) {
                wrong.add(cell + " (401 without a Basic challenge)");
            } else if (!r.text().contains(want == 401 ? "UNAUTHORIZED" : "DENIED")) {
                wrong.add(cell + " (error code)");
            }
        }
    }

    @Test
    void everyCellOnTheGrpcSurface() {
        List<String> wrong = new ArrayList<>();
        for (Caller c : Caller.values()) {
            Metadata headers = new Metadata();
            if (c.authorization != null) {
                headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), c.authorization);
            }
            BlobsGrpc.BlobsBlockingStub blobs = BlobsGrpc.newBlockingStub(channel)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
            EntryCacheGrpc.EntryCacheBlockingStub entries = EntryCacheGrpc.newBlockingStub(channel)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
            for (String ns : NAMESPACES) {
                byte[] blob = ("grpc " + c + " " + ns).getBytes(StandardCharsets.UTF_8);
                grpcCheck(wrong, c, Action.READ, ns, () -> blobs.findMissingBlobs(FindMissingBlobsRequest.newBuilder()
                        .setNamespace(ns).addDigests(Registry.sha256(blob)).build()));
                grpcCheck(wrong, c, Action.WRITE, ns, () -> blobs.batchUpdateBlobs(BatchUpdateBlobsRequest.newBuilder()
                        .setNamespace(ns).addBlobs(dev.layercache.api.v1.BlobData.newBuilder()
                                .setDigest(Registry.sha256(blob)).setData(ByteString.copyFrom(blob))).build()));
                grpcCheck(wrong, c, Action.DELETE, ns, () -> entries.deleteEntry(DeleteEntryRequest.newBuilder()
                        .setNamespace(ns).setKey(Registry.sha256(blob)).build()));
            }
        }
        assertEquals(List.of(), wrong, "cells that disagree with the table");
    }

    private static void grpcCheck(List<String> wrong, Caller c, Action a, String ns, Runnable call) {
        Status.Code code;
        try {
            call.run();
            code = Status.Code.OK;
        } catch (StatusRuntimeException e) {
            code = e.getStatus().getCode();
        }
        boolean expected = allowed(c, a, ns);
        Status.Code refused = c == Caller.ANONYMOUS || c == Caller.WRONG_PASSWORD
                ? Status.Code.UNAUTHENTICATED : Status.Code.PERMISSION_DENIED;
        if (expected ? code == Status.Code.UNAUTHENTICATED || code == Status.Code.PERMISSION_DENIED : code != refused) {
            wrong.add(c + " " + a + " " + ns + ": " + code + (expected ? " (should be allowed)" : " (should be " + refused + ")"));
        }
    }

    @Test
    void theCatalogListsOnlyWhatTheCallerMayRead() throws Exception {
        Map<String, Caller> pushers = Map.of("team/app", Caller.CI_MAIN, "alice/app", Caller.ALICE,
                "public/app", Caller.OPS, "other/app", Caller.OPS);
        for (Map.Entry<String, Caller> p : pushers.entrySet()) {
            byte[] blob = ("catalog " + p.getKey()).getBytes(StandardCharsets.UTF_8);
            assertEquals(201, http(p.getValue(), "POST", "/v2/" + p.getKey() + "/blobs/uploads/?digest="
                    + Registry.sha256(blob), blob).status());
        }
        assertEquals(Set.of("team/app"), catalog(Caller.CI_PR));
        assertEquals(Set.of("alice/app"), catalog(Caller.ALICE));
        assertEquals(Set.of("public/app"), catalog(Caller.ANONYMOUS));
        assertEquals(Set.of("team/app", "alice/app", "public/app", "other/app"), catalog(Caller.OPS));
    }

    @Test
    void pingingV2AsksForCredentialsAndAcceptsGoodOnes() throws Exception {
        Http.Reply anonymous = http(Caller.ANONYMOUS, "GET", "/v2/", null);
        assertEquals(401, anonymous.status());
        assertTrue(anonymous.header("WWW-Authenticate").startsWith("Basic realm=\"layercache\""));
        assertEquals(401, http(Caller.WRONG_PASSWORD, "GET", "/v2/", null).status());
        assertEquals(200, http(Caller.ALICE, "GET", "/v2/", null).status());
        assertEquals(200, http(Caller.CI_PR, "GET", "/v2/", null).status());
        assertEquals(200, http(Caller.ANONYMOUS, "GET", "/healthz", null).status(), "health needs no credentials");
    }

    @Test
    void aMountNeedsReadOnItsSource() throws Exception {
        byte[] blob = "mounted".getBytes(StandardCharsets.UTF_8);
        String digest = Registry.sha256(blob);
        assertEquals(201, http(Caller.ALICE, "POST", "/v2/alice/secret/blobs/uploads/?digest=" + digest, blob).status());
        // ci-main may write team/* but not read alice/*: no mount, an ordinary upload session instead.
        Http.Reply refused = http(Caller.CI_MAIN, "POST", "/v2/team/app/blobs/uploads/?mount=" + digest
                + "&from=alice/secret", null);
        assertEquals(202, refused.status(), refused.text());
        assertEquals(404, http(Caller.CI_MAIN, "HEAD", "/v2/team/app/blobs/" + digest, null).status());
        // Without "from" the server would search every repository: not with access control.
        assertEquals(202, http(Caller.CI_MAIN, "POST", "/v2/team/app/blobs/uploads/?mount=" + digest, null).status());
        assertEquals(404, http(Caller.CI_MAIN, "HEAD", "/v2/team/app/blobs/" + digest, null).status());
        // ops reads everything: its mount works.
        assertEquals(201, http(Caller.OPS, "POST", "/v2/team/app/blobs/uploads/?mount=" + digest
                + "&from=alice/secret", null).status());
    }

    @Test
    void anUploadSessionBelongsToTheIdentityThatStartedIt() throws Exception {
        Http.Reply started = http(Caller.CI_MAIN, "POST", "/v2/team/app/blobs/uploads/", null);
        assertEquals(202, started.status(), started.text());
        String location = started.header("Location");
        byte[] chunk = "chunk".getBytes(StandardCharsets.UTF_8);
        // ops may write team/app, but this session is ci-main's: as unknown to ops as any other id.
        Http.Reply stolen = http(Caller.OPS, "PATCH", location, chunk);
        assertEquals(404, stolen.status(), stolen.text());
        assertTrue(stolen.text().contains("BLOB_UPLOAD_UNKNOWN"), stolen.text());
        assertEquals(404, http(Caller.OPS, "GET", location, null).status());
        assertEquals(404, http(Caller.OPS, "DELETE", location, null).status());
        Http.Reply own = http(Caller.CI_MAIN, "PATCH", location, chunk);
        assertEquals(202, own.status(), own.text());
        Http.Reply done = http(Caller.CI_MAIN, "PUT", location + "?digest=" + Registry.sha256(chunk), null);
        assertEquals(201, done.status(), done.text());
    }

    private static Set<String> catalog(Caller c) throws Exception {
        Http.Reply r = http(c, "GET", "/v2/_catalog", null);
        assertEquals(200, r.status(), r.text());
        Set<String> out = new TreeSet<>();
        new ObjectMapper().readTree(r.body()).path("repositories").forEach(n -> out.add(n.asText()));
        out.removeIf(repo -> !NAMESPACES.contains(repo) && !repo.equals("alice/secret"));
        return out;
    }

    static Http.Reply http(Caller c, String method, String path, byte[] body) throws IOException {
        List<String> headers = new ArrayList<>();
        if (c.authorization != null) {
            headers.add("Authorization: " + c.authorization);
        }
        if (body != null) {
            headers.add("Content-Type: application/octet-stream");
        }
        return Http.exchange(server.port(), method, path, headers, body);
    }

    static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }
}
