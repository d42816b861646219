package dev.layercache.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.StatBlobRequest;
import dev.layercache.api.v1.StatBlobResponse;
import dev.layercache.server.testing.RealTools;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.TlsServerCredentials;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * TLS with a private certificate authority and the bearer token, against a small gRPC server of
 * the test's own (GrpcTlsTest runs the client against a node with TLS).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TlsAndTokenTest {
    @TempDir
    Path dir;

    @Test
    void tlsWithACaFileCarriesTheBearerToken() throws Exception {
        Path openssl = RealTools.require("openssl", "makes the test's certificate authority and server certificate");
        Path caKey = dir.resolve("ca.key");
        Path ca = dir.resolve("ca.pem");
        Path key = dir.resolve("server.key");
        Path csr = dir.resolve("server.csr");
        Path cert = dir.resolve("server.pem");
        Path ext = java.nio.file.Files.writeString(dir.resolve("ext.cnf"),
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        Commands.run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", ca,
                "-days", "1", "-subj", "/CN=layercache test CA");
        Commands.run(openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                "-subj", "/CN=localhost");
        Commands.run(openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial",
                "-out", cert, "-days", "1", "-extfile", ext);

        List<String> authorizations = new CopyOnWriteArrayList<>();
        ServerInterceptor recordAuth = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                             ServerCallHandler<Q, R> next) {
                authorizations.add(String.valueOf(headers.get(
                        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER))));
                return next.startCall(call, headers);
            }
        };
        BlobsGrpc.BlobsImplBase blobs = new BlobsGrpc.BlobsImplBase() {
            @Override
            public void statBlob(StatBlobRequest request, StreamObserver<StatBlobResponse> observer) {
                observer.onNext(StatBlobResponse.newBuilder().setDigest(request.getDigest()).setSize(7).build());
                observer.onCompleted();
            }
        };
        Server server = Grpc.newServerBuilderForPort(0,
                        TlsServerCredentials.newBuilder().keyManager(cert.toFile(), key.toFile()).build())
                .addService(ServerInterceptors.intercept(blobs, recordAuth)).build().start();
        try {
            Digest d = Digest.sha256(new byte[7]);
            try (LayerCacheClient client = LayerCacheClient.builder().target("localhost:" + server.getPort())
                    .tls(ca).bearerToken("tok-123").build()) {
                assertEquals(OptionalLong.of(7), client.statBlob("tls/test", d));
            }
            assertEquals(List.of("Bearer tok-123"), authorizations);

            // Without the CA, the server's certificate is not trusted: unreachable, with the reason.
            try (LayerCacheClient untrusting = LayerCacheClient.builder().target("localhost:" + server.getPort())
                    .retryPolicy(RetryPolicy.none()).build()) {
                LayerCacheException e = assertThrows(LayerCacheException.class,
                        () -> untrusting.statBlob("tls/test", d));
                assertEquals(Status.Code.UNAVAILABLE, e.code());
                assertTrue(e.getMessage().contains("server unreachable"), e.getMessage());
            }
        } finally {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
