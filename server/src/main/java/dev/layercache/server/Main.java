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

    public static void main(String[] args) {
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
