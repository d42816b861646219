package dev.layercache.server.tls;

import io.grpc.netty.GrpcSslContexts;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's TLS identity from PEM files, reloaded when they change, for both ports.
 *
 * <p>Each port has one Netty {@link SslContext}, built once over a key manager (and, for gRPC
 * client certificates, a trust manager) of this class. Those consult the newest material at every
 * handshake, so new connections get a replaced certificate while connections already open keep
 * theirs, without restarting a listener; gRPC's server builder, which takes one context for its
 * whole life, needs nothing more. A handshake stats the files at most once a second
 * (modification time, size and inode, so that an atomic rename or a Kubernetes secret update is
 * seen). A new version that does not load (half written, key not matching the certificate) is
 * ignored with one warning, and the previous material stays in use.
 */
public final class ReloadingTls {
    private static final Logger log = LoggerFactory.getLogger(ReloadingTls.class);
    private static final long CHECK_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final char[] NO_PASSWORD = new char[0];

    private final PemPaths files;
    private final AtomicLong lastCheck = new AtomicLong(System.nanoTime());
    private volatile Material current;
    /** The material before the newest, for handshakes that chose their alias just before a reload. */
    private volatile Material previous;
    private volatile List<Object> failedStamp;
    private final SslContext http;
    private final SslContext grpc;

    /** One version of the files, loaded. */
    private record Material(int generation, List<Object> stamp, X509ExtendedKeyManager keys,
                            X509ExtendedTrustManager clientTrust, X509Certificate leaf) {
    }

    private ReloadingTls(PemPaths files) throws IOException, GeneralSecurityException {
        this.files = files;
        current = load(files, stamp(files), 1);
        previous = current;
        Keys keys = new Keys();
        http = SslContextBuilder.forServer(keys).build();
        SslContextBuilder g = GrpcSslContexts.configure(SslContextBuilder.forServer(keys));
        if (files.grpcClientCa() != null) {
            g.trustManager(new ClientTrust()).clientAuth(ClientAuth.REQUIRE);
        }
        grpc = g.build();
        log.info("TLS certificate {}", describe(current.leaf()));
    }

    /** The PEM files: certificate chain, its private key, and the CA of gRPC client certificates (or null). */
    private record PemPaths(Path certChain, Path privateKey, Path grpcClientCa) {
    }

    /**
     * Loads the files (they must be valid now); null when {@code certChain} is null (no TLS).
     * Takes paths, not the configuration, so that the configuration can check PEM files with
     * {@link PemFiles} without the two packages depending on each other.
     */
    public static ReloadingTls open(Path certChain, Path privateKey, Path grpcClientCa)
            throws IOException, GeneralSecurityException {
        return certChain == null ? null : new ReloadingTls(new PemPaths(certChain, privateKey, grpcClientCa));
    }

    /** The context of the HTTP port: server certificate only. */
    public SslContext httpContext() {
        return http;
    }

    /** The context of the gRPC port: HTTP/2 with ALPN, client certificates when configured. */
    public SslContext grpcContext() {
        return grpc;
    }

    /** Whether the gRPC port asks for client certificates. */
    public boolean requiresGrpcClientCertificates() {
        return files.grpcClientCa() != null;
    }

    /** The certificate new handshakes present. */
    public X509Certificate certificate() {
        reloadIfChanged();
        return current.leaf();
    }

    /** At most once a second: stat the files and load them again if they changed. */
    void reloadIfChanged() {
        long now = System.nanoTime();
        long last = lastCheck.get();
        if (now - last < CHECK_INTERVAL_NANOS || !lastCheck.compareAndSet(last, now)) {
            return;
        }
        List<Object> stamp;
        try {
            stamp = stamp(files);
        } catch (IOException e) {
            warnOnce(List.of(e.toString()), e);
            return;
        }
        Material m = current;
        if (stamp.equals(m.stamp()) || stamp.equals(failedStamp)) {
            return;
        }
        try {
            Material next = load(files, stamp, m.generation() + 1);
            previous = m;
            current = next;
            failedStamp = null;
            log.info("TLS files changed: new connections use certificate {}", describe(next.leaf()));
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            warnOnce(stamp, e);
        }
    }

    private void warnOnce(List<Object> stamp, Exception e) {
        if (!stamp.equals(failedStamp)) {
            failedStamp = stamp;
            log.warn("TLS files changed but do not load ({}); still using certificate {}", e.getMessage(),
                    describe(current.leaf()));
        }
    }

    private static Material load(PemPaths files, List<Object> stamp, int generation)
            throws IOException, GeneralSecurityException {
        List<X509Certificate> chain = PemFiles.certificates(files.certChain());
        PrivateKey key = PemFiles.privateKey(files.privateKey());
        if (!PemFiles.matches(key, chain.get(0))) {
            throw new GeneralSecurityException("the key in " + files.privateKey() + " is not the one of the"
                    + " certificate in " + files.certChain());
        }
        KeyStore identity = KeyStore.getInstance("PKCS12");
        identity.load(null, null);
        identity.setKeyEntry("server", key, NO_PASSWORD, chain.toArray(new X509Certificate[0]));
        KeyManagerFactory kmf = KeyManagerFactory.getInstance("NewSunX509");
        kmf.init(identity, NO_PASSWORD);
        X509ExtendedKeyManager keys = (X509ExtendedKeyManager) kmf.getKeyManagers()[0];

        X509ExtendedTrustManager trust = null;
        if (files.grpcClientCa() != null) {
            KeyStore cas = KeyStore.getInstance("PKCS12");
            cas.load(null, null);
            int i = 0;
            for (X509Certificate ca : PemFiles.certificates(files.grpcClientCa())) {
                cas.setCertificateEntry("ca-" + i++, ca);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(cas);
            for (TrustManager tm : tmf.getTrustManagers()) {
                if (tm instanceof X509ExtendedTrustManager x) {
                    trust = x;
                }
            }
        }
        return new Material(generation, stamp, keys, trust, chain.get(0));
    }

    /** What tells a changed file: modification time, size and identity (inode), of each file. */
    private static List<Object> stamp(PemPaths files) throws IOException {
        List<Object> out = new ArrayList<>();
        for (Path p : new Path[] {files.certChain(), files.privateKey(), files.grpcClientCa()}) {
            if (p != null) {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                out.add(a.lastModifiedTime());
                out.add(a.size());
                out.add(Objects.toString(a.fileKey()));
            }
        }
        return out;
    }

    private static String describe(X509Certificate c) {
        return "'" + c.getSubjectX500Principal().getName() + "' (serial " + c.getSerialNumber().toString(16)
                + ", valid until " + c.getNotAfter().toInstant() + ")";
    }

    /** Aliases carry the generation ("3:alias") so that a handshake finds the material it chose. */
    private final class Keys extends X509ExtendedKeyManager {
        private String tag(Material m, String alias) {
            return alias == null ? null : m.generation() + ":" + alias;
        }

        private Material of(String alias) {
            Material m = current;
            Material p = previous;
            String generation = alias.substring(0, Math.max(0, alias.indexOf(':')));
            if (generation.equals(Integer.toString(m.generation()))) {
                return m;
            }
            return generation.equals(Integer.toString(p.generation())) ? p : null;
        }

        private String untag(String alias) {
            return alias.substring(alias.indexOf(':') + 1);
        }

        @Override
        public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
            reloadIfChanged();
            Material m = current;
            return tag(m, m.keys().chooseEngineServerAlias(keyType, issuers, engine));
        }

        @Override
        public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
            reloadIfChanged();
            Material m = current;
            return tag(m, m.keys().chooseServerAlias(keyType, issuers, socket));
        }

        @Override
        public String[] getServerAliases(String keyType, Principal[] issuers) {
            Material m = current;
            String[] aliases = m.keys().getServerAliases(keyType, issuers);
            if (aliases == null) {
                return null;
            }
            String[] out = new String[aliases.length];
            for (int i = 0; i < aliases.length; i++) {
                out[i] = tag(m, aliases[i]);
            }
            return out;
        }

        @Override
        public X509Certificate[] getCertificateChain(String alias) {
            Material m = alias == null ? null : of(alias);
            return m == null ? null : m.keys().getCertificateChain(untag(alias));
        }

        @Override
        public PrivateKey getPrivateKey(String alias) {
            Material m = alias == null ? null : of(alias);
            return m == null ? null : m.keys().getPrivateKey(untag(alias));
        }

        @Override
        public String[] getClientAliases(String keyType, Principal[] issuers) {
            return null;
        }

        @Override
        public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
            return null;
        }
    }

    /** Client certificates on gRPC: checked against the newest CA file. */
    private final class ClientTrust extends X509ExtendedTrustManager {
        private X509ExtendedTrustManager trust() {
            return current.clientTrust();
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            trust().checkClientTrusted(chain, authType, socket);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            trust().checkClientTrusted(chain, authType, engine);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            trust().checkClientTrusted(chain, authType);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            throw new CertificateException("a server does not check server certificates");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            throw new CertificateException("a server does not check server certificates");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("a server does not check server certificates");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return trust().getAcceptedIssuers();
        }
    }
}
