package dev.layercache.server.metrics;

import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.server.auth.Credentials;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.PrometheusText;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * A node shared by tenants, for the metrics tests: a tokens file (token {@code <identity>-token}
 * each) and these rules:
 *
 * <pre>
 * ci-main     team/*     read, write
 * ci-pr       team/*     read
 * alice       alice      read, write     (the repository alice and everything under it)
 * viewer      team/app   read            (one repository of team, not the whole namespace)
 * prometheus  *          read            (the scrape identity)
 * ops         *          read, write, delete, admin
 * </pre>
 */
final class Tenants {
    static final List<String> IDENTITIES = List.of("ci-main", "ci-pr", "alice", "viewer", "prometheus", "ops");

    private Tenants() {
    }

    /** The access settings of such a node, with its files in a new temporary folder. */
    static ServerConfig.Auth auth() {
        try {
            Path dir = Files.createTempDirectory("layercache-tenants");
            StringBuilder tokens = new StringBuilder();
            for (String id : IDENTITIES) {
                tokens.append(id).append(" sha256:").append(Credentials.sha256(id + "-token")).append('\n');
            }
            Files.writeString(dir.resolve("tokens"), tokens);
            Files.writeString(dir.resolve("rules.yaml"), String.join("\n",
                    "rules:",
                    rule("ci-main", "\"team/*\"", "read, write"),
                    rule("ci-pr", "\"team/*\"", "read"),
                    rule("alice", "alice", "read, write"),
                    rule("viewer", "team/app", "read"),
                    rule("prometheus", "\"*\"", "read"),
                    rule("ops", "\"*\"", "read, write, delete, admin"), ""));
            return new ServerConfig.Auth(null, dir.resolve("tokens"), dir.resolve("rules.yaml"), false, "");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String rule(String identity, String namespace, String actions) {
        return "  - identity: " + identity + "\n    namespaces: [" + namespace + "]\n    actions: [" + actions + "]";
    }

    /** One request as {@code identity} (null: without credentials). */
    static Http.Reply http(int port, String identity, String method, String path, byte[] body, String... headers)
            throws IOException {
        List<String> lines = new ArrayList<>(List.of(headers));
        if (identity != null) {
            lines.add("Authorization: Bearer " + identity + "-token");
        }
        return Http.exchange(port, method, path, lines, body);
    }

    /** A blob pushed in three requests (POST, PATCH, PUT), as docker and buildah push; the final status. */
    static int chunkedPush(int port, String identity, String repository, byte[] blob) throws IOException {
        Http.Reply started = http(port, identity, "POST", "/v2/" + repository + "/blobs/uploads/", null);
        if (started.status() != 202) {
            return started.status();
        }
        Http.Reply patched = http(port, identity, "PATCH", path(started.header("Location")), blob,
                "Content-Type: application/octet-stream");
        if (patched.status() != 202) {
            return patched.status();
        }
        String location = path(patched.header("Location"));
        return http(port, identity, "PUT", location + (location.contains("?") ? "&" : "?") + "digest="
                + dev.layercache.server.testing.Registry.sha256(blob), null).status();
    }

    private static String path(String location) {
        URI uri = URI.create(location);
        return uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
    }

    static EntryCacheGrpc.EntryCacheBlockingStub entries(ManagedChannel channel, String identity) {
        return EntryCacheGrpc.newBlockingStub(channel).withInterceptors(credentials(identity))
                .withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    static BlobsGrpc.BlobsBlockingStub blobs(ManagedChannel channel, String identity) {
        return BlobsGrpc.newBlockingStub(channel).withInterceptors(credentials(identity))
                .withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    private static io.grpc.ClientInterceptor credentials(String identity) {
        Metadata headers = new Metadata();
        if (identity != null) {
            headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
                    "Bearer " + identity + "-token");
        }
        return MetadataUtils.newAttachHeadersInterceptor(headers);
    }

    /** {@code /metrics} as {@code identity}, which must be let in. */
    static PrometheusText scrape(int port, String identity) throws IOException {
        Http.Reply r = http(port, identity, "GET", "/metrics", null);
        if (r.status() != 200) {
            throw new AssertionError("/metrics as " + identity + ": " + r.status() + " " + r.text());
        }
        return new PrometheusText(new String(r.body(), StandardCharsets.UTF_8));
    }

    /** The values of {@code label} over the samples of {@code metric}. */
    static Set<String> labelValues(PrometheusText m, String metric, String label) {
        Set<String> out = new TreeSet<>();
        for (PrometheusText.Sample s : m.samples()) {
            if (s.name().equals(metric) && s.labels().containsKey(label)) {
                out.add(s.labels().get(label));
            }
        }
        return out;
    }
}
