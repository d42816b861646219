package dev.layercache.server.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.Registry;
import dev.layercache.server.testing.ServerProcess;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node's whole log, with the access log at debug level, after requests with good, wrong and
 * malformed credentials: no token, password or Authorization header appears in it, and every
 * write and delete left an audit line naming its identity.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class SecretsInLogsTest {
    @TempDir
    Path dir;

    @Test
    void noCredentialInAnyLogAndAnAuditLinePerWrite() throws Exception {
        String token = "s3cr3t-token-" + System.nanoTime();
        String wrong = "wr0ng-token-" + System.nanoTime();
        Path tokens = dir.resolve("tokens");
        Files.writeString(tokens, "builder sha256:" + Credentials.sha256(token) + "\n");
        Path log = dir.resolve("server.log");
        try (ServerProcess node = ServerProcess.start(Files.createDirectories(dir.resolve("data")), log,
                List.of("-Xmx256m", "-Dorg.slf4j.simpleLogger.log.layercache.access=debug"),
                "--auth-tokens", tokens.toString())) {
            byte[] blob = "audited".getBytes(StandardCharsets.UTF_8);
            String basicGood = "Basic " + Base64.getEncoder().encodeToString(("me:" + token).getBytes(StandardCharsets.UTF_8));
            String basicWrong = "Basic " + Base64.getEncoder().encodeToString(("me:" + wrong).getBytes(StandardCharsets.UTF_8));
            assertEquals(201, Http.exchange(node.port(), "POST", "/v2/audit/app/blobs/uploads/?digest="
                    + Registry.sha256(blob), List.of("Authorization: Bearer " + token,
                    "Content-Type: application/octet-stream"), blob).status());
            assertEquals(401, Http.exchange(node.port(), "GET", "/v2/audit/app/tags/list",
                    List.of("Authorization: Bearer " + wrong), null).status());
            assertEquals(401, Http.exchange(node.port(), "GET", "/v2/", List.of("Authorization: " + basicWrong), null)
                    .status());
            assertEquals(401, Http.exchange(node.port(), "GET", "/v2/", List.of("Authorization: Basic !!!" + wrong), null)
                    .status());
            assertEquals(200, Http.exchange(node.port(), "GET", "/v2/", List.of("Authorization: " + basicGood), null)
                    .status());
            assertEquals(202, Http.exchange(node.port(), "DELETE", "/v2/audit/app/blobs/" + Registry.sha256(blob),
                    List.of("Authorization: Bearer " + token), null).status());
            Thread.sleep(300);
            node.terminate(30);
            String text = Files.readString(log);
            for (String secret : List.of(token, wrong, basicGood.substring(6), basicWrong.substring(6),
                    "Authorization", "authorization:", Credentials.sha256(token))) {
                assertFalse(text.contains(secret), "the log must not contain " + secret + ":\n" + text);
            }
            assertTrue(text.contains("identity=builder POST UPLOADS repository=audit/app"), text);
            assertTrue(text.contains("identity=builder DELETE BLOB repository=audit/app"), text);
            assertTrue(text.contains("builder GET"), "the access log ran at debug level:\n" + text);
        }
    }
}
