package dev.layercache.server.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Instant;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A registry token realm (Docker's token spec) served by the test with the JDK's HTTP server, in
 * place of Docker Hub's auth service, which cannot run here. It issues RS256 JWTs that CNCF
 * Distribution's token auth accepts: signed by a key whose certificate rides in the JWT header's
 * {@code x5c}, chained to {@link #rootCertificates()} (made by {@link TestPki}, so openssl is needed).
 *
 * <p>It grants whatever the {@code scope} asks to anyone who may sign in: anonymous callers when no
 * user is set, else only Basic credentials that match (others get 401). It records every request,
 * so a test can count the tokens handed out.
 */
public final class TokenRealm implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Base64.Encoder URL = Base64.getUrlEncoder().withoutPadding();

    /** One request to the realm: its decoded query parameters and its {@code Authorization} (or null). */
    public record Request(Map<String, String> query, String authorization) {
    }

    private final String service;
    private final String issuer;
    private final Path rootCertificates;
    private final PrivateKey key;
    private final String x5c;
    private final String user;
    private final String password;
    private final HttpServer server;
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private volatile long expiresIn = 300;
    private volatile String tokenField = "token";

    private TokenRealm(Path dir, String service, String user, String password) throws Exception {
        this.service = service;
        this.issuer = "layercache-test-issuer";
        this.user = user;
        this.password = password;
        TestPki pki = TestPki.create(dir, "token");
        TestPki.Issued signer = pki.server("token-signer", 7);
        this.rootCertificates = pki.caFile();
        this.key = readKey(signer.key());
        X509Certificate cert;
        try (InputStream in = Files.newInputStream(signer.cert())) {
            cert = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        this.x5c = Base64.getEncoder().encodeToString(cert.getEncoded());
        this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        server.createContext("/token", this::serve);
        server.start();
    }

    /** A realm for {@code service} that signs in anyone. */
    public static TokenRealm anonymous(Path dir, String service) throws Exception {
        return new TokenRealm(dir, service, null, null);
    }

    /** A realm for {@code service} that answers only Basic {@code user:password}, 401 otherwise. */
    public static TokenRealm withUser(Path dir, String service, String user, String password) throws Exception {
        return new TokenRealm(dir, service, user, password);
    }

    public URI url() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/token");
    }

    public String service() {
        return service;
    }

    public String issuer() {
        return issuer;
    }

    /** The certificate authority Distribution's {@code rootcertbundle} names. */
    public Path rootCertificates() {
        return rootCertificates;
    }

    /** The {@code expires_in} of the tokens issued from now on. */
    public void expiresIn(long seconds) {
        this.expiresIn = seconds;
    }

    /** The answer's field that carries the token: {@code token} (the default) or {@code access_token} (OAuth style). */
    public void tokenField(String field) {
        this.tokenField = field;
    }

    /** Every request so far. */
    public List<Request> requests() {
        return List.copyOf(requests);
    }

    /** A token granting {@code actions} on {@code repository}, as the realm would issue it (to seed a registry). */
    public String token(String repository, String... actions) throws GeneralSecurityException, IOException {
        return jwt("seeder", "repository:" + repository + ":" + String.join(",", actions));
    }

    @Override
    public void close() {
        server.stop(0);
    }

    private void serve(HttpExchange exchange) throws IOException {
        try (exchange) {
            Map<String, String> query = query(exchange.getRequestURI().getRawQuery());
            String authorization = exchange.getRequestHeaders().getFirst("Authorization");
            requests.add(new Request(query, authorization));
            if (user != null && !ReferenceRegistry.basic(user, password).equals(authorization)) {
                exchange.getResponseHeaders().set("WWW-Authenticate", "Basic realm=\"token\"");
                byte[] body = "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}".getBytes(StandardCharsets.UTF_8);
                exchange.sendResponseHeaders(401, body.length);
                exchange.getResponseBody().write(body);
                return;
            }
            Map<String, Object> answer = new LinkedHashMap<>();
            answer.put(tokenField, jwt(user == null ? "anonymous" : user, query.getOrDefault("scope", "")));
            answer.put("expires_in", expiresIn);
            answer.put("issued_at", Instant.now().toString());
            byte[] body = JSON.writeValueAsBytes(answer);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
        } catch (GeneralSecurityException e) {
            throw new IOException(e);
        }
    }

    /** A JWT as Distribution's token auth verifies it: x5c header, RS256, iss/sub/aud/exp/nbf/iat/jti, access. */
    private String jwt(String subject, String scope) throws GeneralSecurityException, IOException {
        List<Map<String, Object>> access = new java.util.ArrayList<>();
        String[] parts = scope.split(":");
        if (parts.length == 3 && parts[0].equals("repository")) {
            access.add(Map.of("type", "repository", "name", parts[1], "actions", List.of(parts[2].split(","))));
        }
        long now = Instant.now().getEpochSecond();
        Map<String, Object> header = Map.of("typ", "JWT", "alg", "RS256", "x5c", List.of(x5c));
        Map<String, Object> claims = new LinkedHashMap<>();
        claims.put("iss", issuer);
        claims.put("sub", subject);
        claims.put("aud", service);
        claims.put("exp", now + Math.max(expiresIn, 60));
        claims.put("nbf", now - 10);
        claims.put("iat", now);
        claims.put("jti", UUID.randomUUID().toString());
        claims.put("access", access);
        String signed = URL.encodeToString(JSON.writeValueAsBytes(header)) + "."
                + URL.encodeToString(JSON.writeValueAsBytes(claims));
        Signature rsa = Signature.getInstance("SHA256withRSA");
        rsa.initSign(key);
        rsa.update(signed.getBytes(StandardCharsets.US_ASCII));
        return signed + "." + URL.encodeToString(rsa.sign());
    }

    private static PrivateKey readKey(Path pem) throws IOException, GeneralSecurityException {
        String text = Files.readString(pem);
        if (!text.contains("BEGIN PRIVATE KEY")) {
            throw new IOException("expected a PKCS#8 key from openssl in " + pem);
        }
        String base64 = text.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(base64)));
    }

    private static Map<String, String> query(String raw) {
        Map<String, String> q = new LinkedHashMap<>();
        if (raw != null) {
            for (String pair : raw.split("&")) {
                int eq = pair.indexOf('=');
                String k = eq < 0 ? pair : pair.substring(0, eq);
                String v = eq < 0 ? "" : pair.substring(eq + 1);
                q.put(URLDecoder.decode(k, StandardCharsets.UTF_8), URLDecoder.decode(v, StandardCharsets.UTF_8));
            }
        }
        return q;
    }
}
