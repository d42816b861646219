package dev.layercache.server.concurrent;

import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * Runs tasks in submission order on a shared pool, never two at once: the tasks of one request,
 * or the disk writes of one upload, keep their order without a thread of their own. A task may
 * also hold the ones after it until something finishes elsewhere ({@link #submitAwaiting}),
 * still without a thread waiting.
 */
public final class SerialQueue {
    private final Executor executor;
    /** {@link Runnable}s and {@link Awaiting}s. */
    private final Queue<Object> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean running = new AtomicBoolean();

    /** A task whose stage the tasks after it wait for. */
    private record Awaiting(Supplier<? extends CompletionStage<?>> start) {
    }

    public SerialQueue(Executor executor) {
        this.executor = executor;
    }

    public void submit(Runnable task) {
        tasks.add(task);
        schedule();
    }

    /**
     * Adds {@code task} in order, like {@link #submit}, without starting the queue: the caller
     * adds what else it has at hand, then calls {@link #start} once, so that tasks that arrive
     * together cost one hand-off to the pool, not one each. A task added and never started runs
     * only when something later starts the queue.
     */
    public void add(Runnable task) {
        tasks.add(task);
    }

    /** {@link #submitAwaiting}, without starting the queue (see {@link #add}). */
    public void addAwaiting(Supplier<? extends CompletionStage<?>> start) {
        tasks.add(new Awaiting(start));
    }

    /** Runs the tasks added with {@link #add}, unless the queue is running already (it takes them up then). */
    public void start() {
        schedule();
    }

    /**
     * Runs {@code start} in order, like {@link #submit}; the tasks after it run only once the
     * stage it returns has completed (normally or not: the stage's own callbacks say what it
     * means for them). Nothing blocks meanwhile: the queue takes up again on the pool.
     */
    public void submitAwaiting(Supplier<? extends CompletionStage<?>> start) {
        tasks.add(new Awaiting(start));
        schedule();
    }

    private void schedule() {
        if (!tasks.isEmpty() && running.compareAndSet(false, true)) {
            executor.execute(this::drain);
        }
    }

    private void drain() {
        boolean waiting = false;
        try {
            Object task;
            while ((task = tasks.poll()) != null) {
                if (task instanceof Awaiting awaiting) {
                    CompletableFuture<?> stage = awaiting.start().get().toCompletableFuture();
                    if (!stage.isDone()) {
                        // Still "running": submissions queue up behind it until the stage completes.
                        waiting = true;
                        stage.whenComplete((result, failure) -> executor.execute(this::drain));
                        return;
                    }
                } else {
                    ((Runnable) task).run();
                }
            }
        } finally {
            if (!waiting) {
                running.set(false);
                schedule();
            }
        }
    }
}
