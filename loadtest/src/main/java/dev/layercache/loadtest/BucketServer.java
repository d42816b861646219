package dev.layercache.loadtest;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.gaul.s3proxy.nio2blob.FilesystemNio2BlobStore;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code s3-server}: the S3-compatible server of the cluster benchmark, as a process of its own:
 * s3proxy (the server the server's tests run in their JVM, {@code testing.S3Server}) on its
 * filesystem store, one bucket, fixed credentials, and s3proxy's own Prometheus counters of the
 * requests it served by S3 operation ({@code http_server_request_duration_seconds_count} with
 * {@code s3_operation}) on a second port: the bucket's side of "requests per build", counted by
 * the server that answered them rather than by the nodes that asked.
 *
 * <p>Runs until it is killed. The credentials are the benchmark's own, not secrets: the server
 * listens on 127.0.0.1 only.
 */
@Command(name = "s3-server", mixinStandardHelpOptions = true,
        description = "An S3-compatible server (s3proxy, filesystem store) with request counters, for cluster-bench.sh")
final class BucketServer implements Callable<Integer> {
    static final String ACCESS_KEY = "layercache-bench";
    static final String SECRET_KEY = "layercache-bench-secret";

    static {
        // s3proxy and its Jetty say every start and stop at INFO; read before their loggers exist.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }

    @Option(names = "--dir", required = true, description = "folder of the bucket's objects (made if missing)")
    Path dir;

    @Option(names = "--port", required = true, description = "S3 port on 127.0.0.1")
    int port;

    @Option(names = "--metrics-port", required = true, description = "port of the request counters (GET /metrics)")
    int metricsPort;

    @Option(names = "--bucket", defaultValue = "layercache-bench", description = "the bucket made at start (default: ${DEFAULT-VALUE})")
    String bucket;

    @Override
    public Integer call() throws Exception {
        S3Proxy proxy = start(dir, bucket, port, metricsPort);
        System.out.printf("s3-server listening on %s, bucket %s, counters on http://127.0.0.1:%d/metrics%n",
                URI.create("http://127.0.0.1:" + proxy.getPort()), bucket, metricsPort);
        System.out.flush();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                proxy.stop();
            } catch (Exception e) {
                // stopping anyway
            }
        }));
        new CountDownLatch(1).await(); // until killed
        return 0;
    }

    /** Starts s3proxy on {@code port} with its counters on {@code metricsPort}, the bucket made; returns once it serves. */
    static S3Proxy start(Path dir, String bucket, int port, int metricsPort) throws Exception {
        Files.createDirectories(dir);
        FilesystemNio2BlobStore blobs = new FilesystemNio2BlobStore(dir.toString());
        if (!blobs.containerExists(bucket)) {
            blobs.createContainer(bucket);
        }
        S3Proxy proxy = S3Proxy.builder()
                .blobStore(blobs)
                .endpoint(URI.create("http://127.0.0.1:" + port))
                .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY)
                .metricsEnabled(true)
                .metricsHost("127.0.0.1")
                .metricsPort(metricsPort)
                .build();
        proxy.start();
        while (!"STARTED".equals(proxy.getState())) {
            Thread.sleep(10);
        }
        return proxy;
    }
}
