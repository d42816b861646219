package dev.layercache.client.cli;

import dev.layercache.client.ClientListener;
import dev.layercache.client.LayerCacheClient;
import dev.layercache.client.RetryPolicy;
import java.nio.file.Path;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;

/**
 * How to reach a server: the options of the top command, inherited by every subcommand, so that
 * they are accepted before the command name ({@code layercache --target h:9092 push-layout ...})
 * as well as after it. Each has a {@code LAYERCACHE_*} variable; the addresses are resolved in
 * code rather than by picocli defaults, so that a command can tell "not given" from "the default"
 * and say which of the two ports to add.
 */
final class GlobalOptions {
    static final String DEFAULT_TARGET = "127.0.0.1:9092";
    static final String DEFAULT_HTTP = "http://127.0.0.1:5000";

    @Option(names = "--target", paramLabel = "HOST:PORT", scope = ScopeType.INHERIT,
            defaultValue = "${env:LAYERCACHE_TARGET}",
            description = {"The server's gRPC address (its --grpc-port, 9092 by default), for key lookups, entries,"
                    + " blobs, explain, push-layout and pull-layout: host:port, several separated by commas,"
                    + " or dns:///host:port. Default: $LAYERCACHE_TARGET, else " + DEFAULT_TARGET + "."})
    String target;

    @Option(names = "--http", paramLabel = "URL", scope = ScopeType.INHERIT,
            defaultValue = "${env:LAYERCACHE_HTTP}",
            description = {"The server's HTTP address (its --http-port, 5000 by default), for store, gc, purge,"
                    + " analyze, sharing and builds: http://host:port (http:// is assumed when left out)."
                    + " Default: $LAYERCACHE_HTTP, else " + DEFAULT_HTTP + "."})
    String http;

    @Option(names = "--token", paramLabel = "TOKEN", scope = ScopeType.INHERIT,
            defaultValue = "${env:LAYERCACHE_TOKEN}",
            description = "Bearer token sent with every call, gRPC or HTTP (default: $LAYERCACHE_TOKEN, safer than the option).")
    String token;

    @Option(names = "--ca-file", paramLabel = "PEM", scope = ScopeType.INHERIT,
            defaultValue = "${env:LAYERCACHE_CA_FILE}",
            description = "Use TLS for gRPC, trusting the certificate authorities of this PEM file (default: $LAYERCACHE_CA_FILE).")
    Path caFile;

    @Option(names = "--client-cert", paramLabel = "PEM", scope = ScopeType.INHERIT,
            defaultValue = "${env:LAYERCACHE_CLIENT_CERT}",
            description = "Present this client certificate (PEM chain) to a server that requires one; with --client-key"
                    + " (default: $LAYERCACHE_CLIENT_CERT).")
    Path clientCert;

    @Option(names = "--client-key", paramLabel = "PEM", scope = ScopeType.INHERIT,
            defaultValue = "${env:LAYERCACHE_CLIENT_KEY}",
            description = "The unencrypted PEM (PKCS#8) private key of --client-cert (default: $LAYERCACHE_CLIENT_KEY).")
    Path clientKey;

    @Option(names = "--tls", scope = ScopeType.INHERIT, defaultValue = "${env:LAYERCACHE_TLS:-false}",
            description = "Use TLS for gRPC with the system's trusted certificate authorities (default: $LAYERCACHE_TLS).")
    boolean tls;

    @Option(names = "--plaintext", scope = ScopeType.INHERIT,
            description = "Connect without TLS: the default, as the server's gRPC port is plaintext by default.")
    boolean plaintext;

    @Option(names = "--retries", paramLabel = "N", scope = ScopeType.INHERIT,
            defaultValue = "${env:LAYERCACHE_RETRIES:-5}",
            description = "Retries of a call the server did not answer (UNAVAILABLE), with exponential backoff"
                    + " (default: $LAYERCACHE_RETRIES, else 5); broken transfers resume as often.")
    int retries;

    @Option(names = {"-v", "--verbose"}, scope = ScopeType.INHERIT,
            description = "Report retries and resumed transfers on stderr.")
    boolean verbose;

    /** The options of this run: they live on the top command, whichever command was named. */
    static GlobalOptions of(CommandSpec spec) {
        return ((Main) spec.root().userObject()).global;
    }

    /** The gRPC address; when only --http was given, says to add --target rather than guess. */
    String target(CommandSpec command) {
        if (target != null && !target.isBlank()) {
            return target.trim();
        }
        if (http != null && !http.isBlank()) {
            throw new CliException(ExitCodes.INVALID, command.name() + " uses the server's gRPC API: add --target "
                    + hostOf(http) + ":9092 (the node's --grpc-port) or set LAYERCACHE_TARGET; --http " + http
                    + " is its HTTP port, for store, gc, purge, analyze, sharing and builds");
        }
        return DEFAULT_TARGET;
    }

    /** The HTTP address; when only --target was given, says to add --http rather than guess. */
    String http(CommandSpec command) {
        if (http != null && !http.isBlank()) {
            return http.trim();
        }
        if (target != null && !target.isBlank()) {
            throw new CliException(ExitCodes.INVALID, command.name() + " uses the server's HTTP API: add --http http://"
                    + hostOf(target) + ":5000 (the node's --http-port) or set LAYERCACHE_HTTP; --target " + target
                    + " is its gRPC port, for lookups, entries, blobs, explain and the layouts");
        }
        return DEFAULT_HTTP;
    }

    /** The host of a "host:port" or URL, for the hint that names the other port. */
    static String hostOf(String address) {
        String s = address.trim();
        int scheme = s.indexOf("://");
        if (scheme >= 0) {
            s = s.substring(scheme + 3);
        }
        s = s.replaceFirst("^/+", "");
        int comma = s.indexOf(',');
        if (comma >= 0) {
            s = s.substring(0, comma);
        }
        int slash = s.indexOf('/');
        if (slash >= 0) {
            s = s.substring(0, slash);
        }
        if (s.startsWith("[")) {
            int close = s.indexOf(']');
            return close > 0 ? s.substring(0, close + 1) : s;
        }
        int colon = s.lastIndexOf(':');
        return colon > 0 ? s.substring(0, colon) : s.isEmpty() ? "HOST" : s;
    }

    /** The gRPC client of {@code command}. */
    LayerCacheClient connect(CommandSpec command, ClientListener listener) {
        if (retries < 0 || retries > 100) {
            throw new CliException(ExitCodes.INVALID, "--retries must be within 0 and 100");
        }
        LayerCacheClient.Builder b = LayerCacheClient.builder().target(target(command)).listener(listener)
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

    /** The HTTP API client of {@code command}. */
    AdminHttp admin(CommandSpec command) {
        return new AdminHttp(http(command), token);
    }

    /** True when {@code name} was given on the command line, before or after the command name. */
    static boolean matched(CommandSpec spec, String name) {
        for (ParseResult r = spec.root().commandLine().getParseResult(); r != null; r = r.subcommand()) {
            if (r.hasMatchedOption(name)) {
                return true;
            }
        }
        return false;
    }
}
