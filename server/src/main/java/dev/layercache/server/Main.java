package dev.layercache.server;

import dev.layercache.server.config.ConfigException;
import dev.layercache.server.config.ConfigLoader;
import dev.layercache.server.config.ServerConfig;
import java.util.concurrent.CountDownLatch;
import org.slf4j.bridge.SLF4JBridgeHandler;

/** {@code java -jar layercache-server.jar [flags]}: runs a node until SIGTERM or SIGINT. */
public final class Main {
    /** Exit code for an invalid configuration. */
    static final int EXIT_CONFIG = 2;

    private Main() {
    }

    /**
     * The size of the JDK HTTP client's read buffers, which the mirror's upstream fetches go
     * through: 128 KiB instead of its 16 KiB cut a cold pull through the mirror from 0.33 to
     * 0.25 s and 3.8 to 3.2 CPU-s per GiB (BENCHMARKS.md, "Pull-through mirror"). Read once, when
     * the client's classes load: set before anything uses them, unless the user set it.
     */
    static final String HTTP_CLIENT_BUFFER = "131072";

    public static void main(String[] args) {
        if (System.getProperty("jdk.httpclient.bufsize") == null) {
            System.setProperty("jdk.httpclient.bufsize", HTTP_CLIENT_BUFFER);
        }
        SLF4JBridgeHandler.removeHandlersForRootLogger();
        SLF4JBridgeHandler.install();
        ServerConfig config;
        try {
            config = ConfigLoader.load(args, System.getenv());
        } catch (ConfigLoader.HelpRequested h) {
            System.out.print(ConfigLoader.usage());
            return;
        } catch (ConfigException e) {
            System.err.println("layercache: " + e.getMessage());
            System.exit(EXIT_CONFIG);
            return;
        }
        HeapPolicy.apply();
        LayerCacheServer server;
        try {
            server = LayerCacheServer.start(config);
        } catch (Exception e) {
            System.err.println("layercache: cannot start: " + e.getMessage());
            System.exit(1);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "layercache-shutdown"));
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
