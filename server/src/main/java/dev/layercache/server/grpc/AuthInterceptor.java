package dev.layercache.server.grpc;

import dev.layercache.server.auth.AccessControl;
import dev.layercache.server.auth.Action;
import dev.layercache.server.auth.Identity;
import dev.layercache.server.core.RegistryException;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Access control on the gRPC surface: the {@code authorization} metadata (the same Basic or
 * Bearer credentials as on HTTP) names the caller, and each method needs an action, which
 * {@link Args#namespace} checks against the namespace of the request as it parses it, so no
 * service method can skip it. Wrong credentials end the call with {@code UNAUTHENTICATED} before
 * any message is read.
 *
 * <p>Threads: grpc-java runs this on the call's pool, never on an event loop. Credentials seen
 * before are answered there at once; new ones take a bcrypt check on the verification pool, and
 * meanwhile the call waits without a thread ({@link DeferredListener}), then starts on its own
 * pool again ({@link CallExecutors}).
 */
final class AuthInterceptor implements ServerInterceptor {
    static final Context.Key<Identity> IDENTITY = Context.key("layercache-identity");
    static final Context.Key<Action> ACTION = Context.key("layercache-action");
    static final Context.Key<AccessControl> CONTROL = Context.key("layercache-access");
    static final Context.Key<java.util.function.Predicate<String>> READ_ONLY = Context.key("layercache-read-only");
    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    /** The action each method of layercache.v1 needs; methods not listed (health, reflection) need none. */
    private static final Map<String, Action> ACTIONS = Map.ofEntries(
            Map.entry("layercache.v1.EntryCache/GetEntry", Action.READ),
            Map.entry("layercache.v1.EntryCache/BatchGetEntries", Action.READ),
            Map.entry("layercache.v1.EntryCache/ExplainBuild", Action.READ),
            Map.entry("layercache.v1.EntryCache/PutEntry", Action.WRITE),
            Map.entry("layercache.v1.EntryCache/DeleteEntry", Action.DELETE),
            Map.entry("layercache.v1.Blobs/FindMissingBlobs", Action.READ),
            Map.entry("layercache.v1.Blobs/StatBlob", Action.READ),
            Map.entry("layercache.v1.Blobs/ReadBlob", Action.READ),
            Map.entry("layercache.v1.Blobs/BatchReadBlobs", Action.READ),
            Map.entry("layercache.v1.Blobs/WriteBlob", Action.WRITE),
            Map.entry("layercache.v1.Blobs/QueryWriteStatus", Action.WRITE),
            Map.entry("layercache.v1.Blobs/BatchUpdateBlobs", Action.WRITE),
            Map.entry("layercache.v1.Manifests/GetManifest", Action.READ),
            Map.entry("layercache.v1.Manifests/PutManifest", Action.WRITE));

    private static final org.slf4j.Logger AUDIT = org.slf4j.LoggerFactory.getLogger("layercache.audit");

    private final AccessControl control;

    private final dev.layercache.server.auth.RateLimits rates;
    private final CallExecutors executors;
    /** Namespaces no call may write or delete in: the copies of mirrored registries (docs/mirror.md). */
    private final java.util.function.Predicate<String> readOnly;

    AuthInterceptor(AccessControl control, dev.layercache.server.auth.RateLimits rates, CallExecutors executors,
                    java.util.function.Predicate<String> readOnly) {
        this.control = control;
        this.rates = rates;
        this.executors = executors;
        this.readOnly = readOnly;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        java.net.SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        CompletableFuture<Identity> identity = control.authenticate(headers.get(AUTHORIZATION),
                remote instanceof InetSocketAddress a ? a.getAddress() : null);
        if (identity.isDone()) {
            return start(identity, call, headers, next);
        }
        Context context = Context.current();
        DeferredListener<Q> deferred = new DeferredListener<>();
        identity.whenComplete((who, failure) -> executors.of(call.getMethodDescriptor()).execute(
                () -> context.run(() -> deferred.start(() -> start(identity, call, headers, next)))));
        return deferred;
    }

    /** Starts the call once its identity is known, or ends it when refused. */
    private <Q, R> ServerCall.Listener<Q> start(CompletableFuture<Identity> identity, ServerCall<Q, R> call,
                                                Metadata headers, ServerCallHandler<Q, R> next) {
        Identity who;
        try {
            who = identity.join();
            if (call.getMethodDescriptor().getServiceName() != null
                    && call.getMethodDescriptor().getServiceName().startsWith("layercache.")) {
                rates.take(who);
            }
        } catch (RegistryException | CompletionException refusal) {
            Throwable cause = refusal instanceof CompletionException && refusal.getCause() != null
                    ? refusal.getCause() : refusal;
            StatusRuntimeException refused = GrpcErrors.toStatus(cause);
            call.close(refused.getStatus(), refused.getTrailers() == null ? new Metadata() : refused.getTrailers());
            return new ServerCall.Listener<>() { };
        }
        Action action = ACTIONS.get(call.getMethodDescriptor().getFullMethodName());
        if (!control.enabled()) {
            return Contexts.interceptCall(Context.current().withValue(IDENTITY, who).withValue(ACTION, action)
                    .withValue(READ_ONLY, readOnly), call, headers, next);
        }
        Context context = Context.current().withValue(IDENTITY, who).withValue(CONTROL, control)
                .withValue(ACTION, action).withValue(READ_ONLY, readOnly);
        ServerCall<Q, R> audited = action == Action.WRITE || action == Action.DELETE
                ? new io.grpc.ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                    @Override
                    public void close(Status status, Metadata trailers) {
                        AUDIT.info("identity={} {} status={}", who.name(),
                                call.getMethodDescriptor().getFullMethodName(), status.getCode());
                        super.close(status, trailers);
                    }
                }
                : call;
        return Contexts.interceptCall(context, audited, headers, next);
    }

    /**
     * Throws UNAUTHORIZED or DENIED unless the current call's identity may act in {@code namespace},
     * and UNSUPPORTED for a write or delete in a mirrored registry's namespace, which only the
     * mirror fills (as the OCI API refuses a push there).
     */
    static void check(String namespace) {
        AccessControl control = CONTROL.get();
        Action action = ACTION.get();
        if (control != null && action != null) {
            control.check(IDENTITY.get(), action, namespace);
        }
        java.util.function.Predicate<String> mirrored = READ_ONLY.get();
        if ((action == Action.WRITE || action == Action.DELETE) && mirrored != null && mirrored.test(namespace)) {
            throw new dev.layercache.server.core.RegistryException(dev.layercache.server.core.ErrorCode.UNSUPPORTED,
                    namespace + " is a mirror of an upstream registry: it is read-only here");
        }
    }
}
