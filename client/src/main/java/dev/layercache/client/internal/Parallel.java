package dev.layercache.client.internal;

import dev.layercache.client.LayerCacheException;
import io.grpc.Status;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorCompletionService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/** Runs tasks on at most N threads of its own; the first failure cancels the rest and is thrown. */
public final class Parallel {
    private static final AtomicInteger POOLS = new AtomicInteger();

    private Parallel() {
    }

    /** A task that may fail with an I/O error. */
    @FunctionalInterface
    public interface Task<T> {
        T run() throws IOException;
    }

    public static <T> List<T> run(List<Task<T>> tasks, int parallelism) throws IOException {
        if (tasks.isEmpty()) {
            return List.of();
        }
        if (tasks.size() == 1 || parallelism == 1) {
            List<T> results = new ArrayList<>(tasks.size());
            for (Task<T> t : tasks) {
                results.add(t.run());
            }
            return results;
        }
        int pool = POOLS.incrementAndGet();
        AtomicInteger threads = new AtomicInteger();
        ExecutorService executor = Executors.newFixedThreadPool(Math.min(parallelism, tasks.size()), r -> {
            Thread t = new Thread(r, "layercache-transfer-" + pool + "-" + threads.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        try {
            ExecutorCompletionService<T> completion = new ExecutorCompletionService<>(executor);
            List<Future<T>> futures = new ArrayList<>(tasks.size());
            for (Task<T> t : tasks) {
                futures.add(completion.submit(() -> {
                    try {
                        return t.run();
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }));
            }
            for (int i = 0; i < tasks.size(); i++) {
                try {
                    completion.take().get();
                } catch (ExecutionException e) {
                    executor.shutdownNow();
                    Throwable cause = e.getCause();
                    if (cause instanceof UncheckedIOException u) {
                        throw u.getCause();
                    }
                    if (cause instanceof RuntimeException r) {
                        throw r;
                    }
                    if (cause instanceof Error err) {
                        throw err;
                    }
                    throw new IOException(cause);
                }
            }
            List<T> results = new ArrayList<>(tasks.size());
            for (Future<T> f : futures) {
                results.add(f.get());
            }
            return results;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LayerCacheException(Status.Code.CANCELLED, "interrupted", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e);
        } finally {
            executor.shutdownNow();
        }
    }
}
