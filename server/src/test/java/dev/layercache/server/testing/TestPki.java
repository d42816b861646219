package dev.layercache.server.testing;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A private certificate authority made with the real {@code openssl} (the test is skipped, or
 * fails in CI, without it), issuing server and client certificates for TLS tests.
 */
public final class TestPki {
    private final Path openssl;
    private final Path dir;
    private final Path caKey;
    private final Path ca;

    /** A certificate and its unencrypted PKCS#8 key. */
    public record Issued(Path cert, Path key) {
    }

    private TestPki(Path openssl, Path dir, String name) throws IOException, InterruptedException {
        this.openssl = openssl;
        this.dir = Files.createDirectories(dir);
        this.caKey = dir.resolve(name + "-ca.key");
        this.ca = dir.resolve(name + "-ca.pem");
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", ca, "-days", "2",
                "-subj", "/CN=layercache test CA " + name);
    }

    /** A new authority named {@code name}, its files in {@code dir}. */
    public static TestPki create(Path dir, String name) throws IOException, InterruptedException {
        Path openssl = RealTools.require("openssl", "makes the test's certificate authority and certificates");
        return new TestPki(openssl, dir, name);
    }

    /** The authority's certificate (PEM). */
    public Path caFile() {
        return ca;
    }

    /** A server certificate for localhost and 127.0.0.1, with this serial number. */
    public Issued server(String name, long serial) throws IOException, InterruptedException {
        return issue(name, serial, "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    }

    /** A client certificate with subject CN={@code name}. */
    public Issued client(String name, long serial) throws IOException, InterruptedException {
        return issue(name, serial, "extendedKeyUsage=clientAuth\n");
    }

    private Issued issue(String name, long serial, String extensions) throws IOException, InterruptedException {
        Path key = dir.resolve(name + ".key");
        Path csr = dir.resolve(name + ".csr");
        Path cert = dir.resolve(name + ".pem");
        Path ext = Files.writeString(dir.resolve(name + ".ext"), extensions);
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + name);
        run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-set_serial", Long.toString(serial),
                "-out", cert, "-days", "1", "-extfile", ext);
        return new Issued(cert, key);
    }

    /** Runs openssl with these arguments; fails on a non-zero exit. */
    public void run(Object... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(openssl.toString());
        for (Object a : args) {
            command.add(a.toString());
        }
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(command + " failed: " + new String(out, StandardCharsets.UTF_8));
        }
    }

    /** A JDK SSL context trusting only this authority. */
    public SSLContext trustingContext() throws IOException, GeneralSecurityException {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        try (InputStream in = Files.newInputStream(ca)) {
            trust.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(null, tmf.getTrustManagers(), null);
        return ssl;
    }
}
