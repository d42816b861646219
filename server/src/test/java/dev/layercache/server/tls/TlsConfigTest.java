package dev.layercache.server.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.config.ConfigException;
import dev.layercache.server.config.ConfigLoader;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.TestPki;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tls-cert, tls-key and grpc-client-ca: checked at start, with the setting named in the error. */
class TlsConfigTest {
    @TempDir
    Path dir;

    private static ServerConfig load(String... args) throws Exception {
        return ConfigLoader.load(args, Map.of());
    }

    private static String refusal(String... args) {
        return assertThrows(ConfigException.class, () -> load(args)).getMessage();
    }

    @Test
    void pemFilesAreCheckedAtStart() throws Exception {
        TestPki pki = TestPki.create(dir.resolve("pki"), "server");
        TestPki.Issued a = pki.server("a", 1);
        TestPki.Issued b = pki.server("b", 2);
        String data = "--data-dir=" + dir.resolve("data");

        ServerConfig ok = load(data, "--tls-cert=" + a.cert(), "--tls-key=" + a.key(),
                "--grpc-client-ca=" + pki.caFile());
        assertEquals(new ServerConfig.Tls(a.cert(), a.key(), pki.caFile()), ok.tls());
        assertEquals(ServerConfig.Tls.NONE, load(data).tls());
        assertNull(load(data).tls().certChain());

        assertTrue(refusal(data, "--tls-cert=" + a.cert()).startsWith("invalid setting tls-cert"));
        assertTrue(refusal(data, "--tls-key=" + a.key()).startsWith("invalid setting tls-key"));
        assertTrue(refusal(data, "--grpc-client-ca=" + pki.caFile()).startsWith("invalid setting grpc-client-ca"));
        String missing = refusal(data, "--tls-cert=" + dir.resolve("nope.pem"), "--tls-key=" + a.key());
        assertTrue(missing.startsWith("invalid setting tls-cert") && missing.contains("not a readable file"), missing);
        String swapped = refusal(data, "--tls-cert=" + a.key(), "--tls-key=" + a.key());
        assertTrue(swapped.startsWith("invalid setting tls-cert") && swapped.contains("no PEM certificate"), swapped);
        String notKey = refusal(data, "--tls-cert=" + a.cert(), "--tls-key=" + a.cert());
        assertTrue(notKey.startsWith("invalid setting tls-key") && notKey.contains("no PEM private key"), notKey);
        String other = refusal(data, "--tls-cert=" + a.cert(), "--tls-key=" + b.key());
        assertTrue(other.startsWith("invalid setting tls-key") && other.contains("not the private key"), other);
        String badCa = refusal(data, "--tls-cert=" + a.cert(), "--tls-key=" + a.key(), "--grpc-client-ca=" + a.key());
        assertTrue(badCa.startsWith("invalid setting grpc-client-ca"), badCa);
    }

    @Test
    void keysInPkcs1AndEcFormsLoad() throws Exception {
        TestPki pki = TestPki.create(dir.resolve("pki"), "server");
        TestPki.Issued a = pki.server("a", 1);
        Path pkcs1 = dir.resolve("a-rsa.key");
        pki.run("rsa", "-in", a.key(), "-traditional", "-out", pkcs1);
        assertTrue(Files.readString(pkcs1).contains("BEGIN RSA PRIVATE KEY"));
        assertTrue(PemFiles.matches(PemFiles.privateKey(pkcs1), PemFiles.certificates(a.cert()).get(0)));

        Path ecKey = dir.resolve("ec.key");
        Path ecCert = dir.resolve("ec.pem");
        pki.run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", ecKey,
                "-out", ecCert, "-days", "1", "-subj", "/CN=ec");
        assertTrue(PemFiles.matches(PemFiles.privateKey(ecKey), PemFiles.certificates(ecCert).get(0)));
        assertTrue(!PemFiles.matches(PemFiles.privateKey(ecKey), PemFiles.certificates(a.cert()).get(0)));
        load("--data-dir=" + dir.resolve("data"), "--tls-cert=" + a.cert(), "--tls-key=" + pkcs1);
    }
}
