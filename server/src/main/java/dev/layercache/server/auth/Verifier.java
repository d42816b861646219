package dev.layercache.server.auth;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs the bcrypt checks of {@link Credentials#verify} away from the thread that asks, and bounds
 * what bad credentials can cost the node:
 *
 * <ul>
 *   <li>The checks run on a pool of their own, half the cores (at least one thread) with a short
 *       queue: a flood of guesses takes at most that share of the CPU, never an event loop, and
 *       never a thread that serves requests while it waits.
 *   <li>One check per user and password at a time: requests with the same credentials (a CI job's
 *       first parallel pulls) wait for the same answer. Once answered, right or wrong,
 *       {@link Credentials} remembers it, so repeating a wrong password costs no further check.
 *   <li>Each client address (an IPv6 client's /64) has a budget of checks: {@code burst} at once,
 *       then {@code refillPerSecond}. A check that succeeds gives its share back, so only wrong
 *       guesses spend it. Past it the answer is {@code 429} with {@code Retry-After}, at once and
 *       whatever the user name, so it tells nothing about which names exist.
 * </ul>
 *
 * <p>A client that shares its address with an attacker (behind one NAT) and whose credentials
 * were never checked may be told to retry while the budget is spent; credentials checked before
 * are answered from memory and never wait.
 */
final class Verifier {
    /** Wrong guesses a client address may have checked at once... */
    static final int BURST = 10;
    /** ...and then per second: one every two seconds. */
    static final double REFILL_PER_SECOND = 0.5;
    /** Checks waiting for a thread, node-wide, beyond which the answer is 429 too. */
    static final int QUEUE = 64;
    private static final int REMEMBERED_CLIENTS = 100_000;

    private final Credentials credentials;
    private final ThreadPoolExecutor pool;
    private final int burst;
    private final double refillPerSecond;
    private final Map<String, CompletableFuture<Identity>> inProgress = new ConcurrentHashMap<>();
    private final Map<String, Budget> budgets = new ConcurrentHashMap<>();

    Verifier(Credentials credentials) {
        this(credentials, Math.max(1, Runtime.getRuntime().availableProcessors() / 2), QUEUE, BURST,
                REFILL_PER_SECOND);
    }

    Verifier(Credentials credentials, int threads, int queue, int burst, double refillPerSecond) {
        this.credentials = credentials;
        this.burst = burst;
        this.refillPerSecond = refillPerSecond;
        AtomicInteger n = new AtomicInteger();
        pool = new ThreadPoolExecutor(threads, threads, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(queue), r -> {
            Thread t = new Thread(r, "layercache-auth-" + n.incrementAndGet());
            t.setDaemon(true); // nothing to finish at shutdown: a check in progress is only an answer
            return t;
        });
        pool.allowCoreThreadTimeOut(true);
    }

    /**
     * The identity behind {@code claim}, completed on the pool; fails with UNAUTHORIZED for wrong
     * credentials, TOO_MANY_REQUESTS when {@code client} (null: unknown) has spent its budget or
     * the node has too many checks waiting.
     */
    CompletableFuture<Identity> verify(Credentials.Unverified claim, InetAddress client) {
        CompletableFuture<Identity> running = inProgress.get(claim.key());
        if (running != null) {
            return running;
        }
        Budget budget = budget(client);
        if (!budget.tryTake()) {
            return CompletableFuture.failedFuture(new RegistryException(ErrorCode.TOO_MANY_REQUESTS,
                    "too many failed authentications from this address", retryAfterSeconds()));
        }
        CompletableFuture<Identity> result = new CompletableFuture<>();
        running = inProgress.putIfAbsent(claim.key(), result);
        if (running != null) {
            budget.giveBack();
            return running;
        }
        try {
            pool.execute(() -> {
                try {
                    Identity id = credentials.verify(claim);
                    budget.giveBack();
                    result.complete(id);
                } catch (Credentials.Invalid e) {
                    result.completeExceptionally(new RegistryException(ErrorCode.UNAUTHORIZED,
                            "authentication failed: " + e.getMessage()));
                } catch (RuntimeException | Error e) {
                    budget.giveBack();
                    result.completeExceptionally(e);
                } finally {
                    inProgress.remove(claim.key(), result);
                }
            });
        } catch (RejectedExecutionException full) {
            inProgress.remove(claim.key(), result);
            budget.giveBack();
            result.completeExceptionally(new RegistryException(ErrorCode.TOO_MANY_REQUESTS,
                    "too many authentications in progress", retryAfterSeconds()));
        }
        return result;
    }

    private long retryAfterSeconds() {
        return refillPerSecond <= 0 ? 60 : Math.max(1, (long) Math.ceil(1 / refillPerSecond));
    }

    private Budget budget(InetAddress client) {
        if (budgets.size() > REMEMBERED_CLIENTS) {
            budgets.clear(); // only a flood of addresses gets here; each then starts with a full budget
        }
        return budgets.computeIfAbsent(clientKey(client), k -> new Budget(burst, refillPerSecond));
    }

    /** An IPv4 address, or an IPv6 address's /64 (what one host or site is usually given). */
    static String clientKey(InetAddress client) {
        if (client == null) {
            return "unknown";
        }
        if (client instanceof Inet6Address v6 && !v6.isLoopbackAddress()) {
            byte[] a = v6.getAddress();
            return HexFormat.of().formatHex(a, 0, 8) + "::/64";
        }
        return client.getHostAddress();
    }

    /** A token bucket of checks, starting full. */
    private static final class Budget {
        private final double capacity;
        private final double rate;
        private double tokens;
        private long lastNanos = System.nanoTime();

        Budget(int capacity, double rate) {
            this.capacity = capacity;
            this.rate = rate;
            this.tokens = capacity;
        }

        synchronized boolean tryTake() {
            long now = System.nanoTime();
            tokens = Math.min(capacity, tokens + (now - lastNanos) / 1e9 * rate);
            lastNanos = now;
            if (tokens < 1) {
                return false;
            }
            tokens -= 1;
            return true;
        }

        synchronized void giveBack() {
            tokens = Math.min(capacity, tokens + 1);
        }
    }
}
