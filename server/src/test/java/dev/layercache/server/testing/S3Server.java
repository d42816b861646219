package dev.layercache.server.testing;

import dev.layercache.server.storage.S3ObjectStore;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.gaul.s3proxy.nio2blob.FilesystemNio2BlobStore;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/**
 * An S3-compatible server in this JVM for tests (s3proxy), on 127.0.0.1, keeping its objects in
 * files of a fresh temporary folder, with fixed credentials and one bucket, {@link #BUCKET}.
 * {@link #stop} and {@link #start} again simulate an outage of the bucket: the server comes back
 * on the same port with the same objects. Register as a static field with
 * {@code @RegisterExtension} for one server per class, or start and close it by hand.
 */
public final class S3Server implements BeforeAllCallback, AfterAllCallback, AutoCloseable {
    public static final String BUCKET = "layercache-test";
    public static final String REGION = "us-east-1";
    private static final String ACCESS_KEY = "layercache-access";
    private static final String SECRET_KEY = "layercache-secret-0123456789";

    static {
        // s3proxy and its Jetty say every start and stop at INFO; read before their loggers exist.
        System.setProperty("org.slf4j.simpleLogger.log.org.gaul", "warn");
    }

    private int port;
    private Path dataDir;
    private S3Proxy proxy;

    /** A server on a free port. */
    public S3Server() {
        this(0);
    }

    /** A server on {@code port} (0: a free one, kept across {@link #stop} and {@link #start}). */
    public S3Server(int port) {
        this.port = port;
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        start();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        close();
    }

    /** Starts the server: the first time in a new folder with an empty bucket, later on the same port and data. */
    public synchronized void start() throws Exception {
        if (proxy != null) {
            return;
        }
        boolean first = dataDir == null;
        if (first) {
            dataDir = Files.createTempDirectory("layercache-s3");
        }
        FilesystemNio2BlobStore blobs = new FilesystemNio2BlobStore(dataDir.toString());
        if (first) {
            blobs.createContainer(BUCKET);
        }
        S3Proxy started = S3Proxy.builder()
                .blobStore(blobs)
                .endpoint(URI.create("http://127.0.0.1:" + port))
                .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY)
                .build();
        started.start();
        while (!"STARTED".equals(started.getState())) {
            Thread.sleep(10);
        }
        port = started.getPort();
        proxy = started;
    }

    /** Stops the server, keeping its port and objects for {@link #start}: requests now find nobody. */
    public synchronized void stop() {
        if (proxy != null) {
            try {
                proxy.stop();
            } catch (Exception e) {
                throw new IllegalStateException("s3proxy did not stop", e);
            } finally {
                proxy = null;
            }
        }
    }

    @Override
    public synchronized void close() {
        stop();
        if (dataDir != null) {
            TestServer.deleteRecursively(dataDir);
            dataDir = null;
        }
    }

    public int port() {
        return port;
    }

    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + port);
    }

    public String accessKey() {
        return ACCESS_KEY;
    }

    public String secretKey() {
        return SECRET_KEY;
    }

    /** The folder of the bucket's objects, to look behind the server's back. */
    public Path dataDir() {
        return dataDir;
    }

    /** Settings of a store on {@link #BUCKET} under {@code prefix} (path-style, static credentials). */
    public S3ObjectStore.Settings settings(String prefix) {
        return new S3ObjectStore.Settings(endpoint(), REGION, BUCKET, prefix, true,
                StaticCredentialsProvider.create(AwsBasicCredentials.create(ACCESS_KEY, SECRET_KEY)));
    }

    /** What a node in another process needs in its environment to reach this server's bucket. */
    public Map<String, String> environment() {
        return Map.of("AWS_ACCESS_KEY_ID", ACCESS_KEY, "AWS_SECRET_ACCESS_KEY", SECRET_KEY, "AWS_REGION", REGION);
    }
}
