package dev.layercache.client.cli;

import dev.layercache.client.ClientListener;
import dev.layercache.client.LayerCacheClient;
import dev.layercache.client.RetryPolicy;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Connection options every command that talks to a server takes. */
final class GlobalOptions {
    @Option(names = "--target", paramLabel = "HOST:PORT",
            defaultValue = "${env:LAYERCACHE_TARGET:-127.0.0.1:9092}",
            description = {"Server gRPC address: host:port, several separated by commas, or dns:///host:port"
                    + " (round robin over every address). Default: ${DEFAULT-VALUE}."})
    String target;

    @Option(names = "--token", paramLabel = "TOKEN", defaultValue = "${env:LAYERCACHE_TOKEN}",
            description = "Bearer token sent with every call (default: $LAYERCACHE_TOKEN).")
    String token;

    @Option(names = "--ca-file", paramLabel = "PEM",
            description = "Use TLS, trusting the certificate authorities of this PEM file.")
    Path caFile;

    @Option(names = "--client-cert", paramLabel = "PEM",
            description = "Present this client certificate (PEM chain) to a server that requires one; with --client-key.")
    Path clientCert;

    @Option(names = "--client-key", paramLabel = "PEM",
            description = "The unencrypted PEM (PKCS#8) private key of --client-cert.")
    Path clientKey;

    @Option(names = "--tls", description = "Use TLS with the system's trusted certificate authorities.")
    boolean tls;

    @Option(names = "--plaintext",
            description = "Connect without TLS: the default, as the server's gRPC port is plaintext by default.")
    boolean plaintext;

    @Option(names = "--retries", paramLabel = "N", defaultValue = "5",
            description = "Retries of a call the server did not answer (UNAVAILABLE), with exponential backoff"
                    + " (default: ${DEFAULT-VALUE}); broken transfers resume as often.")
    int retries;

    @Option(names = {"-v", "--verbose"}, description = "Report retries and resumed transfers on stderr.")
    boolean verbose;

    LayerCacheClient connect(ClientListener listener) {
        if (retries < 0 || retries > 100) {
            throw new CliException(ExitCodes.INVALID, "--retries must be within 0 and 100");
        }
        LayerCacheClient.Builder b = LayerCacheClient.builder().target(target).listener(listener)
                .retryPolicy(RetryPolicy.defaults().withMaxAttempts(retries + 1));
        if (plaintext && (tls || caFile != null || clientCert != null)) {
            throw new CliException(ExitCodes.INVALID, "--plaintext excludes --tls, --ca-file and --client-cert");
        }
        if ((clientCert == null) != (clientKey == null)) {
            throw new CliException(ExitCodes.INVALID, "--client-cert and --client-key go together");
        }
        if (caFile != null) {
            b.tls(caFile);
        } else if (tls) {
            b.tls();
        } else {
            b.plaintext();
        }
        if (clientCert != null) {
            b.clientCertificate(clientCert, clientKey);
        }
        if (token != null && !token.isEmpty()) {
            b.bearerToken(token);
        }
        return b.build();
    }
}
