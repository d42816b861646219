package dev.layercache.deploy;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.testcontainers.containers.ContainerLaunchException;
import org.testcontainers.containers.wait.strategy.AbstractWaitStrategy;

/**
 * Started means {@code GET http://127.0.0.1:PORT/readyz} answers 200. Testcontainers' HTTP wait
 * asks a mapped port, and containers on the host network (the only kind the daemon here runs
 * with ports) have none.
 */
final class ReadyzWaitStrategy extends AbstractWaitStrategy {
    private final int port;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    ReadyzWaitStrategy(int port) {
        this.port = port;
    }

    @Override
    protected void waitUntilReady() {
        URI uri = URI.create("http://127.0.0.1:" + port + "/readyz");
        long deadline = System.nanoTime() + startupTimeout.toNanos();
        String last = "no answer yet";
        while (System.nanoTime() < deadline) {
            if (!waitStrategyTarget.isRunning()) {
                throw new ContainerLaunchException("the container stopped before " + uri + " answered 200:\n"
                        + waitStrategyTarget.getLogs());
            }
            try {
                HttpResponse<Void> response = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.discarding());
                if (response.statusCode() == 200) {
                    return;
                }
                last = "status " + response.statusCode();
            } catch (IOException e) {
                last = e.toString();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ContainerLaunchException("interrupted waiting for " + uri, e);
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ContainerLaunchException("interrupted waiting for " + uri, e);
            }
        }
        throw new ContainerLaunchException(uri + " did not answer 200 within " + startupTimeout + " (last: " + last
                + "):\n" + waitStrategyTarget.getLogs());
    }
}
