package dev.layercache.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.client.cli.Main;
import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.TestPki;
import io.grpc.Status;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.OptionalLong;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node's gRPC port with tls-cert and tls-key, and with grpc-client-ca requiring client
 * certificates: the client library and the CLI with a CA file and a client certificate.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GrpcTlsTest {
    @TempDir
    Path dir;

    @Test
    void tlsWithACaFile() throws Exception {
        TestPki pki = TestPki.create(dir.resolve("pki"), "server");
        TestPki.Issued cert = pki.server("localhost", 1);
        ServerConfig config = ServerConfig.forTesting(dir.resolve("data"))
                .withTls(new ServerConfig.Tls(cert.cert(), cert.key(), null));
        try (LayerCacheServer server = LayerCacheServer.start(config)) {
            String target = "127.0.0.1:" + server.grpcPort();
            byte[] blob = new byte[3 << 20];
            new Random(3).nextBytes(blob);
            Digest d = Digest.sha256(blob);
            try (LayerCacheClient client = LayerCacheClient.builder().target(target).tls(pki.caFile()).build()) {
                client.uploadBlob("tls/grpc", d, blob.length, BlobSource.ofBytes(blob));
                assertEquals(OptionalLong.of(blob.length), client.statBlob("tls/grpc", d));
                ByteArrayOutputStream back = new ByteArrayOutputStream();
                client.downloadBlob("tls/grpc", d, back);
                assertArrayEquals(blob, back.toByteArray());
            }
            // A plaintext client on the TLS port gets no answer.
            try (LayerCacheClient plain = LayerCacheClient.builder().target(target).plaintext()
                    .retryPolicy(RetryPolicy.none()).build()) {
                LayerCacheException e = assertThrows(LayerCacheException.class, () -> plain.statBlob("tls/grpc", d));
                assertEquals(Status.Code.UNAVAILABLE, e.code());
            }
            Cli stat = cli("stat", "--ca-file", pki.caFile().toString(), "--target", target, "-n", "tls/grpc",
                    d.toString());
            assertEquals(0, stat.code(), stat.toString());
            assertEquals(d + " " + blob.length + "\n", stat.out());
        }
    }

    @Test
    void clientCertificatesAreRequiredWithGrpcClientCa() throws Exception {
        TestPki serverPki = TestPki.create(dir.resolve("pki"), "server");
        TestPki clientPki = TestPki.create(dir.resolve("pki"), "clients");
        TestPki.Issued cert = serverPki.server("localhost", 1);
        TestPki.Issued builder = clientPki.client("ci-builder", 10);
        TestPki.Issued stranger = serverPki.client("stranger", 11);
        ServerConfig config = ServerConfig.forTesting(dir.resolve("data"))
                .withTls(new ServerConfig.Tls(cert.cert(), cert.key(), clientPki.caFile()));
        try (LayerCacheServer server = LayerCacheServer.start(config)) {
            String target = "127.0.0.1:" + server.grpcPort();
            Digest d = Digest.sha256(new byte[] {1, 2, 3});

            try (LayerCacheClient client = LayerCacheClient.builder().target(target).tls(serverPki.caFile())
                    .clientCertificate(builder.cert(), builder.key()).build()) {
                assertEquals(OptionalLong.empty(), client.statBlob("tls/mtls", d));
                client.uploadBlob("tls/mtls", d, 3, BlobSource.ofBytes(new byte[] {1, 2, 3}));
                assertEquals(OptionalLong.of(3), client.statBlob("tls/mtls", d));
            }
            // No certificate, or one from an authority the server does not take: refused in the handshake.
            for (TestPki.Issued wrong : new TestPki.Issued[] {null, stranger}) {
                LayerCacheClient.Builder b = LayerCacheClient.builder().target(target).tls(serverPki.caFile())
                        .retryPolicy(RetryPolicy.none());
                if (wrong != null) {
                    b.clientCertificate(wrong.cert(), wrong.key());
                }
                try (LayerCacheClient refused = b.build()) {
                    LayerCacheException e = assertThrows(LayerCacheException.class,
                            () -> refused.statBlob("tls/mtls", d));
                    assertEquals(Status.Code.UNAVAILABLE, e.code(), e.getMessage());
                }
            }

            Cli with = cli("stat", "--ca-file", serverPki.caFile().toString(), "--client-cert",
                    builder.cert().toString(), "--client-key", builder.key().toString(), "--target", target,
                    "-n", "tls/mtls", d.toString());
            assertEquals(0, with.code(), with.toString());
            Cli without = cli("stat", "--ca-file", serverPki.caFile().toString(), "--retries", "0",
                    "--target", target, "-n", "tls/mtls", d.toString());
            assertEquals(3, without.code(), without.toString());
            Cli half = cli("stat", "--ca-file", serverPki.caFile().toString(), "--client-cert",
                    builder.cert().toString(), "--target", target, "-n", "tls/mtls", d.toString());
            assertEquals(2, half.code(), half.toString());
            assertTrue(half.err().contains("--client-key"), half.toString());
        }
    }

    record Cli(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\nstdout:\n" + out + "stderr:\n" + err;
        }
    }

    private static Cli cli(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out), new PrintWriter(err), args);
        return new Cli(code, out.toString(), err.toString());
    }
}
