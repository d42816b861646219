package dev.layercache.server.threads;

import at.favre.lib.crypto.bcrypt.BCrypt;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.storage.FileObjectStore;
import dev.layercache.server.storage.ObjectStore;
import dev.layercache.server.storage.S3ObjectStore;
import java.lang.invoke.MethodType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;
import reactor.blockhound.BlockHound;

/**
 * BlockHound, installed once in this JVM, recording every blocking call made on a thread that
 * must not block: Netty's event loops, as Netty's own BlockHound integration (in netty-common,
 * found by BlockHound's service loader) names them. Recorded rather than thrown: an error thrown
 * on an event loop would be logged and swallowed by Netty (or turn into a closed connection),
 * while a record is there for the test to assert on.
 *
 * <p>Blocking, besides what BlockHound knows of the JDK (sleeping, parking, waiting, file and
 * socket streams): a bcrypt check (pure CPU, but tens of milliseconds of it), every read and
 * write of the metadata store, and every call to the bucket (disk or network, seconds in a bad
 * moment). They are marked on the implementations the node runs on.
 *
 * <p>BlockHound instruments JDK classes for the rest of the JVM's life and needs
 * {@code -XX:+AllowRedefinitionToAddDeleteMethods} on Java 13+: tests that use this class are
 * tagged {@code blockhound} and run in a JVM of their own (see server/pom.xml).
 */
final class BlockingCalls {
    /** One blocking call: the method, the thread it ran on, and the stack that made it. */
    record Call(String method, String thread, String stack) {
        @Override
        public String toString() {
            return method + " on " + thread + "\n" + stack;
        }
    }

    private static final List<Call> CALLS = new CopyOnWriteArrayList<>();
    private static boolean installed;

    private BlockingCalls() {
    }

    static synchronized void install() {
        if (installed) {
            return;
        }
        BlockHound.install(builder -> {
            for (Method m : BCrypt.Verifyer.class.getDeclaredMethods()) {
                if (m.getName().startsWith("verify")) {
                    mark(builder, BCrypt.Verifyer.class, m);
                }
            }
            List<Class<?>> stores = new ArrayList<>(List.of(RocksKeyValueStore.class));
            stores.addAll(Arrays.stream(RocksKeyValueStore.class.getDeclaredClasses())
                    .filter(KeyValueStore.Batch.class::isAssignableFrom).toList());
            for (Class<?> store : stores) {
                markImplementations(builder, store, KeyValueStore.class, KeyValueStore.Batch.class);
            }
            for (Class<?> bucket : List.of(S3ObjectStore.class, FileObjectStore.class)) {
                markImplementations(builder, bucket, ObjectStore.class);
            }
            builder.blockingMethodCallback(method -> CALLS.add(new Call(method.toString(),
                    Thread.currentThread().getName(), stack())));
        });
        installed = true;
    }

    /** How many calls were recorded so far: give it to {@link #since} later. */
    static int mark() {
        return CALLS.size();
    }

    /** The calls recorded after {@code mark}. */
    static List<Call> since(int mark) {
        return List.copyOf(CALLS.subList(mark, CALLS.size()));
    }

    /** Marks the methods of {@code type} that implement an abstract method of one of {@code interfaces}. */
    private static void markImplementations(BlockHound.Builder builder, Class<?> type, Class<?>... interfaces) {
        for (Class<?> api : interfaces) {
            if (!api.isAssignableFrom(type)) {
                continue;
            }
            for (Method abstractMethod : api.getMethods()) {
                if (!Modifier.isAbstract(abstractMethod.getModifiers())) {
                    continue;
                }
                try {
                    Method m = type.getDeclaredMethod(abstractMethod.getName(), abstractMethod.getParameterTypes());
                    if (!m.getName().equals("close")) {
                        mark(builder, type, m);
                    }
                } catch (NoSuchMethodException inherited) {
                    // implemented higher up: nothing of this class to mark
                }
            }
        }
    }

    private static void mark(BlockHound.Builder builder, Class<?> type, Method m) {
        builder.markAsBlocking(type, m.getName(),
                MethodType.methodType(m.getReturnType(), m.getParameterTypes()).toMethodDescriptorString());
    }

    private static String stack() {
        return Arrays.stream(new Throwable().getStackTrace())
                .dropWhile(f -> f.getClassName().startsWith("reactor.blockhound")
                        || f.getClassName().equals(BlockingCalls.class.getName()))
                .limit(40)
                .map(f -> "    at " + f)
                .collect(Collectors.joining("\n"));
    }
}
